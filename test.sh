#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ./test.sh [--sanitize] [--valgrind]
#
# Installs the missing Debian packages (apt-get; sudo when not root),
# configures and builds build/, and runs every test suite (dsp, daemon, tools,
# integration, install, package, fuzz, bench). With --sanitize the dsp, daemon
# and fuzz suites also run in build-sanitize/, made with AddressSanitizer and
# UndefinedBehaviorSanitizer; with --valgrind the dsp and daemon suites also run
# under valgrind. Exits non-zero on any failure and ends with one line:
# "iemstage: N passed, N failed, N skipped".

set -euo pipefail
cd "$(dirname "$0")"

sanitize=0
valgrind=0
for arg in "$@"; do
	case "$arg" in
	--sanitize) sanitize=1 ;;
	--valgrind) valgrind=1 ;;
	-h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "test.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

build-aux/setup.sh deps --with-optional --with-packaging
build-aux/setup.sh build build -Dtests=enabled

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export MALLOC_PERTURB_=165

logs=()
status=0

run() {
	local dir=$1 name=$2
	shift 2
	echo "== $name ==" >&2
	if ! meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"; then
		status=1
	fi
	# keep this run's log before the next run in the same dir replaces it
	cp "$dir/meson-logs/testlog${setup_suffix:-}.json" "$dir/meson-logs/$name.testlog.json"
	logs+=("$dir/meson-logs/$name.testlog.json")
}

setup_suffix=
run build all

if [ "$sanitize" = 1 ]; then
	build-aux/setup.sh build build-sanitize -Dtests=enabled \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	run build-sanitize sanitize --suite dsp --suite daemon --suite fuzz
fi

if [ "$valgrind" = 1 ]; then
	setup_suffix=-valgrind
	run build valgrind --setup valgrind --suite dsp --suite daemon
	setup_suffix=
fi

python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"iemstage: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
