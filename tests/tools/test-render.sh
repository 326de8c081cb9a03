#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstage-render as a user runs it: each check is one TAP line.
#
#   tests/tools/test-render.sh path/to/iemstage-render
#
# Needs only bash and coreutils; python3 (standard library only) makes the
# mono and 3-channel inputs, and those checks are skipped without it.

set -uo pipefail

tool=${1:?usage: $0 path/to/iemstage-render}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
demo_eq=$top/config/eq/demo-ParametricEQ.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# not_ok, with what the tool said, to see why without re-running by hand.
not_ok_run()
{
	not_ok "$@" "$(sed 's/^/stdout: /' "$tmp/stdout" 2>/dev/null)" \
		"$(sed 's/^/stderr: /' "$tmp/stderr" 2>/dev/null)"
}

# run ARGS...: runs the tool, leaving $rc, $tmp/stdout and $tmp/stderr.
run()
{
	"$tool" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
}

# info FILE KEY: one field of --info.
info()
{
	"$tool" --info "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# compare A B: max_diff_dbfs of --compare.
compare_dbfs()
{
	"$tool" --compare "$1" "$2" 2>/dev/null | tr ' ' '\n' | sed -n 's/^max_diff_dbfs=//p'
}

# True when neither OUT nor any OUT.tmp-* is there.
no_output()
{
	local out=$1 f
	[ -e "$out" ] && return 1
	for f in "$out".tmp-*; do
		[ -e "$f" ] && return 1
	done
	return 0
}

# expect_error WHAT OUT GREP-OPTION PATTERN ARGS...: exit status 1, no OUT
# left, and a line of stderr matching PATTERN (grep -Fx: the exact line;
# grep -E: a regular expression).
expect_error()
{
	local what=$1 out=$2 grep_option=$3 pattern=$4
	shift 4
	run "$@"
	if [ "$rc" -ne 1 ]; then
		not_ok_run "$what" "exit status $rc, expected 1"
	elif ! grep -q "$grep_option" -e "$pattern" "$tmp/stderr"; then
		not_ok_run "$what" "no line of stderr matches: $pattern"
	elif ! no_output "$out"; then
		not_ok_run "$what" "output file left behind: $(ls "$out"* 2>/dev/null | tr '\n' ' ')"
	else
		ok "$what"
	fi
}

dry=$tmp/demo-dry.wav
wet=$tmp/demo-processed.wav

# ---- the demo piece ------------------------------------------------------

run --demo-piece "$dry" --quiet
got="$(info "$dry" frames) $(info "$dry" rate) $(info "$dry" channels) $(info "$dry" subtype)"
if [ "$rc" -eq 0 ] && [ "$got" = "384000 48000 2 float" ]; then
	ok "--demo-piece writes an 8 s stereo 48 kHz float WAV"
else
	not_ok_run "--demo-piece writes an 8 s stereo 48 kHz float WAV" \
		"exit $rc; frames rate channels subtype: $got"
fi

peak=$(info "$dry" peak_dbfs)
if awk -v p="$peak" 'BEGIN { exit !(p > -7 && p < -5) }'; then
	ok "the demo piece peaks around -6 dBFS ($peak)"
else
	not_ok_run "the demo piece peaks around -6 dBFS" "peak_dbfs=$peak"
fi

run --demo-piece "$tmp/again.wav" --quiet
if [ "$(compare_dbfs "$dry" "$tmp/again.wav")" = "-inf" ]; then
	ok "the demo piece is the same every time"
else
	not_ok_run "the demo piece is the same every time"
fi

# ---- rendering -----------------------------------------------------------

run "$dry" "$wet" --eq "$demo_eq"
got="$(info "$wet" frames) $(info "$wet" channels) $(info "$wet" rate)"
if [ "$rc" -eq 0 ] && [ "$got" = "384000 2 48000" ]; then
	ok "rendering the demo through the demo EQ keeps length, channels and rate"
else
	not_ok_run "rendering the demo through the demo EQ keeps length, channels and rate" \
		"exit $rc; frames channels rate: $got"
fi

if grep -q '^output: .*demo-processed.wav' "$tmp/stdout" &&
   grep -q '^limiter: ' "$tmp/stdout"; then
	ok "the summary names the output and the limiter figures"
else
	not_ok_run "the summary names the output and the limiter figures"
fi

diff_db=$(compare_dbfs "$dry" "$wet")
if [ -n "$diff_db" ] && [ "$diff_db" != "-inf" ] &&
   awk -v d="$diff_db" 'BEGIN { exit !(d > -40) }'; then
	ok "the processed file differs from the dry one (max difference $diff_db dBFS)"
else
	not_ok_run "the processed file differs from the dry one" "max_diff_dbfs=$diff_db"
fi

run "$dry" "$tmp/bypass.wav" --eq "$demo_eq" --set bypass=true --quiet
diff_db=$(compare_dbfs "$dry" "$tmp/bypass.wav")
if [ "$rc" -eq 0 ] && [ "$diff_db" = "-inf" ] && [ ! -s "$tmp/stdout" ]; then
	ok "--set bypass=true gives the input back unchanged, and --quiet prints nothing"
else
	not_ok_run "--set bypass=true gives the input back unchanged, and --quiet prints nothing" \
		"exit $rc; max_diff_dbfs=$diff_db"
fi

run "$dry" "$tmp/loud.wav" --set eq.preamp=20 --quiet
peak=$(info "$tmp/loud.wav" peak_dbfs)
# A float's worth of slack on the ceiling's -0.1 dB.
if [ "$rc" -eq 0 ] && awk -v p="$peak" 'BEGIN { exit !(p <= -0.0999) }'; then
	ok "with --set eq.preamp=20 the output stays at or below -0.1 dBFS ($peak)"
else
	not_ok_run "with --set eq.preamp=20 the output stays at or below -0.1 dBFS" \
		"exit $rc; peak_dbfs=$peak"
fi

run "$dry" "$tmp/late.wav" --set eq.preamp=-12 --eq "$demo_eq" --quiet
a=$(info "$tmp/late.wav" peak_dbfs)
run "$dry" "$tmp/early.wav" --eq "$demo_eq" --set eq.preamp=-12 --quiet
b=$(info "$tmp/early.wav" peak_dbfs)
c=$(info "$wet" peak_dbfs)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]; then
	ok "--set overrides the --eq file wherever it stands on the command line"
