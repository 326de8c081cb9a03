#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstage-fit as a user runs it: each check is one TAP line.
#
#   tests/tools/test-fit.sh path/to/iemstage-fit
#
# Needs bash, coreutils and awk (which makes the measurement); xmllint
# checks the SVG when it is there.

set -uo pipefail

tool=${1:?usage: $0 path/to/iemstage-fit [path/to/iemstage-render]}
render=${2:-}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

not_ok_run()
{
	not_ok "$@" "$(sed 's/^/stdout: /' "$tmp/stdout" 2>/dev/null)" \
		"$(sed 's/^/stderr: /' "$tmp/stderr" 2>/dev/null)"
}

run()
{
	"$tool" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
}

# expect_rc WHAT RC PATTERN ARGS...: that exit status and a line of stderr
# matching PATTERN (grep -E), nothing on stdout, no OUT.txt left behind.
expect_rc()
{
	local what=$1 want=$2 pattern=$3
	shift 3
	rm -f "$tmp/out.txt" "$tmp"/out.txt.tmp-*
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		not_ok_run "$what" "exit status $rc, expected $want"
	elif ! grep -qE -e "$pattern" "$tmp/stderr"; then
		not_ok_run "$what" "no line of stderr matches: $pattern"
	elif [ -s "$tmp/stdout" ]; then
		not_ok_run "$what" "something on stdout"
	elif compgen -G "$tmp/out.txt*" >/dev/null; then
		not_ok_run "$what" "output left behind: $(ls "$tmp"/out.txt*)"
	else
		ok "$what"
	fi
}

# A measurement: the built-in target's shape is not needed, a smooth one
# with a bass hump, a 3 kHz dip and a treble peak will do (AutoEq's
# header, 1/24 octave from 20 Hz to 20 kHz).
awk 'BEGIN {
	print "frequency,raw"
	for (i = 0; i <= 240; i++) {
		f = 20 * exp(log(1000) * i / 240); x = log(f) / log(2)
		db = 4 * exp(-(x - log(80) / log(2))^2 / 2) - 6 * exp(-(x - log(3000) / log(2))^2 / 0.3) \
			+ 5 * exp(-(x - log(8000) / log(2))^2 / 0.1)
		printf "%.2f,%.3f\n", f, db
	}
}' >"$tmp/meas.csv"
printf 'frequency,target\n20,0\n20000,0\n' >"$tmp/flat.csv"

# ---- fits ------------------------------------------------------------------
run "$tmp/meas.csv" --target "$tmp/flat.csv" -o "$tmp/out.txt" --svg "$tmp/plot.svg"
if [ "$rc" -ne 0 ]; then
	not_ok_run "a fit to a flat target" "exit status $rc"
else
	ok "a fit to a flat target"
fi
filters=$(grep -c '^Filter [0-9]*: ON ' "$tmp/out.txt" 2>/dev/null)
if head -n1 "$tmp/out.txt" 2>/dev/null | grep -qE '^Preamp: -[0-9.]+ dB$' && [ "$filters" = 10 ] &&
	grep -q '^Filter 1: ON LSC Fc 105 Hz ' "$tmp/out.txt" &&
	grep -q '^Filter 10: ON HSC Fc 10000 Hz ' "$tmp/out.txt"; then
	ok "OUT.txt: a Preamp line, 10 filters, the shelves first and last"
else
	not_ok "OUT.txt: a Preamp line, 10 filters, the shelves first and last" "$(cat "$tmp/out.txt" 2>&1)"
fi
residual=$(sed -n 's/^residual \([0-9.]*\) dB rms.*/\1/p' "$tmp/stderr")
if [ -n "$residual" ] && awk -v r="$residual" 'BEGIN { exit !(r < 0.5) }' &&
	grep -qE ' in [0-9.]+ ms$' "$tmp/stderr"; then
	ok "stderr: residual $residual dB rms and the time taken"
	echo "# $(cat "$tmp/stderr")"
else
	not_ok_run "stderr: residual below 0.5 dB rms and the time taken"
fi
if grep -q '<svg' "$tmp/plot.svg" 2>/dev/null && [ "$(grep -c '<polyline' "$tmp/plot.svg")" = 4 ] &&
	grep -q '>measurement<' "$tmp/plot.svg" && grep -q '>result<' "$tmp/plot.svg"; then
	ok "the SVG: four curves and their legend"
else
	not_ok "the SVG: four curves and their legend" "$(head -c 300 "$tmp/plot.svg" 2>&1)"
fi
if ! command -v xmllint >/dev/null; then
	skip "the SVG is well-formed XML" "no xmllint"
elif xmllint --noout "$tmp/plot.svg" 2>"$tmp/xml"; then
	ok "the SVG is well-formed XML"
else
	not_ok "the SVG is well-formed XML" "$(cat "$tmp/xml")"
fi

run "$tmp/meas.csv" --bands 5
if [ "$rc" -eq 0 ] && [ "$(grep -c '^Filter' "$tmp/stdout")" = 5 ] &&
	grep -q '^residual .* 5 bands in ' "$tmp/stderr"; then
	ok "--bands 5, to the default target, on stdout"
else
	not_ok_run "--bands 5, to the default target, on stdout"
fi

run "$tmp/meas.csv" --target harman-ie-2019-nobass --bands 2
if [ "$rc" -eq 0 ] && [ "$(grep -c '^Filter [12]: ON PK ' "$tmp/stdout")" = 2 ]; then
	ok "--bands 2: two peaking bands"
