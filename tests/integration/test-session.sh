#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The private PipeWire session (build-aux/pw-session.sh) carries real audio:
# start it, play 2 s of the demo piece to its null sink while recording the
# sink's monitor, compare the recording with what was played, stop it, and
# check that nothing is left running. Each check is one TAP line.
#
#   tests/integration/test-session.sh path/to/iemstage-render
#
# Needs pipewire, wireplumber, dbus-daemon, the pw-* tools and python3
# (standard library only); skips everything when one is missing.

set -uo pipefail

render=${1:?usage: $0 path/to/iemstage-render}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
session=$top/build-aux/pw-session.sh

need_tools pipewire wireplumber dbus-daemon pw-cli pw-play pw-record pw-link pw-metadata \
	pw-dump python3 timeout

tmp=$(mktemp -d)
dir=$tmp/session
recorder_pid=
cleanup()
{
	[ -n "$recorder_pid" ] && kill "$recorder_pid" 2>/dev/null
	"$session" stop "$dir" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# Lines of the logs, to see why without re-running by hand.
show_logs()
{
	local log
	for log in "$dir"/*.log; do
		[ -s "$log" ] && tail -n 20 "$log" | sed "s|^|# $(basename "$log"): |"
	done
}

# ---- start -----------------------------------------------------------------

mkdir -p "$dir"
t0=$(now_ms)
if "$session" start "$dir" >"$tmp/env" 2>"$tmp/start.err"; then
	started=1
	ok "start: the private session is up in $(($(now_ms) - t0)) ms"
else
	started=0
	not_ok "start: the private session is up" "$(cat "$tmp/start.err")"
fi

if [ "$started" -eq 0 ]; then
	echo "1..$n"
	exit 1
fi

# The caller's PipeWire and bus, if any, are out of reach from here on, and
# the clients below read no config of the caller's either.
eval "$(cat "$tmp/env")"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state \
	XDG_CACHE_HOME=$tmp/cache
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

mode=$(stat -c %a "$XDG_RUNTIME_DIR")
if [ "$mode" = 700 ] && [ -S "$XDG_RUNTIME_DIR/pipewire-0" ] && [ -S "$XDG_RUNTIME_DIR/bus" ] &&
   [ "$DBUS_SESSION_BUS_ADDRESS" = "unix:path=$XDG_RUNTIME_DIR/bus" ]; then
	ok "the runtime dir is private (0700) and holds the PipeWire and D-Bus sockets"
else
	not_ok "the runtime dir is private (0700) and holds the PipeWire and D-Bus sockets" \
		"mode $mode; contents: $(find "$XDG_RUNTIME_DIR" -mindepth 1 -printf '%M %f, ')"
fi

if "$session" start "$dir" >/dev/null 2>"$tmp/again.err"; then
	not_ok "a second start in the same directory is refused"
elif grep -q 'already running' "$tmp/again.err"; then
	ok "a second start in the same directory is refused"
else
	not_ok "a second start in the same directory is refused" "$(cat "$tmp/again.err")"
fi

# The WirePlumber the clients see is the one start recorded: the exported
# environment leads to the private session.
wp_pid=$(awk '$1 == "wireplumber" { print $2 }' "$dir/pids")
clients=$(timeout 10 pw-dump 2>/dev/null | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["type"] == "PipeWire:Interface:Client":
        p = o["info"]["props"]
        print(p.get("application.name"), p.get("application.process.id"))
')
if grep -qx "WirePlumber $wp_pid" <<<"$clients"; then
	ok "the exported environment reaches the session's own PipeWire and WirePlumber"
else
	not_ok "the exported environment reaches the session's own PipeWire and WirePlumber" \
		"wireplumber pid $wp_pid; clients: $(tr '\n' ',' <<<"$clients")"
fi

default=$(timeout 10 pw-metadata -n default 0 default.audio.sink 2>/dev/null)
if grep -q "\"name\":\"$IEM_SESSION_SINK\"" <<<"$default"; then
	ok "WirePlumber made the null sink $IEM_SESSION_SINK the default sink"
else
	not_ok "WirePlumber made the null sink $IEM_SESSION_SINK the default sink" "$default"
fi

# ---- play and record ---------------------------------------------------------

played=$tmp/played.wav
recorded=$tmp/recorded.wav
"$render" --demo-piece "$played" --seconds 2 --quiet ||
	not_ok "iemstage-render --demo-piece writes the test signal"

# The recorder first, linked to the sink's monitor before anything plays.
pw-record --target "$IEM_SESSION_SINK" \
	-P "{ stream.capture.sink = true node.name = iem-test-recorder }" \
	--rate 48000 --channels 2 --format f32 "$recorded" >"$tmp/record.log" 2>&1 &
recorder_pid=$!
end=$(($(now_ms) + 10000))
linked=0
while [ "$(now_ms)" -lt "$end" ] && ! gone "$recorder_pid"; do
	links=$(pw-link -l 2>/dev/null)
	if grep -q "|-> iem-test-recorder:input_FL" <<<"$links" &&
	   grep -q "|-> iem-test-recorder:input_FR" <<<"$links"; then
		linked=1
		break
	fi
	sleep 0.05
done

if [ "$linked" -eq 1 ]; then
	ok "pw-record is linked to the monitor of $IEM_SESSION_SINK"
	t0=$(now_ms)
	timeout 30 pw-play --target "$IEM_SESSION_SINK" "$played" >"$tmp/play.log" 2>&1
	rc=$?
	took=$(($(now_ms) - t0))
	# The null sink's timer paces the graph: 2 s of audio take 2 s, not
	# less (a freewheeling graph) and not much more (a stalled one).
	if [ "$rc" -eq 0 ] && [ "$took" -ge 1900 ] && [ "$took" -le 6000 ]; then
		ok "pw-play plays 2 s to $IEM_SESSION_SINK in real time ($took ms)"
	else
		not_ok "pw-play plays 2 s to $IEM_SESSION_SINK in real time" \
			"exit $rc after $took ms" "$(cat "$tmp/play.log")"
	fi
	# Let the last quantum through, then end the recording.
	sleep 0.3
else
	not_ok "pw-record is linked to the monitor of $IEM_SESSION_SINK" \
		"$(cat "$tmp/record.log")" "$(pw-link -l 2>&1)"
	show_logs
fi
kill -INT "$recorder_pid" 2>/dev/null
wait "$recorder_pid" 2>/dev/null
recorder_pid=

# Align by the first sample above -40 dBFS, refine by least squares over
# +-64 frames, then compare the aligned recording with what was played.
# The path is float all the way (F32 file, F32P graph, F32 file, volume 1),
# so the two should be identical; -60 dB leaves room for a dither or
# resampler stage should the session ever get one. pw-play (0.3.65) drops
# its last partial buffers, so the last 0.25 s of the file are not compared.
analysis=$(python3 - "$played" "$recorded" <<-'EOF' 2>&1
	import math, struct, sys

	def read_wav(path):
	    with open(path, "rb") as f:
	        data = f.read()
	    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
	        sys.exit(f"{path}: not a RIFF/WAVE file")
	    pos, fmt, body = 12, None, None
	    while pos + 8 <= len(data):
	        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
	        chunk = data[pos + 8:pos + 8 + size]
	        if cid == b"fmt ":
	            tag, channels, rate = struct.unpack_from("<HHI", chunk)
	            bits = struct.unpack_from("<H", chunk, 14)[0]
	            if tag == 0xFFFE:
	                tag = struct.unpack_from("<H", chunk, 24)[0]
	            fmt = (tag, channels, rate, bits)
	        elif cid == b"data":
	            body = chunk
	        pos += 8 + size + (size & 1)
	    if fmt is None or body is None:
	        sys.exit(f"{path}: no fmt or data chunk")
	    if (fmt[0], fmt[1], fmt[3]) != (3, 2, 32):
	        sys.exit(f"{path}: not 32-bit float stereo (format {fmt})")
	    frames = len(body) // 8
	    v = struct.unpack("<%df" % (2 * frames), body[:8 * frames])
	    return fmt[2], v[0::2], v[1::2]

	def onset(left, right, threshold=0.01):
	    return next((i for i in range(len(left))
	                 if abs(left[i]) > threshold or abs(right[i]) > threshold), None)

	def db(x):
	    return 10 * math.log10(x) if x > 0 else -math.inf

	rate_a, al, ar = read_wav(sys.argv[1])
	rate_b, bl, br = read_wav(sys.argv[2])
	if rate_a != rate_b:
	    sys.exit(f"rates differ: played {rate_a}, recorded {rate_b}")
	a0, b0 = onset(al, ar), onset(bl, br)
	if a0 is None or b0 is None:
	    sys.exit(f"no signal: onset played {a0}, recorded {b0} ({len(bl)} frames recorded)")
	window = 2048
	best = None
	for lag in range(b0 - a0 - 64, b0 - a0 + 65):
	    if lag < 0 or lag + a0 + window > len(bl):
	        continue
	    e = sum((bl[i + lag] - al[i]) ** 2 + (br[i + lag] - ar[i]) ** 2
	            for i in range(a0, a0 + window))
	    if best is None or e < best[0]:
	        best = (e, lag)
	if best is None:
	    sys.exit(f"recording too short to align ({len(bl)} frames)")
	lag = best[1]
	n = len(al) - rate_a // 4
	if lag + n > len(bl):
	    sys.exit(f"recording cut short: {len(bl) - lag} frames after the start, {n} needed")
	print(f"offset={lag / rate_a * 1000:.1f}ms frames={n}")
	for name, a, b in (("L", al, bl), ("R", ar, br)):
	    seg = b[lag:lag + n]
	    ea = sum(x * x for x in a[:n])
	    eb = sum(x * x for x in seg)
	    ed = sum((x - y) ** 2 for x, y in zip(a, seg))
	    print(f"{name} rms_played={db(ea / n):.2f} rms_recorded={db(eb / n):.2f} "
	          f"residual={db(ed / ea):.1f}")
	EOF
)
rc=$?
ok_levels=0
if [ "$rc" -eq 0 ]; then
	ok_levels=$(awk '
		/^[LR] / {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			d = v["rms_recorded"] - v["rms_played"]
			if (d < -1 || d > 1) bad = 1
			if (v["residual"] != "-inf" && v["residual"] > -60) bad = 1
			checked++
		}
		END { print (checked == 2 && !bad) ? 1 : 0 }' <<<"$analysis")
fi
summary=$(paste -s -d ' ' <<<"$analysis")
if [ "$ok_levels" -eq 1 ]; then
	ok "the monitor recording holds the played signal (RMS within 1 dB, residual <= -60 dB): $summary"
else
	not_ok "the monitor recording holds the played signal (RMS within 1 dB, residual <= -60 dB)" \
		"$analysis"
	show_logs
fi

# ---- stop --------------------------------------------------------------------

mapfile -t pids < <(awk '{ print $2 }' "$dir/pids")
t0=$(now_ms)
if "$session" stop "$dir" 2>"$tmp/stop.err"; then
	left=()
	for pid in "${pids[@]}"; do
		gone "$pid" || left+=("$pid")
	done
	if [ "${#pids[@]}" -eq 3 ] && [ "${#left[@]}" -eq 0 ]; then
		ok "stop ends dbus-daemon, pipewire and wireplumber ($(($(now_ms) - t0)) ms)"
	else
		not_ok "stop ends dbus-daemon, pipewire and wireplumber" \
			"recorded: ${pids[*]}; still running: ${left[*]}"
	fi
else
	not_ok "stop ends dbus-daemon, pipewire and wireplumber" "$(cat "$tmp/stop.err")"
fi

leftover=$(ls -A "$XDG_RUNTIME_DIR")
if [ -z "$leftover" ]; then
	ok "nothing is left in the runtime dir"
else
	not_ok "nothing is left in the runtime dir" "$leftover"
fi

if "$session" stop "$dir" 2>"$tmp/stop.err" && [ ! -s "$tmp/stop.err" ]; then
	ok "a second stop does nothing"
else
	not_ok "a second stop does nothing" "$(cat "$tmp/stop.err")"
fi

tap_done
