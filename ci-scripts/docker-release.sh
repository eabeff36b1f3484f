#!/usr/bin/env bash
# Build the pipe's image and push it tagged X.Y.Z and latest. Where it goes is set by repository
# variables alone:
#   DOCKER_IMAGE        repository to push to; default: the name in pipe.yml's image line (Docker Hub).
#                       An AWS ECR repository: <account>.dkr.ecr.<region>.amazonaws.com/<repository>.
#   REGISTRY_USERNAME   } credentials for Docker Hub or any other registry except ECR
#   REGISTRY_PASSWORD   }
#   For ECR, the AWS CLI's own credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN
#   with `oidc: true` on the step. The region is read from the repository's host name.
#   VERSION             tag to push; default: the version in pipe.yml's image line (set by bump-version.sh).
#   PUSH_LATEST         'false' to push only X.Y.Z (e.g. to an ECR repository with immutable tags).
#   DOCKER_BUILD_PLATFORMS  platforms built with `docker buildx`; default linux/amd64,linux/arm64. Where
#                       buildx is missing, the engine's own platform alone is published, and the log says so.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { echo "docker-release: $*" >&2; }

pipe_image=$(sed -n 's/^image:[[:space:]]*\([^[:space:]]*\)[[:space:]]*$/\1/p' pipe.yml)
image=${DOCKER_IMAGE:-${pipe_image%:*}}
version=${VERSION:-${pipe_image##*:}}
if [ -z "$image" ] || [ -z "$version" ]; then
  log "cannot tell the image and version (pipe.yml's image line, DOCKER_IMAGE, VERSION)"
  exit 1
fi

# Docker's own rule: a first path component with a dot or a colon, or 'localhost', names the registry;
# without one the image lives on Docker Hub and `docker login` needs no server.
registry=""
first=${image%%/*}
if [ "$first" != "$image" ] && { [[ "$first" == *[.:]* ]] || [ "$first" = localhost ]; }; then
  registry=$first
fi

ecr_login() {
  local region=$1
  if ! command -v aws >/dev/null; then
    log "installing the AWS CLI"
    python3 -m pip install -q awscli
  fi
  # With `oidc: true` Bitbucket hands the step a web identity token; the AWS CLI assumes the role with it.
  if [ -n "${AWS_ROLE_ARN:-}" ] && [ -n "${BITBUCKET_STEP_OIDC_TOKEN:-}" ] \
    && [ -z "${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ]; then
    AWS_WEB_IDENTITY_TOKEN_FILE=$(mktemp)
    printf '%s' "$BITBUCKET_STEP_OIDC_TOKEN" >"$AWS_WEB_IDENTITY_TOKEN_FILE"
    export AWS_WEB_IDENTITY_TOKEN_FILE
  fi
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
}

if [[ "$registry" =~ ^[0-9]+\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$ ]]; then
  log "logging in to AWS ECR $registry"
  ecr_login "${BASH_REMATCH[1]}"
else
  : "${REGISTRY_USERNAME:?set the REGISTRY_USERNAME repository variable}"
  : "${REGISTRY_PASSWORD:?set the REGISTRY_PASSWORD repository variable (secured)}"
  log "logging in to ${registry:-Docker Hub} as $REGISTRY_USERNAME"
  # Through stdin, so the password never shows up in a process list or the build log.
  printf '%s' "$REGISTRY_PASSWORD" | docker login --username "$REGISTRY_USERNAME" --password-stdin ${registry:+"$registry"}
fi

tags=("$image:$version")
[ "${PUSH_LATEST:-true}" = false ] || tags+=("$image:latest")

build_args=(--build-arg "VERSION=$version")
for tag in "${tags[@]}"; do
  build_args+=(--tag "$tag")
done

platforms=${DOCKER_BUILD_PLATFORMS:-linux/amd64,linux/arm64}
if docker buildx version >/dev/null 2>&1; then
  # The default "docker" driver cannot build several platforms at once; a docker-container builder can.
  docker buildx inspect octopus-pack-release >/dev/null 2>&1 \
    || docker buildx create --name octopus-pack-release --driver docker-container >/dev/null
  log "building ${tags[*]} for $platforms with docker buildx"
  docker buildx build --builder octopus-pack-release --platform "$platforms" "${build_args[@]}" --push .
else
  engine_platform=$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}' 2>/dev/null) \
    || engine_platform="the engine's own platform"
  log "docker buildx is not available: publishing $engine_platform only, not $platforms"
  docker build "${build_args[@]}" .
  for tag in "${tags[@]}"; do
    docker push "$tag"
  done
fi
log "pushed ${tags[*]}"