else
	not_ok_run "--set overrides the --eq file wherever it stands on the command line" \
		"peaks: set first $a, eq first $b, file alone $c"
fi

run "$dry" "$tmp/pcm16.wav" --format pcm16 --quiet
if [ "$rc" -eq 0 ] && [ "$(info "$tmp/pcm16.wav" subtype)" = "pcm16" ]; then
	ok "--format pcm16 writes 16-bit PCM"
else
	not_ok_run "--format pcm16 writes 16-bit PCM" "exit $rc"
fi

# ---- inputs made with python3 ------------------------------------------

# make_wav PATH CHANNELS: a 0.1 s 16-bit 48 kHz WAV with a quiet ramp.
make_wav()
{
	python3 - "$1" "$2" <<-'EOF'
	import struct, sys, wave
	path, channels = sys.argv[1], int(sys.argv[2])
	frames = b"".join(struct.pack("<h", (i % 200) * 50 - 5000) * channels
	                  for i in range(4800))
	w = wave.open(path, "wb")
	w.setnchannels(channels)
	w.setsampwidth(2)
	w.setframerate(48000)
	w.writeframes(frames)
	w.close()
	EOF
}

if command -v python3 >/dev/null 2>&1 && make_wav "$tmp/mono.wav" 1 &&
   make_wav "$tmp/three.wav" 3; then
	run "$tmp/mono.wav" "$tmp/mono-out.wav" --eq "$demo_eq" --quiet
	got="$(info "$tmp/mono-out.wav" channels) $(info "$tmp/mono-out.wav" frames)"
	if [ "$rc" -eq 0 ] && [ "$got" = "2 4800" ]; then
		ok "a mono input is rendered as stereo"
	else
		not_ok_run "a mono input is rendered as stereo" "exit $rc; channels frames: $got"
	fi

	expect_error "a 3-channel input is refused with a clear message and no output" \
		"$tmp/three-out.wav" \
		-Fx "iemstage-render: $tmp/three.wav: 3 channels; only mono and stereo files are supported" \
		"$tmp/three.wav" "$tmp/three-out.wav"
