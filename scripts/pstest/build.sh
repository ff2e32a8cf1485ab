#!/bin/sh
# Build Google's fake Pub/Sub server (pstest) from Debian packages, offline.
#   scripts/pstest/build.sh [output]   (default: build/pstest at the repo root)
# Installs golang-go and golang-google-cloud-dev with apt-get when missing (as root).
# Idempotent: does nothing when the binary is newer than main.go and this script.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/pstest}

if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ] && [ "$out" -nt "$here/build.sh" ]; then
    exit 0
fi

if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/cloud.google.com/go/pubsub/pstest ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "pstest: need golang-go and golang-google-cloud-dev; run as root or:" >&2
        echo "  apt-get install -y --no-install-recommends golang-go golang-google-cloud-dev" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends golang-go golang-google-cloud-dev \
        || { apt-get update && apt-get install -y --no-install-recommends golang-go golang-google-cloud-dev; }
fi

# GOPATH mode over Debian's source packages: no module proxy, no network.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/audioconv-pstest" "$(dirname "$out")"
cp "$here/main.go" "$work/src/audioconv-pstest/"
cd "$work/src/audioconv-pstest"
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOPROXY=off GOFLAGS= \
    GOCACHE="${GOCACHE:-$work/cache}" go build -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out"
