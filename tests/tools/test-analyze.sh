#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstage-analyze as a user runs it: each check is one TAP line.
#
#   tests/tools/test-analyze.sh path/to/iemstage-analyze path/to/iemstage-render
#
# The default room, a BRIR file with known figures (made here), a profile
# by id and by file; the printed figures must parse, --json must agree
# with them, and the SVGs must be well-formed XML (xmllint when present,
# python3's parser otherwise). python3 (standard library only) writes the
# BRIR file and reads the JSON; those checks are skipped without it.

set -uo pipefail

tool=${1:?usage: $0 path/to/iemstage-analyze path/to/iemstage-render}
render=${2:?usage: $0 path/to/iemstage-analyze path/to/iemstage-render}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# FFTW wisdom and profiles from private places only
export XDG_CACHE_HOME=$tmp/cache XDG_CONFIG_HOME=$tmp/config
export IEMSTAGE_PROFILE_PATH=$tmp/profiles
mkdir -p "$tmp/profiles" "$tmp/elsewhere"

have_python=false
command -v python3 >/dev/null 2>&1 && have_python=true

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

# field LABEL N: the N-th number on the line starting with LABEL.
field()
{
	grep "^$1" "$tmp/stdout" | head -n 1 | sed "s/^$1//" |
		grep -oE '[-+]?[0-9]+(\.[0-9]+)?|n/a|[-+]inf' | sed -n "${2}p"
}

is_number()
{
	[[ $1 =~ ^[-+]?[0-9]+(\.[0-9]+)?$ ]]
}

# within A B TOL: |A - B| <= TOL
within()
{
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# well_formed FILE: XML that parses, whose root is <svg>
well_formed()
{
	if command -v xmllint >/dev/null 2>&1; then
		xmllint --noout "$1" 2>/dev/null && grep -q '<svg ' "$1"
	elif $have_python; then
		python3 -c 'import sys, xml.etree.ElementTree as E
sys.exit(0 if E.parse(sys.argv[1]).getroot().tag.endswith("svg") else 1)' "$1" 2>/dev/null
	else
		head -c 5 "$1" | grep -q '<?xml' && tail -n 1 "$1" | grep -q '</svg>'
	fi
}

# ---- the default room --------------------------------------------------------

run --set stage.mode=room --svg "$tmp/svg"
figures_ok=true
for f in "ITD: 1" "ITD: 2" "ITD direct: 1" "ILD: 1" "IACC: 1" "IACC_E3: 1" "centred: 1" \
	"DRR: 1" "DRR: 2" "C50: 1" "reflections left 1" "reflections left 2"; do
	v=$(field "${f% *}" "${f##* }")
	is_number "$v" || { figures_ok=false; bad="$f -> '$v'"; }
done
if [ "$rc" -eq 0 ] && $figures_ok; then
	ok "default room: exit 0, every figure parses (ITD $(field 'ITD:' 1) us, IACC_E3 $(field 'IACC_E3:' 1), DRR $(field 'DRR:' 1) dB, first reflection $(field 'reflections left' 1) ms $(field 'reflections left' 2) dB)"
else
	not_ok_run "default room: exit 0, every figure parses" "exit $rc; ${bad:-}"
fi
itd=$(field 'ITD:' 1)
if within "$itd" 0 0 || ! awk -v v="$itd" 'BEGIN { exit !(v > 150 && v < 400) }'; then
	not_ok_run "default room: the left speaker is on the left (ITD $itd us)"
else
	ok "default room: the left speaker is on the left (ITD $itd us)"
fi

svg_ok=true
for f in brir magnitude centre room; do
	well_formed "$tmp/svg/$f.svg" || { svg_ok=false; bad=$f; }
done
if $svg_ok; then
	ok "--svg DIR: brir.svg, magnitude.svg, centre.svg and room.svg are well-formed SVG"
else
	not_ok_run "--svg DIR: brir.svg, magnitude.svg, centre.svg and room.svg are well-formed SVG" "$bad.svg"
fi
if grep -q 'listener' "$tmp/svg/room.svg" && [ "$(grep -c '<polyline' "$tmp/svg/room.svg")" -eq 8 ] &&
	[ "$(grep -c '<path' "$tmp/svg/brir.svg")" -eq 4 ]; then
	ok "room.svg: the listener and 2 x 4 wall reflections; brir.svg: four paths"
else
	not_ok "room.svg: the listener and 2 x 4 wall reflections; brir.svg: four paths"
fi

if $have_python; then
	text_e3=$(field 'IACC_E3:' 1)
	text_drr=$(field 'DRR:' 1)
	run --set stage.mode=room --json
	json=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.3f %+.2f %s" % (d["iacc_e3"], d["speakers"][0]["drr_db"], d["stage"]["mode"]))' "$tmp/stdout" 2>&1)
	if [ "$rc" -eq 0 ] && [ "$json" = "$text_e3 $text_drr room" ]; then
		ok "--json parses and says what the text says ($json)"
	else
		not_ok_run "--json parses and says what the text says" "json: $json; text: $text_e3 $text_drr room"
	fi
else
	skip "--json parses" "no python3"
fi

# ---- a BRIR file with known figures ----------------------------------------------

# True stereo (LL, LR, RL, RR), 48 kHz: each speaker reaches its own ear
# at 1 and the other ear 12 samples (250 us) later at 0.5 (-6.02 dB).
brir=$tmp/known.wav
if $have_python; then
	python3 - "$brir" <<'PY'
import struct, sys
n, frames = 512, []
for i in range(n):
    near = 16384 if i == 100 else 0
    far = 8192 if i == 112 else 0
    frames.append((near, far, far, near))
data = b"".join(struct.pack("<4h", *f) for f in frames)
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
    f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 4, 48000, 48000 * 8, 8, 16))
    f.write(b"data" + struct.pack("<I", len(data)) + data)
