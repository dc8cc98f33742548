#!/usr/bin/env bash
# Makes the `debian:bookworm-slim` base image the Dockerfile starts from, for machines that
# cannot pull from a registry (CI, air-gapped test hosts): Debian's own packages through
# `debootstrap --variant=minbase`, imported into podman under the name the Dockerfile uses.
#
# The debootstrapped root is slow to make (a minute or two), so its tarball is cached outside
# the clone, keyed by suite and month (a new month picks up Debian's security fixes):
#   $MESA_TEST_CACHE (default: /var/cache/mesa-test as root, else ~/.cache/mesa-test)
# An image this script imported is tagged with the same key and reused while it matches;
# an image it did not make (a real pull) is left alone.
#
# Usage: scripts/container-base.sh      (as root: debootstrap and rootful podman need it)
# Env:   MESA_TEST_CACHE, DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

readonly SUITE=bookworm
readonly IMAGE=docker.io/library/debian:bookworm-slim
readonly LABEL=org.mesa.base-key

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root: debootstrap and rootful podman need it"
command -v podman >/dev/null 2>&1 || die "podman is not installed (apt-get install podman runc)"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (apt-get install debootstrap)"

cache=${MESA_TEST_CACHE:-/var/cache/mesa-test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
key="$SUITE-minbase-$(date -u +%Y%m)"
tarball="$cache/$key.tar"

current=$(podman image inspect --format "{{ index .Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true)
if [[ $current == "$key" ]]; then
	log "$IMAGE is current ($key)"
	exit 0
fi
if podman image exists "$IMAGE" && [[ -z $current || $current == "<no value>" ]]; then
	log "$IMAGE exists and was not made here (a registry pull?): keeping it"
	exit 0
fi

if [[ ! -f $tarball ]]; then
	mkdir -p "$cache"
	root=$(mktemp -d "$cache/root.XXXXXX")
	trap 'rm -rf -- "$root"' EXIT
	log "debootstrap --variant=minbase $SUITE (cached afterwards in $cache)"
	debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $cache/debootstrap.log"
	# As in Docker's debian:slim: no package caches or lists in the image.
	chroot "$root" apt-get clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
	tar -C "$root" --numeric-owner -cf "$tarball.part" .
	mv "$tarball.part" "$tarball"
	rm -rf -- "$root"
	trap - EXIT
	# Older months' tarballs are of no further use.
	find "$cache" -maxdepth 1 -name "$SUITE-minbase-*.tar" ! -name "$key.tar" -delete
fi

log "importing $tarball as $IMAGE"
podman import --quiet --change "LABEL $LABEL=$key" --change 'CMD ["bash"]' "$tarball" "$IMAGE" >/dev/null
log "$IMAGE ready ($key)"