else
	skip "a mono input is rendered as stereo" "no python3"
	skip "a 3-channel input is refused with a clear message and no output" "no python3"
fi

# ---- --brir: the stage's channel order ---------------------------------

# make_brir_test DIR: a 4-channel BRIR with one impulse per path (LL at 0,
# LR at 10, RL at 20, RR at 30 frames) and an input with a left impulse at
# frame 1000 and a right one at 3000, both 16-bit 48 kHz.
make_brir_test()
{
	python3 - "$1" <<-'EOF'
	import struct, sys, wave
	d = sys.argv[1]
	def write(path, channels, frames, rate=48000):
	    w = wave.open(path, "wb")
	    w.setnchannels(channels); w.setsampwidth(2); w.setframerate(rate)
	    w.writeframes(b"".join(struct.pack("<%dh" % channels, *f) for f in frames))
	    w.close()
	brir = [[0, 0, 0, 0] for _ in range(64)]
	for ch, at in enumerate((0, 10, 20, 30)):
	    brir[at][ch] = 16384
	write(d + "/brir4.wav", 4, brir)
	write(d + "/brir3.wav", 3, [[16384, 0, 0]] + [[0, 0, 0]] * 63)
	x = [[0, 0] for _ in range(4800)]
	x[1000][0] = 16384
	x[3000][1] = 16384
	write(d + "/impulses.wav", 2, x)
	EOF
}

# peaks FILE: "frame:channel" of every sample above -40 dBFS of a 24-bit WAV.
peaks()
{
	python3 - "$1" <<-'EOF'
	import sys, wave
	w = wave.open(sys.argv[1], "rb")
	n, c, raw = w.getnframes(), w.getnchannels(), w.readframes(w.getnframes())
	out = []
	for i in range(n):
	    for ch in range(c):
	        o = (i * c + ch) * 3
	        v = int.from_bytes(raw[o:o + 3], "little", signed=True) / 8388608.0
	        if abs(v) > 0.01:
	            out.append("%d:%s" % (i, "LR"[ch]))
	print(" ".join(out))
	EOF
}

if command -v python3 >/dev/null 2>&1 && make_brir_test "$tmp"; then
	run "$tmp/impulses.wav" "$tmp/staged.wav" --brir "$tmp/brir4.wav" --format pcm24
	got=$(peaks "$tmp/staged.wav")
	if [ "$rc" -eq 0 ] && [ "$got" = "1000:L 1010:R 3020:L 3030:R" ] &&
	   grep -q '^stage: .*brir4.wav (true-stereo, 4 channels, 48000 Hz' "$tmp/stdout"; then
		ok "--brir with a 4-channel file: LL, LR, RL, RR land on the right ear at the right frame"
	else
		not_ok_run "--brir with a 4-channel file: LL, LR, RL, RR land on the right ear at the right frame" \
			"exit $rc; peaks: $got" "want: 1000:L 1010:R 3020:L 3030:R"
	fi
	expect_error "--brir with a 3-channel file is refused, naming the file and the layouts" \
		"$tmp/staged3.wav" \
		-F "$tmp/brir3.wav: 3 channels" \
		"$tmp/impulses.wav" "$tmp/staged3.wav" --brir "$tmp/brir3.wav"
	expect_error "--brir with a missing file is refused" \
		"$tmp/staged4.wav" \
		-F "$tmp/none.wav" \
		"$tmp/impulses.wav" "$tmp/staged4.wav" --brir "$tmp/none.wav"
