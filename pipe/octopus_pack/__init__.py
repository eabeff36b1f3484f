"""octopus-pack: build Octopus Deploy packages (zip, nupkg) and push them, without .NET.

The folders follow the data flow (test/test_layout.py keeps it so):
- config/: the only code that reads the environment; one table of the variables (config/variables.py); builds
  each stage's settings.
- pack/: the packing engine; owns PackRequest. Imports neither config/ nor octopus/.
- octopus/: the Octopus client; owns OctopusSettings and its credential, proxy and build types. Imports neither
  config/ nor pack/.
- octodiff/: the delta format the push sends.
- beside them, what several need: package_result, errors, masking (and Secret), progress, sizes, report,
  metadata.
"""
