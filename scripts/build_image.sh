#!/bin/sh
# Build the audioconv image with podman, where no Docker engine runs and no image
# registry may be reachable (tests/e2e/test_image.py; DESIGN.md has the recipe).
#
#   scripts/build_image.sh [TAG [TARGET]]  (default localhost/audioconv:dev, the
#                                          Dockerfile's default target; `worker`:
#                                          the cloud worker's, as cloudbuild.yaml)
#
# The base is Debian bookworm (Python 3.11) made by mmdebstrap: its root file
# system is cached as build/image/base-rootfs.tar and imported once. podman keeps
# its own store under build/image/ (PODMAN_ROOT), so layers are reused between
# runs and nothing touches the machine's default store. Prints the image's id.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tag="${1:-localhost/audioconv:dev}"
target="${2:-}"
cache="$root/build/image"
base=localhost/audioconv-base:bookworm
podman_root="${PODMAN_ROOT:-$cache/storage}"
podman() { command podman --root "$podman_root" --runroot "$cache/run" "$@"; }

mkdir -p "$cache"
if ! podman image exists "$base"; then
  if [ ! -s "$cache/base-rootfs.tar" ]; then
    mmdebstrap --quiet --variant=minbase --format=tar \
      --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$cache/base-rootfs.tar.part" >&2
    mv "$cache/base-rootfs.tar.part" "$cache/base-rootfs.tar"
  fi
  # Debian's pip refuses the system site-packages without the first; the second
  # makes pip trust the CA bundle that build mounts from the host.
  podman import --quiet \
    --change "ENV PIP_BREAK_SYSTEM_PACKAGES=1" \
    --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" \
    "$cache/base-rootfs.tar" "$base" >&2
fi

# chroot isolation: no container runtime is needed to run the RUN steps.
podman build --quiet --isolation=chroot --network=host \
  -v /etc/ssl/certs:/etc/ssl/certs:ro \
  --build-arg BASE_IMAGE="$base" ${target:+--target "$target"} -t "$tag" "$root" >&2
podman image inspect --format '{{.Id}}' "$tag"
