"""octopus-pack: build Octopus Deploy packages (zip, nupkg) and push them, without .NET."""
