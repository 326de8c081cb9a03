# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# TAP helpers for the shell tests: source it, then call ok, not_ok and skip
# once per check, and tap_done at the end.

n=0
failed=0

ok()
{
	n=$((n + 1))
	echo "ok $n - $1"
}

# not_ok DESCRIPTION [DIAGNOSTICS...]: every line of every further
# argument becomes a "# " line.
not_ok()
{
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	if [ "$#" -gt 0 ]; then
		printf '%s\n' "$@" | sed '/^$/d; s/^/# /'
	fi
}

skip()
{
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# skip_all REASON: the whole script is skipped, saying why.
skip_all()
{
	echo "1..0 # SKIP $*"
	exit 0
}

# need_tools PROGRAM...: skip the whole script when one is not installed.
need_tools()
{
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || skip_all "$p not found"
	done
}

# The plan, and the exit status: non-zero when a check failed.
tap_done()
{
	echo "1..$n"
	[ "$failed" -eq 0 ]
}

# Milliseconds on a monotonic-enough clock (bash 5's EPOCHREALTIME).
now_ms()
{
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $((10#$t / 1000))
}

# The process is gone (a zombie counts as gone: who reaps it is not ours to
# choose, the parent is init).
gone()
{
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat:0:1}" = Z ] || [ "${stat:0:1}" = X ]
}