else
	not_ok_run "--bands 2: two peaking bands"
fi

# A GraphicEQ of a 4 dB peak at 1 kHz (Q 1): the fit finds it
awk 'BEGIN {
	printf "GraphicEQ: "
	for (i = 0; i < 127; i++) {
		f = int(20 * exp(log(1000) * i / 126) + 0.5); x = log(f / 1000) / log(2)
		printf "%s%d %.1f", i ? "; " : "", f, 4 * exp(-x * x / 0.5) - 3
	}
	print ""
}' >"$tmp/geq.txt"
run --graphic "$tmp/geq.txt" --bands 3 --svg "$tmp/geq.svg"
if [ "$rc" -eq 0 ] && grep -qE '^Filter 2: ON PK Fc (9[0-9][0-9]|10[0-9][0-9])(\.[0-9])? Hz Gain [34]\.' "$tmp/stdout" &&
	[ "$(grep -c '<polyline' "$tmp/geq.svg" 2>/dev/null)" = 2 ]; then
	ok "--graphic: the peak found, plotted with the GraphicEQ"
else
	not_ok_run "--graphic: the peak found, plotted with the GraphicEQ"
fi

run --list-targets
if [ "$rc" -eq 0 ] && [ "$(cat "$tmp/stdout")" = "$(printf 'harman-ie-2019\nharman-ie-2019-nobass')" ]; then
	ok "--list-targets"
else
	not_ok_run "--list-targets"
fi

# ---- refusals ----------------------------------------------------------------
printf 'frequency,raw\n20,1\n30,x\n' >"$tmp/bad.csv"
expect_rc "a bad measurement: exit 1, FILE:LINE:COLUMN" 1 \
	"^iemstage-fit: $tmp/bad.csv:3:4: expected a number, got 'x'\$" \
	"$tmp/bad.csv" -o "$tmp/out.txt"
printf 'frequency,raw\n20,1\n20,2\n' >"$tmp/bad.csv"
expect_rc "frequencies that do not increase: exit 1" 1 \
	"^iemstage-fit: $tmp/bad.csv:3:1: frequency 20 Hz is not above the previous line's 20 Hz\$" \
	"$tmp/bad.csv" -o "$tmp/out.txt"
expect_rc "a missing measurement file: exit 1" 1 \
	"^iemstage-fit: $tmp/none.csv: No such file or directory\$" "$tmp/none.csv" -o "$tmp/out.txt"
expect_rc "an unknown target: exit 1, named" 1 \
	"^iemstage-fit: harman: No such file or directory \(and not a built-in target: harman-ie-2019, harman-ie-2019-nobass\)\$" \
	"$tmp/meas.csv" --target harman -o "$tmp/out.txt"
printf 'GraphicEQ: 20 1; 30\n' >"$tmp/bad.txt"
expect_rc "a bad GraphicEQ: exit 1, FILE:LINE:COLUMN" 1 \
	"^iemstage-fit: $tmp/bad.txt:1:20: expected a gain, got end of line\$" \
	--graphic "$tmp/bad.txt" -o "$tmp/out.txt"
expect_rc "no arguments: exit 2" 2 "^iemstage-fit: no measurement given\$"
expect_rc "--bands 33: exit 2" 2 "^iemstage-fit: --bands: '33' is not a number from 1 to 32\$" \
	"$tmp/meas.csv" --bands 33
expect_rc "--bands 2.5: exit 2" 2 "^iemstage-fit: --bands: '2.5' is not a whole number\$" \
	"$tmp/meas.csv" --bands 2.5
expect_rc "a measurement and --graphic: exit 2" 2 "give one of them" \
	"$tmp/meas.csv" --graphic "$tmp/geq.txt"
expect_rc "an unknown option: exit 2" 2 "^iemstage-fit: unknown option '--frob'\$" --frob
expect_rc "-o in a missing directory: exit 1, nothing left" 1 "cannot create" \
	"$tmp/meas.csv" -o "$tmp/no/such/dir/out.txt"

# ---- a device profile ------------------------------------------------------
if [ -z "$render" ]; then
	skip "-o OUT.json: a device profile that renders as OUT.txt does" "no iemstage-render given"
else
	"$tool" "$tmp/meas.csv" --target "$tmp/flat.csv" -o "$tmp/fitted.txt" 2>/dev/null
	run "$tmp/meas.csv" --target "$tmp/flat.csv" -o "$tmp/fitted.json"
	"$render" --demo-piece "$tmp/piece.wav" --seconds 1 >/dev/null 2>&1
	"$render" "$tmp/piece.wav" "$tmp/a.wav" --eq "$tmp/fitted.txt" --quiet 2>"$tmp/ra"
	"$render" "$tmp/piece.wav" "$tmp/b.wav" --profile "$tmp/fitted.json" --quiet 2>"$tmp/rb"
	diff=$("$render" --compare "$tmp/a.wav" "$tmp/b.wav" 2>&1)
	if [ "$rc" -eq 0 ] && grep -q '"kind": "device"' "$tmp/fitted.json" &&
	   grep -q 'max_diff_dbfs=-inf' <<<"$diff"; then
		ok "-o OUT.json: a device profile that renders exactly as OUT.txt does"
	else
		not_ok_run "-o OUT.json: a device profile that renders exactly as OUT.txt does" \
			"exit $rc; $diff" "$(cat "$tmp/ra" "$tmp/rb" "$tmp/fitted.json" 2>&1 | head -20)"
	fi
fi

tap_done
