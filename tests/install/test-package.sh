#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The Debian packages: dpkg-buildpackage -us -uc -b on a copy of the
# source tree (DEB_BUILD_OPTIONS=nocheck: the suites it would run are run
# by meson test already), lintian (no error; warnings and the rest are
# printed), what each package holds, the user unit's integration when the
# tree has the unit, and the packaged programs at work: the packages
# unpacked into a scratch root (dpkg-deb -x; the system is not touched)
# and tests/integration/test-ctl.sh run against the unpacked iemstaged,
# iemstagectl and module. Package sizes are printed.
#
#   tests/install/test-package.sh SYSTEM_MODULEDIR
#
# Skipped when dpkg-buildpackage, debhelper or a build dependency is
# missing (build-aux/setup.sh deps --with-packaging installs them).

set -uo pipefail

system_moduledir=${1:?usage: $0 pipewire-moduledir}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

for p in dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb dh; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "1..0 # SKIP $p not found (build-aux/setup.sh deps --with-packaging)"
		exit 0
	fi
done
if ! out=$(cd "$top" && dpkg-checkbuilddeps 2>&1); then
	echo "1..0 # SKIP ${out#dpkg-checkbuilddeps: error: }"
	exit 0
fi

unset LD_LIBRARY_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src
mkdir -p "$src"

# ---- the source tree, as it is (uncommitted changes included) --------------

if git -C "$top" rev-parse --show-toplevel >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z -co --exclude-standard | tar --null -cf - -T -) | tar -xf - -C "$src"
else
	(cd "$top" && tar --exclude='./build' --exclude='./build-*' --exclude='./obj-*' -cf - .) |
		tar -xf - -C "$src"
fi
rm -rf "$src/build-aux/__pycache__"

# ---- build ----------------------------------------------------------------------