else
	skip "--brir with a 4-channel file: LL, LR, RL, RR land on the right ear at the right frame" "no python3"
	skip "--brir with a 3-channel file is refused, naming the file and the layouts" "no python3"
	skip "--brir with a missing file is refused" "no python3"
fi

# ---- errors --------------------------------------------------------------

out=$tmp/error-out.wav

expect_error "a missing input file: exit 1, the reason, no output" "$out" \
	-Fx "iemstage-render: $tmp/missing.wav: No such file or directory" \
	"$tmp/missing.wav" "$out"

printf 'junk, not audio\n' >"$tmp/junk.wav"
expect_error "an input libsndfile cannot read: exit 1, no output" "$out" \
	-F "iemstage-render: $tmp/junk.wav: " \
	"$tmp/junk.wav" "$out"

printf 'Preamp: -3 dB\nFilter 1: ON PK Fc 100 Hz Gain banana dB Q 1\n' >"$tmp/broken-eq.txt"
expect_error "a broken EQ file: exit 1, FILE:LINE:COLUMN: message, no output" "$out" \
	-E "^$tmp/broken-eq\.txt:2:[0-9]+: ." \
	"$dry" "$out" --eq "$tmp/broken-eq.txt"

expect_error "an unknown parameter via --set: exit 1, named in the message, no output" "$out" \
	-E "^iemstage-render: --set no\.such\.param=1: ." \
	"$dry" "$out" --set no.such.param=1

expect_error "a bad value via --set: exit 1, named in the message, no output" "$out" \
	-E "^iemstage-render: --set eq\.1\.freq=banana: ." \
	"$dry" "$out" --set eq.1.freq=banana

expect_error "an output in a missing directory: exit 1, no output" "$tmp/nodir/out.wav" \
	-F "iemstage-render: $tmp/nodir/out.wav: " \
	"$dry" "$tmp/nodir/out.wav"

run "$dry" "$out" --set eq.1.freq
if [ "$rc" -eq 2 ] && no_output "$out"; then
	ok "--set without NAME=VALUE is a usage error (exit 2)"
else
	not_ok_run "--set without NAME=VALUE is a usage error (exit 2)" "exit $rc"
fi

run "$dry" "$out" --no-such-option
if [ "$rc" -eq 2 ] && no_output "$out"; then
	ok "an unknown option is a usage error (exit 2)"
else
	not_ok_run "an unknown option is a usage error (exit 2)" "exit $rc"
fi

# ---- --profile ---------------------------------------------------------------

