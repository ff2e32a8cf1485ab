#!/bin/sh
# System packages the test suite needs, from Debian: Go and Google's Cloud Go sources
# (to build the pstest Pub/Sub fake offline), Chromium (the web page's end-to-end
# tests drive it with Playwright; nothing downloads a browser), and podman with
# mmdebstrap (the container image is built from a local Debian base and smoke-tested:
# scripts/build_image.sh), and musepack-tools (mpcenc writes the Musepack files the
# engine tests read: ffmpeg decodes Musepack but cannot write it) and libjmac-java with
# a Java runtime (its encoder writes the Monkey's Audio files they read), loudgain (an
# independent ReplayGain 2.0 meter the gain tags are checked against), and npm (it
# installs axe-core, which the browser tests inject to check the page's accessibility;
# any npm will do, so one that came with another Node.js counts). apt-get only as root;
# idempotent.
set -eu
pkgs="chromium default-jre-headless golang-go golang-google-cloud-dev libjmac-java loudgain mmdebstrap musepack-tools podman"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages:$missing (run: sudo apt-get install$missing)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing \
    || { apt-get update && apt-get install -y --no-install-recommends $missing; }