start=$(now_ms)
(cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1
rc=$?
secs=$(( ($(now_ms) - start) / 1000 ))
arch=$(dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null || dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
version=$(cd "$src" && dpkg-parsechangelog -S Version)
main=$tmp/iemstage_${version}_$arch.deb
module=$tmp/pipewire-module-iemstage_${version}_$arch.deb
if [ "$rc" = 0 ] && [ -f "$main" ] && [ -f "$module" ]; then
	ok "dpkg-buildpackage -us -uc -b builds iemstage and pipewire-module-iemstage ($secs s)"
else
	not_ok "dpkg-buildpackage -us -uc -b builds iemstage and pipewire-module-iemstage" \
		"exit status $rc" "$(tail -40 "$tmp/build.log")"
	tap_done
	exit 1
fi
for deb in "$tmp"/*.deb; do
	echo "# $(basename "$deb"): $(stat -c %s "$deb") bytes," \
		"Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB"
done

# the meson version and the package's agree
meson_version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)'.*/\1/p" "$top/meson.build" | head -1)
if [ "${version%%-*}" = "$meson_version" ]; then
	ok "debian/changelog's version $version is meson.build's $meson_version"
else
	not_ok "debian/changelog's version is meson.build's" "changelog $version, meson.build $meson_version"
fi

# ---- lintian ----------------------------------------------------------------------

if command -v lintian >/dev/null 2>&1; then
	lintian --pedantic -I -E "$tmp"/iemstage_"${version}"_"$arch".changes >"$tmp/lintian.log" 2>&1
	grep -v '^running with root privileges' "$tmp/lintian.log" | sed 's/^/# lintian: /'
	errors=$(grep -c '^E: ' "$tmp/lintian.log")
	if [ "$errors" = 0 ] && grep -q 'iemstage' "$tmp"/*.changes; then
		ok "lintian: no errors ($(grep -c '^W: ' "$tmp/lintian.log") warnings, $(grep -cE '^[IPX]: ' "$tmp/lintian.log") notes)"
	else
		not_ok "lintian: no errors" "$(grep '^E: ' "$tmp/lintian.log")"
	fi
else
	skip "lintian" "lintian not found"
fi

# ---- contents ---------------------------------------------------------------------

dpkg-deb -c "$main" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/main.list"
dpkg-deb -c "$module" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/module.list"
check_list()
{
	local what=$1 list=$2 f missing=()
	shift 2
	for f in "$@"; do
		grep -qxF -- "$f" "$list" || missing+=("$f")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		ok "$what"
	else
		not_ok "$what" "missing: ${missing[*]}" "$(sed 's/^/has: /' "$list")"
	fi
}
main_files=(/usr/bin/iemstaged /usr/bin/iemstagectl /usr/bin/iemstage-render
	/usr/bin/iemstage-fit /usr/bin/iemstage-analyze
	/usr/share/man/man8/iemstaged.8.gz /usr/share/man/man1/iemstagectl.1.gz
	/usr/share/man/man5/iemstage.profile.5.gz /usr/share/man/man1/iemstage-render.1.gz
	/usr/share/man/man1/iemstage-analyze.1.gz /usr/share/man/man1/iemstage-fit.1.gz
	/usr/share/bash-completion/completions/iemstagectl
	/usr/share/iemstage/iemstage-profile.schema.json
	/usr/share/iemstage/profiles/defaults.json /usr/share/iemstage/profiles/studio.json
	/usr/share/iemstage/examples/example-usb-iem.json
	/usr/share/dbus-1/interfaces/org.iemstage1.Manager.xml
	/usr/share/dbus-1/interfaces/org.iemstage1.Device.xml)
check_list "iemstage holds the programs, man pages, completion, profiles and D-Bus interfaces" \
	"$tmp/main.list" "${main_files[@]}"
check_list "pipewire-module-iemstage holds the module in PipeWire's moduledir and the config templates" \
	"$tmp/module.list" "/usr/lib/$multiarch/pipewire-0.3/libpipewire-module-iemstage.so" \
	/usr/share/iemstage/pipewire/iemstage.conf /usr/share/iemstage/pipewire/pipewire.conf.d/iemstage.conf
if grep -q 'pipewire-module-iemstage (= ' <<<"$(dpkg-deb -f "$main" Depends)"; then
	ok "iemstage depends on pipewire-module-iemstage of the same version"
else
	not_ok "iemstage depends on pipewire-module-iemstage of the same version" "$(dpkg-deb -f "$main" Depends)"
fi
both=$(sort "$tmp/main.list" "$tmp/module.list" | grep -v '/$' | uniq -d)
if [ -z "$both" ]; then
	ok "no file is in both packages"
else
	not_ok "no file is in both packages" "$both"
fi

# ---- the user unit (when the tree has it) -----------------------------------------

mkdir -p "$tmp/sysroot" "$tmp/control"
dpkg-deb -x "$main" "$tmp/sysroot"
dpkg-deb -x "$module" "$tmp/sysroot"
dpkg-deb -e "$main" "$tmp/control"
unit=/usr/lib/systemd/user/iemstaged.service
if [ -f "$src/systemd/iemstaged.service" ] || [ -f "$src/systemd/iemstaged.service.in" ]; then
	if grep -qxF "$unit" "$tmp/main.list"; then
		exec_path=$(sed -n 's/^ExecStart=[-@:+!]*\([^ ]*\).*/\1/p' "$tmp/sysroot$unit" | head -1)
		if [ -n "$exec_path" ] && [ -x "$tmp/sysroot$exec_path" ] &&
		   grep -q "deb-systemd-helper --user enable 'iemstaged.service'" "$tmp/control/postinst"; then
			ok "the user unit is packaged, runs the packaged $exec_path and is enabled by postinst (dh_installsystemduser)"
		else
			not_ok "the user unit runs the packaged daemon and is enabled by postinst" \
				"ExecStart: '$exec_path'" "$(cat "$tmp/control/postinst" 2>&1)"
		fi
	else
		not_ok "the user unit is packaged" "$unit not in iemstage"
	fi
	svc=/usr/share/dbus-1/services/org.iemstage1.service
	if grep -qxF "$svc" "$tmp/main.list"; then
		exec_path=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$tmp/sysroot$svc")
		if [ -x "$tmp/sysroot$exec_path" ]; then
			ok "the D-Bus activation file is packaged and runs the packaged $exec_path"
		else
			not_ok "the D-Bus activation file runs the packaged daemon" "Exec=$exec_path"
		fi
	else
		not_ok "the D-Bus activation file is packaged" "$svc not in iemstage"
	fi
else
	skip "the packaged user unit" "systemd/iemstaged.service is not in this tree yet"
fi

# ---- the packaged programs at work ------------------------------------------------

export XDG_CACHE_HOME=$tmp/cache
export IEMSTAGE_PROFILE_PATH=$tmp/sysroot/usr/share/iemstage/profiles
if "$tmp/sysroot/usr/bin/iemstage-render" --demo-piece "$tmp/dry.wav" --seconds 1 --quiet >"$tmp/r.log" 2>&1 &&
   "$tmp/sysroot/usr/bin/iemstage-render" "$tmp/dry.wav" "$tmp/wet.wav" --profile studio --quiet >>"$tmp/r.log" 2>&1 &&
   [ -s "$tmp/wet.wav" ]; then
	ok "the packaged iemstage-render renders with the packaged 'studio' preset"
else
	not_ok "the packaged iemstage-render renders with the packaged 'studio' preset" "$(cat "$tmp/r.log")"
fi
unset IEMSTAGE_PROFILE_PATH
out=$(bash "$top/tests/integration/test-ctl.sh" "$tmp/sysroot/usr/bin/iemstagectl" \
	"$tmp/sysroot/usr/bin/iemstaged" "$tmp/sysroot/usr/lib/$multiarch/pipewire-0.3" "$system_moduledir" 2>&1)
rc=$?
if grep -qE '^1\.\.0 # SKIP' <<<"$out"; then
	skip "test-ctl.sh against the packaged daemon, ctl and module" "$(sed -n 's/^1\.\.0 # SKIP //p' <<<"$out")"
elif [ "$rc" = 0 ] && ! grep -q '^not ok' <<<"$out"; then
	ok "test-ctl.sh against the packaged iemstaged, iemstagectl and module ($(grep -c '^ok' <<<"$out") checks)"
else
	not_ok "test-ctl.sh against the packaged daemon, ctl and module" "exit status $rc" \
		"$(grep -A3 '^not ok' <<<"$out" | head -60)"
fi

tap_done
