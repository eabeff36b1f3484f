"""The packing engine: select files, write the zip or nupkg, compress, hash."""
