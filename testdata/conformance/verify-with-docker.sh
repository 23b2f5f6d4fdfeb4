#!/usr/bin/env bash
# verify-with-docker.sh [CASE,CASE…]: builds every conformance case with
# docker (BuildKit) and checks the same `expect` files that
# tests/conformance.rs checks against strata, so the expectations say what
# BuildKit does. A manual tool: CI starts no dockerd. See README.md.
#
# Needs a running dockerd (DOCKER_HOST is honoured), busybox-static
# and cargo. DOCKER picks the docker client (default: docker).
set -euo pipefail
cd "$(dirname "$0")/../.."

docker=${DOCKER:-docker}
if ! "$docker" version >/dev/null 2>&1; then
    echo "error: cannot reach dockerd with $docker (start one: dockerd --iptables=false --bridge=none &)" >&2
    exit 1
fi

# The base image every case uses, from the same root filesystem as the
# tests' (Docker Hub is not needed).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sh testdata/rootfs/host-rootfs.sh "$tmp/rootfs"
tar -C "$tmp/rootfs" -c . | "$docker" import -c 'CMD ["sh"]' - busybox:latest >/dev/null

"$docker" version --format 'verifying with docker {{.Server.Version}} (API {{.Server.APIVersion}})'
export STRATA_CONFORMANCE_DOCKER=1 DOCKER="$docker"
if [ $# -gt 0 ]; then
    export CONFORMANCE_CASES=$1
fi
cargo test --test conformance -- --nocapture
