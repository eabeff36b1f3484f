#!/bin/sh
# Octopus runs this after extracting the package; it keeps its executable bit through the zip.
echo "Deploying random quotes"
