#!/usr/bin/env bash
# Publish the unreleased changes as a dev image, X.Y.Z-dev.<build number>, where X.Y.Z is the version the
# pending changesets would release. Nothing is committed or tagged, and `latest` is not moved.
# Where the image goes is set by the same repository variables as a release (see docker-release.sh).
set -euo pipefail

cd "$(dirname "$0")/.."

: "${BITBUCKET_BUILD_NUMBER:?release-dev runs in Bitbucket Pipelines, which sets BITBUCKET_BUILD_NUMBER}"

if ! semversioner check >/dev/null 2>&1; then
  echo "release-dev: no changeset in .changes/next-release, nothing unreleased to publish"
  exit 0
fi
next=$(semversioner next-version)
version="${next}-dev.${BITBUCKET_BUILD_NUMBER}"
echo "release-dev: publishing $version" >&2
VERSION=$version PUSH_LATEST=false bash ci-scripts/docker-release.sh
echo "release-dev: published $version"
