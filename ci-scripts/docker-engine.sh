#!/usr/bin/env bash
# Make a Docker engine and a base image available for the container tests (and the few Debian tools the tests
# use), then print the base image.
#
# Idempotent and quick when everything is already there. On our offline machines (no registry) it starts
# dockerd without a bridge network and builds a Debian base image with debootstrap; where an engine
# already answers (Bitbucket's docker service, a developer's Docker Desktop) it only picks the base image.
# Stdout carries exactly one line, the base image to build FROM; progress goes to stderr.
# apt, debootstrap and docker import run quietly: their output is shown only when they fail, and then the
# first line printed is the cause (e.g. "cannot apt-get install docker.io: E: Could not get lock ...").
#
# Environment:
#   OCTOPUS_PACK_BASE_IMAGE  use this base image as is (e.g. python:3.12-slim where a registry is reachable)
#   DOCKERD_LOG, DOCKERD_PIDFILE  where a dockerd started here logs and records its pid
set -euo pipefail

cd "$(dirname "$0")/.."

LOCAL_BASE=local/python-base:bookworm
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/octopus-pack-dockerd.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/tmp/octopus-pack-dockerd.pid}

log() { echo "docker-engine: $*" >&2; }

# step WHAT COMMAND...: run COMMAND with its output kept aside; on failure say "cannot WHAT: <cause>" first,
# then the end of the output. The cause is apt's or debootstrap's first "E:" line, else the last line.
step() {
  local what=$1 output status=0 cause
  shift
  output=$(mktemp /tmp/octopus-pack-step.XXXXXX)
  "$@" >"$output" 2>&1 </dev/null || status=$?
  if [ "$status" -eq 0 ]; then
    rm -f "$output"
    return 0
  fi
  cause=$(grep -m 1 '^E: ' "$output" || grep -v '^[[:space:]]*$' "$output" | tail -n 1 || true)
  log "cannot $what: ${cause:-it exited with status $status and printed nothing}"
  if [ -s "$output" ]; then
    log "the last lines it printed:"
    tail -n 15 "$output" | sed 's/^/    /' >&2
  fi
  rm -f "$output"
  return 1
}

# ensure_commands COMMAND:PACKAGE...: apt-get install the packages of missing commands only, so machines
# that have the tools some other way (a Mac, a prepared image) need neither root nor apt.
apt_updated=false
ensure_commands() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing ${missing[*]} and cannot install them (needs root and apt-get)"
    return 1
  fi
  if [ "$apt_updated" = false ]; then
    step "apt-get update" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    apt_updated=true
  fi
  step "apt-get install ${missing[*]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    || return 1
  log "installed ${missing[*]}"
}

start_engine() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  ensure_commands docker:docker.io dockerd:docker.io || return 1
  if [ -f "$DOCKERD_PIDFILE" ] && kill -0 "$(cat "$DOCKERD_PIDFILE")" 2>/dev/null; then
    log "dockerd (pid $(cat "$DOCKERD_PIDFILE")) is running but not answering yet"
  else
    # No bridge and no iptables rules: containers use the host network and nothing is exposed.
    # 9>&-: the daemon must not inherit (and so hold forever) this script's lock.
    nohup dockerd --bridge=none --iptables=false --ip-masq=false </dev/null >"$DOCKERD_LOG" 2>&1 9>&- &
    echo "$!" >"$DOCKERD_PIDFILE"
  fi
  local waited=0
  until docker info >/dev/null 2>&1; do
    if [ "$waited" -ge 60 ]; then
      log "cannot start dockerd: it did not answer within 60 s; it last logged: $(tail -n 1 "$DOCKERD_LOG" 2>/dev/null)"
      log "the last lines of $DOCKERD_LOG:"
      tail -n 15 "$DOCKERD_LOG" | sed 's/^/    /' >&2 || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "started dockerd (log in $DOCKERD_LOG), ready after ${waited} s"
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# The registry mirror this machine's apt already uses; read at run time, never written into the project.
debian_mirror() {
  local sources=/etc/apt/sources.list.d/debian.sources list=/etc/apt/sources.list mirror=""
  [ -f "$sources" ] && mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources")
  [ -z "$mirror" ] && [ -f "$list" ] && mirror=$(awk '$1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2); exit }' "$list")
  [ -n "$mirror" ] || { log "cannot build $LOCAL_BASE: neither $sources nor $list names a Debian mirror"; return 1; }
  echo "$mirror"
}

build_local_base() {
  ensure_commands debootstrap:debootstrap || return 1
  local mirror rootfs
  mirror=$(debian_mirror) || return 1
  rootfs=$(mktemp -d /tmp/octopus-pack-rootfs.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '$rootfs'" EXIT
  step "build $LOCAL_BASE with debootstrap" debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" || return 1
  # The host's bundle also trusts the HTTPS proxy in front of the package registries.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  step "docker import $LOCAL_BASE" bash -c 'tar -C "$1" -c . | docker import - "$2"' _ "$rootfs" "$LOCAL_BASE" \
    || return 1
  rm -rf "$rootfs"
  trap - EXIT
  log "built $LOCAL_BASE"
}

pick_base_image() {
  if [ -n "${OCTOPUS_PACK_BASE_IMAGE:-}" ]; then
    echo "$OCTOPUS_PACK_BASE_IMAGE"
    return 0
  fi
  local default_base
  default_base=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -n 1)
  if [ -n "$default_base" ] && image_present "$default_base"; then
    echo "$default_base"
    return 0
  fi
  image_present "$LOCAL_BASE" || build_local_base || return 1
  echo "$LOCAL_BASE"
}

# One run at a time per machine: two test sessions must not start two daemons or build the base twice.
exec 9>/tmp/octopus-pack-docker-engine.lock
if command -v flock >/dev/null; then flock 9; fi

# Real tools the tests use beside the engine: they compare packages with zip, unzip and 7z, read nupkgs with
# Mono's System.IO.Packaging and NuGet.Core (Debian's nuget brings both; mcs compiles the small reader), and
# push through a real proxy.
ensure_commands zip:zip unzip:unzip 7z:p7zip-full nuget:nuget mcs:mono-mcs tinyproxy:tinyproxy
# Today's NuGet (nuget.exe 5.8, NuGet.Packaging, what Octopus Server reads nupkgs with) runs on Mono's full
# libraries (csharp comes with mono-complete); npm brings the exe. Without npm its tests skip and say so.
ensure_commands csharp:mono-complete
NUGET_5=$HOME/.cache/octopus-pack/nuget-exe
if [ ! -f "$NUGET_5/node_modules/nuget-exe/nuget-5.8.0.exe" ] && command -v npm >/dev/null; then
  step "npm install nuget-exe@5.8.0" npm install --silent --no-audit --no-fund --prefix "$NUGET_5" nuget-exe@5.8.0 \
    && log "installed nuget.exe 5.8 in $NUGET_5"
fi
start_engine
base=$(pick_base_image)
# An engine can answer and still be unable to run containers (dockerd inside an unprivileged container).
step "run a container from $base" docker run --rm --network host "$base" true
echo "$base"
