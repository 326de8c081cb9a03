#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# meson install --destdir into a scratch directory, then the installed
# files checked and used:
#
#   every file the install should put there is there (programs, module,
#   man pages, completion, profiles, schema, D-Bus interfaces, PipeWire
#   templates), nothing outside the prefix; the installed programs do not
#   point into the build tree (RUNPATH); iemstaged names the prefix's
#   profile directories, not DESTDIR's (compiled-in paths are the
#   prefix's: the DESTDIR copy is reached with IEMSTAGE_PROFILE_PATH, as
#   a packager's test would); the installed iemstage-render renders with
#   an installed profile, bit for bit as the built one does; then the
#   integration tests test-module.sh (the installed module and
#   iemstage-render) and test-ctl.sh (the installed iemstaged,
#   iemstagectl and module) run against the installed files.
#
#   tests/install/test-destdir.sh BUILD_ROOT PREFIX BINDIR MODULEDIR DATADIR MANDIR COMPLETIONSDIR \
#       SYSTEM_MODULEDIR IEM_HOST BUILT_RENDER
#
# The directories are the configured ones (absolute), as meson.build
# passes them; IEM_HOST is the test's module host from the build tree.

set -uo pipefail

usage="usage: $0 build-root prefix bindir moduledir datadir mandir completionsdir system-moduledir iem-host built-render"
build=${1:?$usage}
prefix=${2:?$usage}
bindir=${3:?$usage}
moduledir=${4:?$usage}
datadir=${5:?$usage}
mandir=${6:?$usage}
compdir=${7:?$usage}
system_moduledir=${8:?$usage}
host=${9:?$usage}
built_render=${10:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

# meson test points LD_LIBRARY_PATH at the build tree's module directory:
# not for the installed files.
unset LD_LIBRARY_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# ---- install -----------------------------------------------------------------

if ! out=$(meson install -C "$build" --no-rebuild --destdir "$dest" 2>&1); then
	not_ok "meson install --destdir" "$(tail -20 <<<"$out")"
	tap_done
	exit 1
fi
ok "meson install --destdir"
(cd "$dest" && find . -type f -o -type l | sed 's|^\.||' | sort) >"$tmp/files"
echo "# installed: $(wc -l <"$tmp/files") files, $(du -sk "$dest" | cut -f1) KiB"

have_daemon=0
[ -x "$build/daemon/iemstaged" ] && have_daemon=1
have_module=0
[ -n "$(find "$build/module" -name 'libpipewire-module-iemstage.so' 2>/dev/null)" ] && have_module=1

want=(
	"$bindir/iemstage-render" "$bindir/iemstage-fit" "$bindir/iemstage-analyze"
	"$mandir/man1/iemstage-render.1" "$mandir/man1/iemstage-fit.1"
	"$mandir/man1/iemstage-analyze.1" "$mandir/man1/iemstagectl.1"
	"$mandir/man5/iemstage.profile.5" "$mandir/man8/iemstaged.8"
	"$compdir/iemstagectl"
	"$datadir/iemstage/iemstage-profile.schema.json"
	"$datadir/iemstage/eq/demo-ParametricEQ.txt"
	"$datadir/iemstage/pipewire/iemstage.conf"
	"$datadir/iemstage/pipewire/pipewire.conf.d/iemstage.conf"
	"$datadir/dbus-1/interfaces/org.iemstage1.Manager.xml"
	"$datadir/dbus-1/interfaces/org.iemstage1.Device.xml"
)
for p in defaults off studio living-room small-hall crossfeed-light; do
	want+=("$datadir/iemstage/profiles/$p.json")
done
for p in example-usb-iem example-bluetooth-iem example-headphone-jack; do
	want+=("$datadir/iemstage/examples/$p.json")
done
[ "$have_daemon" = 1 ] && want+=("$bindir/iemstaged" "$bindir/iemstagectl")
[ "$have_module" = 1 ] && want+=("$moduledir/libpipewire-module-iemstage.so")
missing=()
for f in "${want[@]}"; do
	grep -qxF -- "$f" "$tmp/files" || missing+=("$f")
done
if [ "${#missing[@]}" -eq 0 ]; then
	ok "all ${#want[@]} expected files installed"
else
	not_ok "every expected file installed" "missing: ${missing[*]}" "$(sed 's/^/installed: /' "$tmp/files")"
fi
if grep -qxF "$bindir/iemstage-bench" "$tmp/files"; then
	not_ok "iemstage-bench (a developer's benchmark) is not installed"
else
	ok "iemstage-bench (a developer's benchmark) is not installed"
fi
outside=$(grep -vE "^${prefix%/}/" "$tmp/files")
# -Dpipewire_moduledir may put the module outside on purpose
if [[ $moduledir != "${prefix%/}"/* ]]; then
	echo "# the module's directory $moduledir is outside the prefix (-Dpipewire_moduledir)"
	outside=$(grep -vF "$moduledir/" <<<"$outside")
fi
if [ -z "$outside" ]; then
	ok "nothing installed outside the prefix $prefix"
else
	not_ok "nothing installed outside the prefix $prefix" "$outside"
fi
# the installed tree, summarised for the log: directory, number of files
sed 's|/[^/]*$||' "$tmp/files" | sort | uniq -c | sed 's/^ */# /'

# ---- the installed programs ------------------------------------------------------

installed() { echo "$dest$bindir/$1"; }
if command -v readelf >/dev/null 2>&1; then
	bad=
	for f in "$dest$bindir"/* "$dest$moduledir"/*.so; do
		[ -f "$f" ] || continue
		readelf -d "$f" 2>/dev/null | grep -E 'RUNPATH|RPATH' | grep -qF "$build" && bad+=" $f"
	done
	if [ -z "$bad" ]; then
		ok "no installed program or module has a RUNPATH into the build tree"
	else
		not_ok "no installed program or module has a RUNPATH into the build tree" "$bad"
	fi
else
	skip "RUNPATH of the installed programs" "readelf not found"
fi

version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)'.*/\1/p" "$top/meson.build" | head -1)
progs=(iemstage-render iemstage-fit iemstage-analyze)
[ "$have_daemon" = 1 ] && progs+=(iemstaged iemstagectl)
bad=
for p in "${progs[@]}"; do
	v=$("$(installed "$p")" --version 2>&1) || bad+=" $p:exit"
	[[ $v == *"$version"* ]] || bad+=" $p:'$v'"
done
if [ -z "$bad" ]; then
	ok "the installed programs run: --version says $version"
else
	not_ok "the installed programs run (--version)" "$bad"
fi

if [ "$have_daemon" = 1 ]; then
	help=$("$(installed iemstaged)" --help 2>&1)
	if grep -qF "$datadir/iemstage/profiles" <<<"$help" && ! grep -qF "$dest" <<<"$help"; then
		ok "iemstaged's compiled-in profile directory is the prefix's ($datadir/iemstage/profiles), not DESTDIR's"
	else
		not_ok "iemstaged's compiled-in profile directory is the prefix's" "$help"
	fi
fi

# The installed render with the installed profiles, against the built one.
export XDG_CACHE_HOME=$tmp/cache
export IEMSTAGE_PROFILE_PATH=$dest$datadir/iemstage/profiles
if "$built_render" --demo-piece "$tmp/dry.wav" --seconds 2 >"$tmp/demo.log" 2>&1 &&
   "$(installed iemstage-render)" "$tmp/dry.wav" "$tmp/installed.wav" --profile studio \
	--eq "$dest$datadir/iemstage/eq/demo-ParametricEQ.txt" --quiet >"$tmp/r1.log" 2>&1 &&
   "$built_render" "$tmp/dry.wav" "$tmp/built.wav" --profile studio \
	--eq "$top/config/eq/demo-ParametricEQ.txt" --quiet >"$tmp/r2.log" 2>&1; then
	cmp=$("$built_render" --compare "$tmp/installed.wav" "$tmp/built.wav" 2>&1)
	if [[ $cmp == *"max_diff=0 "* || $cmp == *"max_diff_dbfs=-inf"* ]]; then
		ok "the installed iemstage-render with the installed 'studio' preset and EQ file renders as the built one"
	else
		not_ok "the installed iemstage-render renders as the built one" "$cmp"
	fi
else
	not_ok "the installed iemstage-render renders with the installed 'studio' preset" \
		"$(cat "$tmp/demo.log" "$tmp/r1.log" "$tmp/r2.log" 2>/dev/null)"
fi
# every installed profile loads in the installed iemstage-analyze (the
# examples name the installed listening presets)
bad=
for f in "$dest$datadir"/iemstage/profiles/*.json "$dest$datadir"/iemstage/examples/*.json; do
	"$(installed iemstage-analyze)" --profile "$f" --rate 16000 >/dev/null 2>"$tmp/err" ||
		bad+=" $(basename "$f"): $(cat "$tmp/err")"
done
if [ -z "$bad" ]; then
	ok "the installed profiles and examples load in the installed iemstage-analyze"
else
	not_ok "the installed profiles and examples load in the installed iemstage-analyze" "$bad"
fi
unset IEMSTAGE_PROFILE_PATH

# ---- the integration tests against the installed files ----------------------------

# sub NAME SCRIPT ARGS...: one TAP line for a whole integration test, its
# failing lines as diagnostics.
sub()
{
	local name=$1 out rc
	shift
	out=$(bash "$@" 2>&1)
	rc=$?
	if grep -qE '^1\.\.0 # SKIP' <<<"$out"; then
		skip "$name" "$(sed -n 's/^1\.\.0 # SKIP //p' <<<"$out")"
	elif [ "$rc" = 0 ] && ! grep -q '^not ok' <<<"$out"; then
		ok "$name ($(grep -c '^ok' <<<"$out") checks)"
	else
		not_ok "$name" "exit status $rc" "$(grep -A3 '^not ok' <<<"$out" | head -60)"
	fi
}

if [ "$have_module" = 1 ]; then
	sub "test-module.sh against the installed module and iemstage-render" \
		"$top/tests/integration/test-module.sh" "$(installed iemstage-render)" \
		"$dest$moduledir/libpipewire-module-iemstage.so" "$host" "$system_moduledir"
else
	skip "test-module.sh against the installed module" "PipeWire not found at configure time: no module"
fi
if [ "$have_daemon" = 1 ] && [ "$have_module" = 1 ]; then
	sub "test-ctl.sh against the installed iemstaged, iemstagectl and module" \
		"$top/tests/integration/test-ctl.sh" "$(installed iemstagectl)" "$(installed iemstaged)" \
		"$dest$moduledir" "$system_moduledir"
else
	skip "test-ctl.sh against the installed iemstaged" "no daemon or module in this build"
fi

tap_done