PY
	run --brir "$brir" --svg "$tmp/svg-brir"
	itd=$(field 'ITD:' 1)
	itd_r=$(field 'ITD:' 2)
	ild=$(field 'ILD:' 1)
	if [ "$rc" -eq 0 ] && grep -q "^stage: .*known.wav (true-stereo, 4 channels" "$tmp/stdout" &&
		within "$itd" 250 0.5 && within "$itd_r" -250 0.5 && within "$ild" 6.02 0.02; then
		ok "--brir FILE: ITD $itd / $itd_r us (+-250), ILD $ild dB (+6.02), as built into the file"
	else
		not_ok_run "--brir FILE: ITD +-250 us, ILD +6.02 dB, as built into the file"
	fi
	if well_formed "$tmp/svg-brir/brir.svg" && well_formed "$tmp/svg-brir/magnitude.svg" &&
		well_formed "$tmp/svg-brir/centre.svg" && [ ! -e "$tmp/svg-brir/room.svg" ]; then
		ok "--brir FILE --svg: three well-formed SVGs, no room plan (there is no room)"
	else
		not_ok "--brir FILE --svg: three well-formed SVGs, no room plan (there is no room)"
	fi
else
	skip "--brir FILE" "no python3 to write the file"
	skip "--brir FILE --svg" "no python3 to write the file"
fi

# ---- profiles ---------------------------------------------------------------------

cat >"$tmp/profiles/xf.json" <<'JSON'
{ "iemstage": 1, "kind": "listening", "stage": { "mode": "crossfeed" }, "crossfeed": { "preset": "default" } }
JSON
cat >"$tmp/elsewhere/near.json" <<'JSON'
{ "iemstage": 1, "kind": "listening", "stage": { "mode": "room", "hrtf": "model", "distance": 1.2 },
  "room": { "width": 4, "depth": 5, "height": 2.6, "rt60": 0.2 } }
