#!/usr/bin/env bash
# The release step on main: bump the version from the changesets, publish the image, commit and tag.
# Without changesets (a merge of docs or tests only) there is nothing to release and it says so.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! semversioner check >/dev/null 2>&1; then
  echo "release: no changeset in .changes/next-release, nothing to release"
  exit 0
fi

version=$(bash ci-scripts/bump-version.sh)
VERSION=$version bash ci-scripts/docker-release.sh
VERSION=$version bash ci-scripts/git-push.sh
echo "release: published $version"