# Profiles from a private search path only: never the user's own.
export IEMSTAGE_PROFILE_PATH=$tmp/profiles
mkdir -p "$tmp/profiles" "$tmp/elsewhere"
cp "$demo_eq" "$tmp/elsewhere/eq.txt"
cat >"$tmp/profiles/quiet.json" <<'JSON'
{ "iemstage": 1, "kind": "listening", "output": { "gain": -4 } }
JSON
cat >"$tmp/elsewhere/my-iem.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"listening": "quiet",
	"eq": { "import": "eq.txt" },
	"trim": { "gain": -2 }
}
JSON
cp "$tmp/elsewhere/my-iem.json" "$tmp/profiles/by-id.json"
sed -i 's|"eq.txt"|"../elsewhere/eq.txt"|' "$tmp/profiles/by-id.json"
chmod 644 "$tmp"/profiles/*.json "$tmp"/elsewhere/*

run "$dry" "$tmp/ref.wav" --eq "$demo_eq" --set output.gain=-6 --quiet
run "$dry" "$tmp/prof.wav" --profile "$tmp/elsewhere/my-iem.json" --quiet
if [ "$rc" -eq 0 ] && [ "$(compare_dbfs "$tmp/ref.wav" "$tmp/prof.wav")" = "-inf" ]; then
	ok "--profile FILE: the imported EQ, the preset's output gain and the trim, as --eq and --set give them"
else
	not_ok_run "--profile FILE: the imported EQ, the preset's output gain and the trim, as --eq and --set give them" \
		"exit $rc, difference $(compare_dbfs "$tmp/ref.wav" "$tmp/prof.wav")"
fi

run "$dry" "$tmp/prof-id.wav" --profile by-id --quiet
if [ "$rc" -eq 0 ] && [ "$(compare_dbfs "$tmp/ref.wav" "$tmp/prof-id.wav")" = "-inf" ]; then
	ok "--profile ID finds the profile in the search path"
else
	not_ok_run "--profile ID finds the profile in the search path" "exit $rc"
fi

run "$dry" "$tmp/prof-set.wav" --profile by-id --set output.gain=-6 --set eq.1.gain=0 --quiet
if [ "$rc" -eq 0 ] && [ "$(compare_dbfs "$tmp/ref.wav" "$tmp/prof-set.wav")" != "-inf" ]; then
	ok "--set overrides the profile"
else
	not_ok_run "--set overrides the profile" "exit $rc"
fi

printf '{ "iemstage": 1, "kind": "device",\n  "eq": { "bands": [ { "type": "peaking", "gian": 3 } ] } }\n' \
	>"$tmp/profiles/broken.json"
chmod 644 "$tmp/profiles/broken.json"
expect_error "a broken profile: exit 1, FILE:LINE:COLUMN: pointer: message, no output" "$out" \
	-Fx "iemstage-render: $tmp/profiles/broken.json:2:43: /eq/bands/0/gian: unknown member \"gian\" in a band (known: type, freq, q, gain, channel)" \
	"$dry" "$out" --profile broken

expect_error "a missing profile id: exit 1, said so, no output" "$out" \
	-Fx "iemstage-render: no profile 'nope' in the search path (see the README's Profiles section)" \
	"$dry" "$out" --profile nope

sed 's/"quiet"/"loud"/' "$tmp/profiles/by-id.json" >"$tmp/profiles/no-preset.json"
chmod 644 "$tmp/profiles/no-preset.json"
expect_error "a device profile naming a missing preset: exit 1, the pointer, no output" "$out" \
	-Fx "iemstage-render: $tmp/profiles/no-preset.json: /listening: no listening preset \"loud\" in the search path" \
	"$dry" "$out" --profile no-preset

chmod 666 "$tmp/profiles/by-id.json"
expect_error "a world-writable profile is refused: exit 1, no output" "$out" \
	-Fx "iemstage-render: $tmp/profiles/by-id.json: writable by group or others (mode 666): refused" \
	"$dry" "$out" --profile by-id
unset IEMSTAGE_PROFILE_PATH

# ---- listings ------------------------------------------------------------

run --list-params
if [ "$rc" -eq 0 ] && grep -q '^eq\.N\.freq ' "$tmp/stdout" &&
   grep -q '^output\.gain ' "$tmp/stdout" && ! grep -q '^eq\.2\.' "$tmp/stdout"; then
	ok "--list-params lists eq.N.freq and output.gain, bands folded into eq.N.*"
else
	not_ok_run "--list-params lists eq.N.freq and output.gain, bands folded into eq.N.*" "exit $rc"
fi

run --help
if [ "$rc" -eq 0 ] && grep -q -- '--demo-piece' "$tmp/stdout" &&
   grep -q -- '--compare' "$tmp/stdout"; then
	ok "--help documents the options and the diagnostics"
else
	not_ok_run "--help documents the options and the diagnostics" "exit $rc"
fi

tap_done