JSON
chmod 644 "$tmp"/profiles/*.json "$tmp"/elsewhere/*.json

run --profile xf
iacc=$(field 'IACC:' 1)
if [ "$rc" -eq 0 ] && grep -q '^stage: *crossfeed (bs2b, preset default)' "$tmp/stdout" && within "$iacc" 0.072 0.001; then
	ok "--profile ID: bs2b's default crossfeed, IACC $iacc (dsp-reference §5.1: 0.072)"
else
	not_ok_run "--profile ID: bs2b's default crossfeed, IACC 0.072"
fi
run --profile "$tmp/elsewhere/near.json" --set room.rt60=0.25
if [ "$rc" -eq 0 ] && grep -q '^stage: *room, +-30 deg at 1.2 m, 4 x 5 x 2.6 m, RT60 0.25 s' "$tmp/stdout" &&
	grep -q '^hrtf: *Brown & Duda' "$tmp/stdout"; then
	ok "--profile FILE, then --set on top of it"
else
	not_ok_run "--profile FILE, then --set on top of it"
fi

# errors read as iemstage-render's: the same loader
printf '{ "iemstage": 1, "kind": "listening",\n  "stage": { "mode": "room", "angel": 30 } }\n' \
	>"$tmp/profiles/broken.json"
chmod 644 "$tmp/profiles/broken.json"
run --profile broken
a_rc=$rc
a_err=$(sed 's/^iemstage-analyze: //' "$tmp/stderr")
"$render" /dev/null "$tmp/unused.wav" --profile broken >/dev/null 2>"$tmp/render-stderr"
r_err=$(sed 's/^iemstage-render: //' "$tmp/render-stderr")
if [ "$a_rc" -eq 1 ] && [ -n "$a_err" ] && [ "$a_err" = "$r_err" ]; then
	ok "a broken profile: exit 1 and iemstage-render's message ($a_err)"
else
	not_ok_run "a broken profile: exit 1 and iemstage-render's message" "render said: $r_err"
fi
run --profile nope
if [ "$rc" -eq 1 ] && grep -qFx "iemstage-analyze: no profile 'nope' in the search path (see the README's Profiles section)" "$tmp/stderr"; then
	ok "a missing profile id: exit 1, said so"
else
	not_ok_run "a missing profile id: exit 1, said so"
fi

# ---- other errors -------------------------------------------------------------------

run --brir "$tmp/missing.wav"
if [ "$rc" -eq 1 ] && grep -qFx "iemstage-analyze: $tmp/missing.wav: No such file or directory" "$tmp/stderr"; then
	ok "a missing BRIR file: exit 1, the path and the reason"
else
	not_ok_run "a missing BRIR file: exit 1, the path and the reason"
fi
run --set stage.mode=room --set stage.distance=9
if [ "$rc" -eq 1 ] && grep -q "^iemstage-analyze: stage.mode = room: speakers 9 m away" "$tmp/stderr"; then
	ok "speakers that do not fit the room: exit 1, why"
else
	not_ok_run "speakers that do not fit the room: exit 1, why"
fi
run --set nope=1
if [ "$rc" -eq 1 ] && grep -q "^iemstage-analyze: --set nope=1: unknown parameter" "$tmp/stderr"; then
	ok "an unknown parameter: exit 1"
else
	not_ok_run "an unknown parameter: exit 1"
fi
: >"$tmp/file"
run --set stage.mode=crossfeed --svg "$tmp/file/sub"
if [ "$rc" -eq 1 ] && grep -q "^iemstage-analyze: $tmp/file/sub: cannot create: " "$tmp/stderr"; then
	ok "an SVG directory that cannot be made: exit 1, why"
else
	not_ok_run "an SVG directory that cannot be made: exit 1, why"
fi
usage_ok=true
for args in "--bogus" "--rate 5" "extra" "--set novalue" "--json --svg"; do
	# shellcheck disable=SC2086
	run $args
	[ "$rc" -eq 2 ] && grep -q "Try 'iemstage-analyze --help'" "$tmp/stderr" || { usage_ok=false; bad=$args; }
done
if $usage_ok; then
	ok "bad usage: exit 2 with a hint (--bogus, --rate 5, an argument, --set without =, --svg without DIR)"
else
	not_ok_run "bad usage: exit 2 with a hint" "$bad"
fi
run --help
if [ "$rc" -eq 0 ] && grep -q -- '--svg DIR' "$tmp/stdout"; then
	ok "--help: exit 0"
else
	not_ok_run "--help: exit 0"
fi

tap_done
