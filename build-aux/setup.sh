#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Shared first half of ./run.sh and ./test.sh: install the Debian packages
# iemstage needs (only the missing ones; nothing when all are present), then
# configure and build a meson build directory.
#
#   build-aux/setup.sh deps [--with-optional] [--with-packaging]
#                                           install missing packages (and the
#                                           optional ones the tests use, and
#                                           the Debian packaging tools)
#   build-aux/setup.sh build DIR [ARGS...]  configure DIR (once) and build it

set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything the project builds, runs and tests with (the README's first
# section points here).
packages=(
	gcc pkg-config meson ninja-build python3
	libsndfile1-dev libfftw3-dev libjson-c-dev libsystemd-dev libmysofa-dev
	libpipewire-0.3-dev libspa-0.2-dev pipewire pipewire-bin wireplumber dbus
	valgrind python3-jsonschema libxml2-utils
)

# Wanted by the tests but not needed to build or run: clang with its
# libFuzzer runtime, for the short fuzzing runs; libbs2b, the reference
# the crossfeed is checked against. Installed when the distribution has
# them; their absence only skips those checks. polkitd: the real one the
# system-mode test (tests/integration/test-system.sh) runs on its private
# system bus.
optional_packages=(clang libclang-rt-dev libbs2b-dev polkitd bash-completion)

# Only for building and checking the Debian packages (debian/; the test
# suite "package"): dpkg-buildpackage's helpers and lintian. About 140
# packages, 20 MB of downloads with --no-install-recommends on Debian 12.
# bash-completion (above) is a build dependency too: the package puts the
# completion in its directory.
packaging_packages=(debhelper lintian)

log() { printf 'iemstage: %s\n' "$*" >&2; }

missing_packages()
{
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || printf '%s\n' "$p"
	done
}

deps()
{
	local arg wanted=()
	for arg in "$@"; do
		case "$arg" in
		--with-optional) wanted+=("${optional_packages[@]}") ;;
		--with-packaging) wanted+=("${packaging_packages[@]}") ;;
		*) log "deps: unknown option '$arg'"; return 2 ;;
		esac
	done
	if ! command -v dpkg-query >/dev/null 2>&1; then
		log "not a Debian/Ubuntu system: install these yourself: ${packages[*]}"
		return 0
	fi
	local missing=() optional=()
	mapfile -t missing < <(missing_packages "${packages[@]}")
	if [ "${#wanted[@]}" -gt 0 ]; then
		mapfile -t optional < <(missing_packages "${wanted[@]}")
	fi
	[ "${#missing[@]}" -eq 0 ] && [ "${#optional[@]}" -eq 0 ] && return 0

	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		elif [ "${#missing[@]}" -gt 0 ]; then
			log "missing packages: ${missing[*]}"
			log "not root and no sudo: install them and run again"
			return 1
		else
			log "not installing ${optional[*]} (not root, no sudo): the tests that need them are skipped"
			return 0
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q
	if [ "${#missing[@]}" -gt 0 ]; then
		log "installing missing packages: ${missing[*]}"
		"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	local p
	for p in "${optional[@]}"; do
		log "installing $p (optional, for the tests)"
		"${sudo[@]}" apt-get install -y -q --no-install-recommends "$p" ||
			log "$p is not available here: the tests that need it are skipped"
	done
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
deps) shift; deps "$@" ;;
build) shift; build "$@" ;;
*) echo "usage: $0 deps | build DIR [MESON-ARGS...]" >&2; exit 2 ;;
esac
