#!/usr/bin/env bash
# Release the pending changesets: new version in .changes/, CHANGELOG.md regenerated, and the version
# bumped in pipe.yml, README.md, docs/*.md and the Dockerfile's VERSION default (the image's version label).
# In pipe.yml and the Markdown files only "<image name>:<previous version>" (the image, as in docker://...)
# and "<workspace>/<repository>:<previous version>" (the pipe as Bitbucket resolves it, from pipe.yml's
# repository URL) are replaced, so other pipes' versions and unrelated X.Y.Z strings stay as they are.
# Prints the new version on stdout.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { echo "bump-version: $*" >&2; }

# semversioner's own `release` exits 0 when there is nothing to release; fail loudly instead.
if ! semversioner check >/dev/null 2>&1; then
  log "no changeset in .changes/next-release (add one with: semversioner add-change ...)"
  exit 1
fi

# The image name (without tag) exactly as pipe.yml's image line has it, e.g. octopuspack/octopus-pack.
image=$(sed -n 's/^image:[[:space:]]*\([^[:space:]]*\):[0-9][0-9.]*[[:space:]]*$/\1/p' pipe.yml)
if [ -z "$image" ]; then
  log "pipe.yml has no 'image: <name>:X.Y.Z' line"
  exit 1
fi

# The pipe reference users write, <workspace>/<repository>, from pipe.yml's repository URL.
pipe_ref=$(sed -n 's|^repository:[[:space:]]*https\{0,1\}://[^/]*/\([^/[:space:]]*/[^/[:space:]]*\)[[:space:]]*$|\1|p' pipe.yml)
if [ -z "$pipe_ref" ]; then
  log "pipe.yml has no 'repository: https://<host>/<workspace>/<repository>' line"
  exit 1
fi

previous=$(semversioner current-version)
if ! grep -qxE "image:[[:space:]]*${image//./\\.}:${previous//./\\.}[[:space:]]*" pipe.yml; then
  log "pipe.yml's image does not carry the current version $previous; was it edited by hand?"
  exit 1
fi

if ! grep -qx "ARG VERSION=${previous//./\\.}" Dockerfile; then
  log "Dockerfile's 'ARG VERSION=' is not the current version $previous; was it edited by hand?"
  exit 1
fi

semversioner release >&2
new=$(semversioner current-version)
semversioner changelog --template ci-scripts/changelog.md.j2 >CHANGELOG.md

# \Q..\E takes the old reference literally; the lookarounds keep it from matching inside a longer
# name (my-octopuspack/...) or version (1.2.30, 1.2.3.4, 1.2.3-beta); docker:// prefixes still match.
for file in pipe.yml README.md docs/*.md; do
  [ -f "$file" ] || continue
  for name in "$image" "$pipe_ref"; do
    OLD="${name}:${previous}" NEW="${name}:${new}" \
      perl -pi -e 's/(?<![A-Za-z0-9_.-])\Q$ENV{OLD}\E(?![0-9A-Za-z+-]|\.[0-9])/$ENV{NEW}/g' "$file"
  done
done

# The image's version label when someone builds it without --build-arg VERSION (a local docker build).
sed -i "s/^ARG VERSION=${previous//./\\.}\$/ARG VERSION=${new}/" Dockerfile

log "released $previous -> $new"
echo "$new"
