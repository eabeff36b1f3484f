#!/usr/bin/env bash
# Commit the files bump-version.sh changed, push them to the branch being built and tag the release.
# The commit message ends in [skip ci] so the push does not start another pipeline.
set -euo pipefail

cd "$(dirname "$0")/.."

version=${VERSION:-$(sed -n 's/^image:[[:space:]]*[^[:space:]]*:\([0-9][0-9.]*\)[[:space:]]*$/\1/p' pipe.yml)}
branch=${BITBUCKET_BRANCH:-$(git rev-parse --abbrev-ref HEAD)}
if [ -z "$version" ]; then
  echo "git-push: no X.Y.Z version in pipe.yml's image line" >&2
  exit 1
fi

# An identity only where the clone has none (Bitbucket Pipelines configures one).
identity=()
git config user.email >/dev/null || identity+=(-c "user.email=release@octopus-pack.invalid")
git config user.name >/dev/null || identity+=(-c "user.name=octopus-pack release")

files=(.changes CHANGELOG.md pipe.yml Dockerfile)
[ ! -f README.md ] || files+=(README.md)
[ ! -d docs ] || files+=(docs)
git add --all -- "${files[@]}"
git "${identity[@]}" commit --quiet -m "Update files for new version '${version}' [skip ci]"
git push origin "HEAD:refs/heads/${branch}"
git "${identity[@]}" tag --annotate --message "Release ${version}" "${version}"
git push origin "refs/tags/${version}"
