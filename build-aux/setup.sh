#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Shared first half of ./run.sh and ./test.sh: install the Debian packages
# iemstage needs (only the missing ones; nothing when all are present), then
# configure and build a meson build directory.
#
#   build-aux/setup.sh deps                 install missing packages
#   build-aux/setup.sh build DIR [ARGS...]  configure DIR (once) and build it

set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything the project builds, runs and tests with. Keep in sync with the
# README's "Dependencies" section.
packages=(
	gcc pkg-config meson ninja-build python3
	libsndfile1-dev libfftw3-dev libjson-c-dev libsystemd-dev libmysofa-dev
	libpipewire-0.3-dev libspa-0.2-dev pipewire pipewire-bin wireplumber dbus
	valgrind python3-jsonschema
)

log() { printf 'iemstage: %s\n' "$*" >&2; }

missing_packages()
{
	local p status
	for p in "${packages[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || printf '%s\n' "$p"
	done
}

deps()
{
	if ! command -v dpkg-query >/dev/null 2>&1; then
		log "not a Debian/Ubuntu system: install these yourself: ${packages[*]}"
		return 0
	fi
	local missing
	mapfile -t missing < <(missing_packages)
	[ "${#missing[@]}" -eq 0 ] && return 0

	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			log "missing packages: ${missing[*]}"
			log "not root and no sudo: install them and run again"
			return 1
		fi
	fi
	log "installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build()
{
	local dir=$1
	shift
	if [ ! -f "$top/$dir/build.ninja" ]; then
		meson setup "$top/$dir" "$top" "$@" >&2
	elif [ "$#" -gt 0 ]; then
		meson configure "$top/$dir" "$@" >&2
	fi
	# Two cores on the project's machines; ninja's default would be 4.
	ninja -C "$top/$dir" -j "$(nproc 2>/dev/null || echo 2)" >&2
}

case "${1:-}" in
deps) deps ;;
build) shift; build "$@" ;;
*) echo "usage: $0 deps | build DIR [MESON-ARGS...]" >&2; exit 2 ;;
esac
