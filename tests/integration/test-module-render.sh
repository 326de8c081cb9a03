#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libpipewire-module-iemstage against iemstage-render, in a private
# PipeWire session (build-aux/pw-session.sh) with a null sink carrying a
# USB IEM's properties. The module runs in iem-host (a client's context,
# as iemstaged hosts it); test signals are 32-bit float WAV at the
# session's rate, played into the virtual sink with pw-play and recorded
# from the IEM sink's monitor with pw-record (float).
#
# "matches" below: iem-wavcmp match aligns the recording on the offline
# render of the same input with the same parameters (cross-correlation
# peak) and takes the largest absolute difference over the overlap, both
# channels, re the render's peak; it must be <= -90 dB and the overlap the
# whole render. The parameters exercise the EQ (three bands), a stage (a
# 4-channel BRIR; a room; crossfeed) and output gain, with the limiter
# idle (its counter must stay 0).
#
# Checks: the recording matches at quantum 64, 256 and 1024 (forced with
# clock.force-quantum, seen in the node's iemstage.quantum) and across two
# quantum changes while the signal plays; after a change to 44.1 kHz
# (clock.force-rate) it matches the render at 44.1 kHz; every parameter in
# the node's PropInfo is set to a valid non-default value in one
# set-param and reads back, then back to its default; representative
# changes (an EQ gain, output.gain, bypass, crossfeed, a room) each match
# their render; stage.angle moved twice while a 200 Hz sine plays through
# a room leaves no discontinuity (iem-wavcmp clicks, which must also catch
# a -80 dB step added to the same recording); a stage.brir path of 900
# bytes works, one past the limit is refused; bad values in set-param and
# in the module args are refused naming the key, and the node keeps
# running. Latency, with iem-latency-peer standing in for an IEM that
# reports one (the null sink reports zero): the virtual sink's input ports
# report the IEM's playback latency exactly, an app playing to it sees
# that on its ports, a player's capture latency reaches the IEM (and goes
# when the player does); and no delay: in one recording of the player's
# output and the IEM's monitor, the monitor is the render of the player's
# output at the same lag as with the player straight into the IEM.
#
#   tests/integration/test-module-render.sh RENDER MODULE HOST WAVCMP SYSTEM_MODULEDIR PEER

set -uo pipefail

usage="usage: $0 iemstage-render libpipewire-module-iemstage.so iem-host iem-wavcmp pipewire-moduledir iem-latency-peer"
render=${1:?$usage}
module=${2:?$usage}
host=${3:?$usage}
wavcmp=${4:?$usage}
system_moduledir=${5:?$usage}
peer=${6:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/iemstaged-session.sh"
session=$top/build-aux/pw-session.sh

need_tools pipewire wireplumber dbus-daemon pw-cli pw-play pw-record pw-link pw-metadata \
	pw-dump python3 timeout

iem_scratch

# stop PID [SIGNAL]: signal it, wait up to 5 s (then SIGKILL); $stop_rc.
stop()
{
	local pid=$1 i
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	if wait_until 5000 gone "$pid"; then
		wait "$pid" 2>/dev/null
		stop_rc=$?
	else
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		stop_rc=-1
	fi
	for i in "${!children[@]}"; do
		[ "${children[i]}" = "$pid" ] && unset 'children[i]'
	done
}

tool() { PYTHONPATH="$top/tests/lib" python3 "$top/tests/integration/module-tool.py" "$@"; }
tool gen "$tmp"

PIPEWIRE_MODULE_DIR=$(dirname "$module"):$system_moduledir
export PIPEWIRE_MODULE_DIR

t_start=$(now_ms)
if ! out=$(iem_session_start "$dir"); then
	not_ok "start: the private session is up" "$out"
	tap_done
	exit 1
fi
eval "$("$session" env "$dir")"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state \
	XDG_CACHE_HOME=$tmp/cache
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

iem=alsa_output.usb-Test_IEM_DAC-00.analog-stereo
plug "$iem" "Test IEM DAC Analog Stereo" \
	"device.bus = usb device.vendor.id = 0x2fc6 device.product.id = 0xf06a device.api = alsa
	 device.product.name = \"Test IEM DAC\" node.nick = \"Test IEM\""
if wait_node "$iem"; then
	ok "start: the session is up, with a null sink carrying a USB IEM's properties ($iem)"
else
	not_ok "start: a null sink carrying a USB IEM's properties" "$(pw-cli ls Node 2>&1 | tail -n 20)"
	tap_done
	exit 1
fi

# ---- helpers ------------------------------------------------------------------

dump() { timeout 5 pw-dump 2>/dev/null; }
info_prop() { dump | tool info "$1" "$2" 2>/dev/null; }

links()
{
	timeout 5 pw-link -l 2>/dev/null | awk '
		/^[^ \t]/ { port = $0; next }
		$1 == "|->" { print port " -> " $2 }'
}

linked()
{
	local l
	l=$(links)
	grep -qFx "$1:output_FL -> $2:playback_FL" <<<"$l" &&
		grep -qFx "$1:output_FR -> $2:playback_FR" <<<"$l"
}

rec_linked()
{
	local l
	l=$(links)
	grep -q " -> $1:input_FL\$" <<<"$l" && grep -q " -> $1:input_FR\$" <<<"$l"
}

# record_start [RATE]: pw-record of the IEM's monitor into $recorded, linked.
rec_count=0
record_start()
{
	rec_count=$((rec_count + 1))
	local name=iem-test-recorder-$rec_count
	recorded=$tmp/recorded-$rec_count.wav
	pw-record --target "$iem" -P "{ stream.capture.sink = true node.name = $name }" \
		--rate "${1:-48000}" --channels 2 --format f32 "$recorded" >"$tmp/record.log" 2>&1 &
	rec_pid=$!
	children+=("$rec_pid")
	wait_until 10000 rec_linked "$name" && return 0
	measure_err="pw-record was not linked to the monitor: $(cat "$tmp/record.log")"
	stop "$rec_pid"
	return 1
}

# measure FILE [RATE]: FILE into the virtual sink, the IEM's monitor into
# $recorded.
measure()
{
	local rc
	measure_err=
	record_start "${2:-48000}" || return 1
	timeout 30 pw-play --target "$sink" "$1" >"$tmp/play.log" 2>&1
	rc=$?
	stop "$rec_pid" INT
	if [ "$rc" -ne 0 ]; then
		measure_err="pw-play exited $rc: $(cat "$tmp/play.log")"
		return 1
	fi
}

# matches REFERENCE: $recorded against it; $match_out says how.
matches()
{
	match_out=$("$wavcmp" match "$recorded" "$1" 2>&1) || return 1
	local err overlap frames
	err=$(sed -n 's/.*err_db=\([^ ]*\).*/\1/p' <<<"$match_out")
	overlap=$(sed -n 's/.*overlap=\([0-9]*\).*/\1/p' <<<"$match_out")
	frames=$(sed -n 's/.*ref_frames=\([0-9]*\).*/\1/p' <<<"$match_out")
	[ "$overlap" = "$frames" ] || return 1
	[ "$err" = -inf ] || awk -v e="$err" 'BEGIN { exit !(e + 0 == e && e <= -90) }'
}

# measure_matches FILE REFERENCE [RATE]: measure and matches, up to three
# times: on a loaded machine a player can miss a cycle (at quantum 64 it
# does, once in a few runs, without the module too). $attempts says how
# each went.
measure_matches()
{
	local k
	attempts=
	for k in 1 2 3; do
		if measure "$1" "${3:-48000}" && matches "$2"; then
			[ "$k" -gt 1 ] && attempts=" after $((k - 1)) failed attempt(s): $attempts"
			return 0
		fi
		attempts+="[$k: ${measure_err:-$match_out}] "
	done
	return 1
}

# render IN OUT [--set k=v ...]: the offline reference with the base params.
render_ref()
{
	local in=$1 out=$2
	shift 2
	"$render" "$in" "$out" --quiet "${base_set[@]}" "$@"
}

# set_props BODY: pw-cli set-param on the virtual sink.
set_props()
{
	timeout 5 pw-cli set-param "$id" Props "$1" >"$tmp/set.log" 2>&1
}

# props_are NAME VALUE...: poll (10 s) until each reads back VALUE.
props_are()
{
	local end=$(($(now_ms) + 10000)) k all p
	local pairs=("$@")
	while :; do
		all=1
		p=$(dump | tool props "$sink" 2>/dev/null)
		props_seen=
		for ((k = 0; k < ${#pairs[@]}; k += 2)); do
			v=$(awk -v n="${pairs[k]}" '$1 == n { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$p")
			props_seen+="${pairs[k]}=${v:-?} "
			awk -v a="$v" -v b="${pairs[k + 1]}" 'BEGIN {
				gsub(/"/, "", a); gsub(/"/, "", b)
				exit !(a == b || (a + 0 == a && b + 0 == b && a - b < 1e-4 && b - a < 1e-4)) }' ||
				all=0
		done
		[ "$all" -eq 1 ] && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# log_warns FROM WORD: a warning naming WORD in the host's log after line FROM.
log_warns()
{
	tail -n +"$(($1 + 1))" "$host_log" 2>/dev/null | grep '^\[W\]' | grep -qF "$2"
}

force_quantum() { timeout 5 pw-metadata -n settings 0 clock.force-quantum "$1" >/dev/null 2>&1; }
force_rate() { timeout 5 pw-metadata -n settings 0 clock.force-rate "$1" >/dev/null 2>&1; }
quantum_is() { [ "$(info_prop "$sink" iemstage.quantum)" = "$1" ]; }

# ---- the module, with EQ and a BRIR ---------------------------------------------

sink=iemstage.render
base_params=(eq.1.type=lowshelf eq.1.freq=105 eq.1.gain=4 eq.2.type=peaking eq.2.freq=3000
	eq.2.q=2 eq.2.gain=-5 eq.3.type=highshelf eq.3.freq=9000 eq.3.gain=2 output.gain=-3
	stage.mode=brir "stage.brir=$tmp/brir4.wav")
base_set=()
args_params=
for kv in "${base_params[@]}"; do
	base_set+=(--set "$kv")
	args_params+=" ${kv%%=*} = \"${kv#*=}\""
done
host_log=$tmp/host.log
"$host" "{ target.object = \"$iem\" node.name = $sink iemstage.target.description = \"Test IEM\"
	params = { $args_params } }" </dev/null >"$host_log" 2>&1 &
host_pid=$!
children+=("$host_pid")

what="the virtual sink $sink appears and WirePlumber links its output to $iem"
if wait_until 10000 sh -c "timeout 5 pw-dump 2>/dev/null | grep -qF '\"node.name\": \"$sink\"'" &&
   wait_until 10000 linked "$sink.output" "$iem"; then
	ok "$what"
else
	not_ok "$what" "$(links)" "$(tail -n 20 "$host_log")"
	tap_done
	exit 1
fi
id=$(dump | tool id "$sink")

# With nothing recording, audio played into the virtual sink must start
# the IEM's sink (the passive output stream runs with the virtual sink:
# node.group); a sink that stays suspended is silence for the listener.
node_state() { dump | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o.get("type") == "PipeWire:Interface:Node" and (o.get("info") or {}).get("props", {}).get("node.name") == sys.argv[1]:
        print(o["info"].get("state"))' "$1"; }
running() { [ "$(node_state "$1")" = running ] && [ "$(node_state "$sink.output")" = running ]; }
what="pw-play into the virtual sink alone (nothing recording) starts the output stream and the IEM's sink"
timeout 30 pw-play --target "$sink" "$tmp/long.wav" >"$tmp/play.log" 2>&1 &
play_pid=$!
children+=("$play_pid")
if wait_until 5000 running "$iem"; then
	ok "$what"
else
	not_ok "$what" "$sink.output: $(node_state "$sink.output"), $iem: $(node_state "$iem")"
fi
stop "$play_pid"

render_ref "$tmp/noise.wav" "$tmp/ref-brir.wav"
render_ref "$tmp/long.wav" "$tmp/ref-long.wav"

# ---- 1. the recording matches the render at quantum 64, 256, 1024 -------------

for q in 64 256 1024; do
	force_quantum "$q"
	what="quantum $q: EQ + 4-channel BRIR + output gain: the recording matches the render within -90 dB"
	xr0=$(info_prop "$sink" iemstage.xruns) lt0=$(info_prop "$sink" iemstage.late)
	if measure_matches "$tmp/noise.wav" "$tmp/ref-brir.wav" && wait_until 5000 quantum_is "$q"; then
		ok "$what ($match_out$attempts; xruns +$(($(info_prop "$sink" iemstage.xruns) - ${xr0:-0})), late cycles +$(($(info_prop "$sink" iemstage.late) - ${lt0:-0})))"
	else
		not_ok "$what" "$attempts" \
			"iemstage.quantum $(info_prop "$sink" iemstage.quantum);" \
			"xruns +$(($(info_prop "$sink" iemstage.xruns) - ${xr0:-0})), late cycles +$(($(info_prop "$sink" iemstage.late) - ${lt0:-0}))" \
			"$(tail -n 5 "$host_log")"
	fi
done

# ---- ... and across two quantum changes while the signal plays --------------------

# rec_at: seconds recorded so far (the size of pw-record's float WAV)
rec_at()
{
	local size
	size=$(stat -c %s "$recorded" 2>/dev/null || echo 0)
	awk -v s="$size" 'BEGIN { printf "%.3f", s / 8 / 48000 }'
}
recorded_past() { awk -v a="$(rec_at)" -v b="$1" 'BEGIN { exit !(a > b) }'; }

# quantum_changes TARGET FILE: FILE into TARGET at quantum 1024, changed to
# 256 and back to 1024 while it plays, 1 s apart (the recording's length);
# with TARGET the virtual sink, each change seen by it (iemstage.quantum,
# once a second). $why says what went wrong.
quantum_changes()
{
	local q t
	why=
	force_quantum 1024
	record_start || { why=$measure_err; return 1; }
	timeout 30 pw-play --target "$1" "$2" >"$tmp/play.log" 2>&1 &
	play_pid=$!
	children+=("$play_pid")
	for q in 1024 256 1024; do
		t=$(rec_at)
		force_quantum "$q"
		if [ "$1" = "$sink" ]; then
			wait_until 5000 quantum_is "$q" || why+="the node did not run at $q; "
		fi
		wait_until 5000 recorded_past "$(awk -v t="$t" 'BEGIN { print t + 1 }')" ||
			why+="the recording stalled at $q; "
	done
	gone "$play_pid" && why+="pw-play had finished before the last change; "
	wait_until 20000 gone "$play_pid"
	stop "$play_pid"
	stop "$rec_pid" INT
	force_quantum 0
	[ -z "$why" ]
}

# PipeWire 0.3.65's pw-play and pw-record drop or repeat frames at a
# quantum change, with nothing between them too (the control below): the
# comparison follows such slips (iem-wavcmp match --slips) and leaves out
# 0.1 s after each (the chain's memory of the input before it).
what="quantum 1024 -> 256 -> 1024 while 5 s of noise plays: between the players' slips the recording matches the render within -90 dB"
# $1: iem-wavcmp's line; the error at most -90 dB over 3/4 of the signal
slips_ok()
{
	awk -v o="$1" 'BEGIN {
		split(o, f, /[ =]/); for (i = 1; i < length(f); i += 2) v[f[i]] = f[i + 1]
		exit !((v["err_db"] == "-inf" || v["err_db"] + 0 <= -90) && v["compared"] >= 0.75 * v["ref_frames"]) }'
}
attempts=
for k in 1 2 3; do
	if quantum_changes "$sink" "$tmp/long.wav" &&
	   match_out=$("$wavcmp" match "$recorded" "$tmp/ref-long.wav" --slips 0.1 2>&1) &&
	   slips_ok "$match_out"; then
		break
	fi
	attempts+="[$k: $why${match_out:-}] "
done
if [ "$k" -le 3 ] && slips_ok "$match_out"; then
	[ "$k" -gt 1 ] && attempts=" after $((k - 1)) failed attempt(s): $attempts" || attempts=
	ok "$what ($match_out$attempts)"
else
	not_ok "$what" "$attempts"
fi
what="control: the same quantum changes with pw-play straight into the IEM sink (no module): the players' slips"
if quantum_changes "$iem" "$tmp/long.wav" &&
   control=$("$wavcmp" match "$recorded" "$tmp/long.wav" --slips 0 2>&1); then
	ok "$what ($control)"
else
	not_ok "$what" "$why" "${control:-}"
fi

# ---- 2. every Props parameter round-trips -----------------------------------------

n_params=$(dump | tool plan "$sink" "$tmp/brir4.wav" "$tmp/plan.set" "$tmp/plan.json")
what="all $n_params parameters of the node's PropInfo set to valid non-default values ($(wc -l <"$tmp/plan.set") set-params) read back"
from=$(wc -l <"$host_log")
# each set-param read back before the next is sent, then all of them
props_check() { dump | tool check "$sink" "$1" >"$tmp/check.out" 2>&1; }
k=0
while read -r body; do
	k=$((k + 1))
	set_props "$body"
	wait_until 10000 props_check "$tmp/plan.json.$k" || break
done <"$tmp/plan.set"
if wait_until 10000 props_check "$tmp/plan.json"; then
	ok "$what ($(cat "$tmp/check.out"))"
else
	not_ok "$what" "$(head -n 20 "$tmp/check.out")" "$(tail -n +"$((from + 1))" "$host_log" | head -n 5)"
fi

dump | tool defaults "$sink" "$tmp/def.set" "$tmp/def.json" >/dev/null
what="... and all of them back to their defaults"
k=0
while read -r body; do
	k=$((k + 1))
	set_props "$body"
	wait_until 10000 props_check "$tmp/def.json.$k" || break
done <"$tmp/def.set"
if wait_until 10000 props_check "$tmp/def.json"; then
	ok "$what ($(cat "$tmp/check.out"))"
else
	not_ok "$what" "$(head -n 20 "$tmp/check.out")"
fi

# back to the base settings
body="{ params = ["
for kv in "${base_params[@]}"; do
	body+=" \"${kv%%=*}\" \"${kv#*=}\""
done
body+=" ] }"
set_props "$body"
props_are stage.mode brir eq.2.gain -5 output.gain -3 || not_ok "the base settings read back" "$props_seen"

# ---- representative changes: each matches its own render ---------------------------

# change NAME WHAT SET-PARAM-PAIRS READBACK-PAIRS -- RENDER-SETS...
change()
{
	local what=$1 body=$2
	shift 2
	local readback=()
	while [ "$1" != -- ]; do
		readback+=("$1")
		shift
	done
	shift
	render_ref "$tmp/noise.wav" "$tmp/ref-change.wav" "$@"
	local differs
	differs=$("$wavcmp" match "$tmp/ref-change.wav" "$tmp/ref-brir.wav" 2>&1)
	set_props "{ params = [ $body ] }"
	if props_are "${readback[@]}" && measure_matches "$tmp/noise.wav" "$tmp/ref-change.wav"; then
		ok "$what: matches its render ($match_out$attempts); the render differs from the base one by ${differs%% *}"
	else
		not_ok "$what" "read back: $props_seen" "$attempts"
	fi
}

change "eq.2.gain -5 -> +6" '"eq.2.gain" 6.0' eq.2.gain 6 -- --set eq.2.gain=6
change "output.gain -3 -> -9" '"output.gain" -9.0' output.gain -9 -- \
	--set eq.2.gain=6 --set output.gain=-9
change "bypass true: the input unprocessed" '"bypass" true' bypass true -- \
	--set eq.2.gain=6 --set output.gain=-9 --set bypass=true
change "stage.mode crossfeed (cmoy), bypass false" \
	'"bypass" false "stage.mode" "crossfeed" "crossfeed.preset" "cmoy"' \
	stage.mode crossfeed crossfeed.preset cmoy bypass false -- \
	--set eq.2.gain=6 --set output.gain=-9 --set stage.mode=crossfeed --set crossfeed.preset=cmoy
room_set=(--set eq.2.gain=6 --set output.gain=-9 --set stage.mode=room --set stage.hrtf=model
	--set room.rt60=0.2 --set stage.angle=40)
change "stage.mode room (model HRTF, RT60 0.2 s, angle 40)" \
	'"stage.mode" "room" "stage.hrtf" "model" "room.rt60" 0.2 "stage.angle" 40.0' \
	stage.mode room room.rt60 0.2 stage.angle 40 -- "${room_set[@]}"

what="the limiter stayed idle through all of it (iemstage.limiter.events)"
ev=$(info_prop "$sink" iemstage.limiter.events)
if [ "${ev:-0}" = 0 ]; then
	ok "$what (0)"
else
	not_ok "$what" "iemstage.limiter.events = $ev"
fi

# ---- stage.angle during playback: no discontinuity --------------------------------

# The detector (iem-wavcmp clicks): the third difference of the recording
# in 5 ms blocks, the largest block in dB re the signal's peak. A steady
# 200 Hz sine gives about -95 dB, a step of -60 dB re peak about -54, one
# of -66 dB about -60: more than -60 dB is a discontinuity. (A corner in the
# envelope shows too: the end of the stage's 50 ms crossfade, about -66 dB
# for a 5 dB level change at 200 Hz.) It looks from
# 0.05 s before each change is sent to 0.6 s after (the room is built, the
# 50 ms crossfade runs); the players' own slips elsewhere are not ours.
what="stage.angle 40 -> 60 -> 20 while a 200 Hz sine plays through the room: no discontinuity (third-difference residual <= -60 dB re peak)"
why=
if record_start; then
	c0=$(info_prop "$sink" iemstage.cycles)
	timeout 30 pw-play --target "$sink" "$tmp/sine200.wav" >"$tmp/play.log" 2>&1 &
	play_pid=$!
	children+=("$play_pid")
	# 1 s in (the node's cycle counter), then each change read back (the
	# worker has built the room and the crossfade has started)
	cycles_past() { [ "$(info_prop "$sink" iemstage.cycles)" -gt "$1" ] 2>/dev/null; }
	wait_until 8000 cycles_past $((${c0:-0} + 48000 / 1024)) || why+="the node did not run; "
	t1=$(rec_at)
	set_props '{ params = [ "stage.angle" 60.0 ] }'
	props_are stage.angle 60 || why+="stage.angle 60 not read back; "
	wait_until 3000 recorded_past "$(awk -v t="$t1" 'BEGIN { print t + 0.8 }')"
	t2=$(rec_at)
	set_props '{ params = [ "stage.angle" 20.0 ] }'
	props_are stage.angle 20 || why+="stage.angle 20 not read back; "
	gone "$play_pid" && why+="pw-play had finished before the last change; "
	wait_until 20000 gone "$play_pid"
	stop "$play_pid"
	stop "$rec_pid" INT
	windows=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f:%.3f,%.3f:%.3f", a - 0.05, a + 0.6, b - 0.05, b + 0.6 }')
	clicks=$("$wavcmp" clicks "$recorded" --in "$windows" 2>&1)
	everywhere=$("$wavcmp" clicks "$recorded" 2>&1)
	injected=$("$wavcmp" clicks "$recorded" 0.3 0.3 "$(awk -v a="$t1" 'BEGIN { print a + 0.3 }')" -63 --in "$windows" 2>&1)
	c=$(sed -n 's/.*resid_db=\([^ ]*\).*/\1/p' <<<"$clicks")
	ci=$(sed -n 's/.*resid_db=\([^ ]*\).*/\1/p' <<<"$injected")
	if [ -z "$why" ] && awk -v c="$c" 'BEGIN { exit !(c + 0 == c && c <= -60) }'; then
		ok "$what (changes at $t1 s and $t2 s: $clicks; over the whole recording: $everywhere)"
	else
		not_ok "$what" "$why" "changes at $t1 s and $t2 s: $clicks" "whole recording: $everywhere"
	fi
	what="the discontinuity detector catches a -63 dB step added to that recording 0.3 s after the first change"
	if awk -v c="$ci" 'BEGIN { exit !(c + 0 == c && c > -60) }'; then
		ok "$what ($injected)"
	else
		not_ok "$what" "$injected"
	fi
else
	not_ok "$what" "$measure_err"
fi

# ---- a long stage.brir path --------------------------------------------------------

# long_path N: a copy of the BRIR at a path of N bytes (directories of 100).
long_path()
{
	local p=$tmp/long
	while [ $((${#p} + 110)) -lt "$1" ]; do
		p+=/$(printf 'd%.0s' {1..100})
	done
	p+=/$(printf 'f%.0s' $(seq $(($1 - ${#p} - 9))))
	mkdir -p "$p"
	cp "$tmp/brir4.wav" "$p/brir.wav"
	echo "$p/brir.wav"
}
# pw-cli set-param builds its pod in 1 KiB: 700 bytes is what it can send
long=$(long_path 700)
what="set-param stage.brir with a path of ${#long} bytes: taken, reads back whole"
set_props "{ params = [ \"stage.mode\" \"brir\" \"stage.brir\" \"$long\" ] }"
if props_are stage.brir "$long" stage.mode brir; then
	ok "$what"
else
	not_ok "$what" "$(tail -n 3 "$host_log")"
fi

# ---- 5. bad values in set-param: refused naming the key; the node runs on -----------

set_props "{ params = [ \"stage.brir\" \"$tmp/brir4.wav\" \"eq.2.gain\" -5.0 \"output.gain\" -3.0 ] }"
props_are stage.brir "$tmp/brir4.wav" eq.2.gain -5 output.gain -3 ||
	not_ok "the base settings read back" "$props_seen"
bad_set()
{
	local key=$1 body=$2 from
	from=$(wc -l <"$host_log")
	set_props "{ params = [ \"eq.2.gain\" 1.0 $body ] }"
	what="set-param $body (with eq.2.gain 1.0) is refused, naming $key; nothing changes"
	if wait_until 5000 log_warns "$from" "$key" && props_are eq.2.gain -5; then
		ok "$what: $(tail -n +"$((from + 1))" "$host_log" | grep '^\[W\]' | head -n 1 |
			sed 's/^.*\] //' | cut -c 1-140)"
	else
		not_ok "$what" "read back: $props_seen" "$(tail -n 3 "$host_log")"
	fi
}
bad_set eq.99.gain '"eq.99.gain" 1.0'
bad_set stage.nonsense '"stage.nonsense" 1.0'
bad_set eq.1.gain '"eq.1.gain" "loud"'
bad_set bypass '"bypass" "maybe"'
bad_set eq.1.freq '"eq.1.freq" 99999.0'
bad_set stage.angle '"stage.angle" 200.0'
bad_set stage.brir '"stage.mode" "brir" "stage.brir" "/nonexistent/brir.wav"'
bad_set stage.hrtf '"stage.mode" "room" "stage.hrtf" "/nonexistent/kemar.sofa"'
bad_set eq.3.gain '"eq.3.gain" { "a" 1 }'

what="after the refused sets the node still runs: the recording matches the base render"
if measure_matches "$tmp/noise.wav" "$tmp/ref-brir.wav"; then
	ok "$what ($match_out$attempts)"
else
	not_ok "$what" "$attempts"
fi

# ---- a whole set in one string: iemstage.profile ------------------------------------

# profile_props TEXT: set-param with TEXT, { name = value ... }, as the one
# string iemstage.profile (its quotes escaped for pw-cli's JSON)
profile_props() { set_props "{ params = [ \"iemstage.profile\" \"${1//\"/\\\"}\" ] }"; }

"$render" "$tmp/noise.wav" "$tmp/ref-whole.wav" --quiet --set eq.1.type=peaking \
	--set eq.1.freq=1000 --set eq.1.gain=-4 --set output.gain=-2
profile_props "{ eq.1.type = peaking eq.1.freq = 1000 eq.1.gain = -4 output.gain = -2 }"
what="iemstage.profile: one string sets a whole set, the defaults with those set (the BRIR stage and the other bands gone)"
if props_are eq.1.type peaking eq.1.gain -4 output.gain -2 stage.mode off eq.2.gain 0 eq.3.type off &&
   measure_matches "$tmp/noise.wav" "$tmp/ref-whole.wav"; then
	ok "$what: matches its render ($match_out$attempts)"
else
	not_ok "$what" "read back: $props_seen" "$attempts" "$(tail -n 3 "$host_log")"
fi
from=$(wc -l <"$host_log")
profile_props "{ eq.1.gain = 99 output.gain = -20 }"
what="iemstage.profile with a bad value is refused, naming it; nothing changes"
if wait_until 5000 log_warns "$from" eq.1.gain && props_are eq.1.gain -4 output.gain -2; then
	ok "$what: $(tail -n +"$((from + 1))" "$host_log" | grep '^\[W\]' | head -n 1 | sed 's/^.*\] //' | cut -c 1-140)"
else
	not_ok "$what" "read back: $props_seen" "$(tail -n 3 "$host_log")"
fi
profile_props "{ $args_params }"
what="iemstage.profile back to the module's first set: it reads back and matches the base render"
if props_are stage.mode brir stage.brir "$tmp/brir4.wav" eq.2.gain -5 output.gain -3 &&
   measure_matches "$tmp/noise.wav" "$tmp/ref-brir.wav"; then
	ok "$what ($match_out$attempts)"
else
	not_ok "$what" "read back: $props_seen" "$attempts" "$(tail -n 3 "$host_log")"
fi

# ---- latency: the IEM's passed on both ways, nothing added -------------------------

# PipeWire 0.3.65's null sink reports zero latency and takes no
# ProcessLatency, so a virtual sink that reported zero would look right
# there. The IEM here is iem-latency-peer: a sink whose input ports report
# a known playback Latency (Input: what lies between them and the
# listener), with a second module instance playing to it; and a player
# whose output ports report a capture Latency (Output: how old its samples
# are). The module adds none: what the IEM reports is what the virtual
# sink reports, each figure (quantum, frames, ns) as it is.
lat_iem="iem-latency-iem"
lat_sink=iemstage.latency
want_in="quantum 0.5-1 rate 480-960 ns 10000000-20000000"
want_out="quantum 0.25-2 rate 100-200 ns 3000000-4000000"
zero="quantum 0-0 rate 0-0 ns 0-0"
# lat_is NAME PORTS DIRECTION VALUE: the node's PORTS report VALUE ($lat_seen)
lat_is() { lat_seen=$(dump | tool latency "$1" "$2" "$3" 2>&1); [ "$lat_seen" = "$4" ]; }

"$peer" sink "$lat_iem" 0.5:1:480:960:10000000:20000000 >"$tmp/peer.log" 2>&1 &
peer_pid=$!
children+=("$peer_pid")
what="the stand-in IEM (iem-latency-peer sink) reports a playback latency on its input ports"
if wait_until 10000 lat_is "$lat_iem" input Input "$want_in"; then
	ok "$what ($lat_seen)"
else
	not_ok "$what" "$lat_seen" "$(cat "$tmp/peer.log")"
fi
"$host" "{ target.object = \"$lat_iem\" node.name = $lat_sink }" </dev/null >"$tmp/lat-host.log" 2>&1 &
lat_host_pid=$!
children+=("$lat_host_pid")
what="the virtual sink's input ports report the IEM's playback latency, nothing added"
if wait_until 10000 linked "$lat_sink.output" "$lat_iem" &&
   wait_until 10000 lat_is "$lat_sink" input Input "$want_in"; then
	ok "$what ($lat_seen)"
else
	not_ok "$what" "$lat_sink: $lat_seen" "$(links)" "$(tail -n 5 "$tmp/lat-host.log")"
fi

app="iem-latency-app"
timeout 30 pw-play -P "{ node.name = $app }" --target "$lat_sink" "$tmp/long.wav" \
	>"$tmp/play.log" 2>&1 &
play_pid=$!
children+=("$play_pid")
what="an app playing to the virtual sink (pw-play) sees it on its output ports"
# app_sees: what the app's ports last said while it played ($app_seen)
app_seen="nothing (no node $app)"
app_sees()
{
	lat_is "$app" output Input "$want_in" && return 0
	case $lat_seen in "no node"*) ;; *) app_seen=$lat_seen ;; esac
	return 1
}
if wait_until 10000 app_sees; then
	ok "$what ($lat_seen)"
else
	not_ok "$what" "$app: $app_seen" "$(cat "$tmp/play.log")"
fi
stop "$play_pid"

"$peer" play "$lat_sink" 0.25:2:100:200:3000000:4000000 >"$tmp/player.log" 2>&1 &
player_pid=$!
children+=("$player_pid")
what="a player's capture latency (iem-latency-peer play) reaches the IEM's input ports unchanged"
if wait_until 10000 lat_is "$lat_iem" input Output "$want_out"; then
	ok "$what ($lat_seen)"
else
	not_ok "$what" "$lat_iem: $lat_seen" "$(cat "$tmp/player.log")"
fi
stop "$player_pid"
what="... and is zero there again once the player is gone"
if wait_until 10000 lat_is "$lat_iem" input Output "$zero"; then
	ok "$what"
else
	not_ok "$what" "$lat_iem: $lat_seen"
fi
stop "$lat_host_pid"
stop "$peer_pid"

# iem-wavcmp match aligns by cross-correlation: the matches above would
# hold whatever delay the chain added. Here one 4-channel recording takes,
# in the same cycles, the player's output (1-2: what enters the virtual
# sink) and the IEM's monitor (3-4); the lag of 3-4 on the render of 1-2
# must be the lag of 3-4 on 1-2 with the player straight into the IEM (the
# control: in PipeWire 0.3.65 the monitor of this sink, which drives the
# graph, comes one quantum after the player's output). The signal starts
# after 2 s of silence, time for the links.

# record4 TARGET: lead.wav into TARGET; 1-2 into $tmp/in4.wav, 3-4 into
# $tmp/out4.wav; $measure_err says what went wrong.
record4()
{
	local rec=iem-test-rec4 app4=iem-test-app4 rc
	local wav=$tmp/rec4.wav
	measure_err=
	rec_count=$((rec_count + 1))
	pw-record --target 0 -P "{ node.name = $rec }" --channels 4 \
		--channel-map AUX0,AUX1,AUX2,AUX3 --format f32 "$wav" >"$tmp/record.log" 2>&1 &
	rec_pid=$!
	children+=("$rec_pid")
	if ! wait_until 5000 has_port -i "$rec:input_AUX3" ||
	   ! timeout 5 pw-link "$iem:monitor_FL" "$rec:input_AUX2" ||
	   ! timeout 5 pw-link "$iem:monitor_FR" "$rec:input_AUX3"; then
		measure_err="pw-record not linked to the monitor: $(cat "$tmp/record.log")"
		stop "$rec_pid"
		return 1
	fi
	timeout 30 pw-play -P "{ node.name = $app4 }" --target "$1" "$tmp/lead.wav" \
		>"$tmp/play.log" 2>&1 &
	play_pid=$!
	children+=("$play_pid")
	local t0
	t0=$(now_ms)
	if ! wait_until 1500 has_port -o "$app4:output_FR" ||
	   ! timeout 5 pw-link "$app4:output_FL" "$rec:input_AUX0" ||
	   ! timeout 5 pw-link "$app4:output_FR" "$rec:input_AUX1" ||
	   [ $(($(now_ms) - t0)) -gt 1500 ]; then
		measure_err="pw-play not linked to pw-record within 1.5 s: $(cat "$tmp/play.log")"
	fi
	wait_until 20000 gone "$play_pid"
	stop "$play_pid"
	rc=$stop_rc
	stop "$rec_pid" INT
	[ -z "$measure_err" ] || return 1
	if [ "$rc" -ne 0 ]; then
		measure_err="pw-play exited $rc: $(cat "$tmp/play.log")"
		return 1
	fi
	python3 "$top/tests/lib/wavtool.py" split "$wav" "$tmp/in4.wav" "$tmp/out4.wav"
}
# has_port -i|-o PORT: pw-link lists it
has_port() { timeout 5 pw-link "$1" 2>/dev/null | grep -qxF "$2"; }
# field NAME LINE: NAME=value in iem-wavcmp's LINE
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

force_quantum 256
what="control at quantum 256: pw-play straight into the IEM sink, its monitor against the player's output"
lag0="" attempts=""
for k in 1 2 3; do
	control=
	if record4 "$iem" && control=$("$wavcmp" match "$tmp/out4.wav" "$tmp/in4.wav" 2>&1) &&
	   [ "$(field err_db "$control")" = -inf ]; then
		lag0=$(field lag "$control")
		break
	fi
	attempts+="[$k: ${measure_err:-$control}] "
done
if [ -n "$lag0" ]; then
	[ "$k" -gt 1 ] && attempts=" after $((k - 1)) failed attempt(s): $attempts" || attempts=
	ok "$what: the same samples $lag0 frames later ($control$attempts)"
else
	not_ok "$what" "$attempts"
fi
what="quantum 256, EQ + BRIR: the IEM's monitor is the render of the player's output at the control's lag (no delay added)"
# at_lag0 LINE: iem-wavcmp's LINE has the control's lag, -90 dB or better,
# and covers the noise (1 s)
at_lag0()
{
	[ -n "$lag0" ] && [ "$(field lag "$1")" = "$lag0" ] && [ "$(field overlap "$1")" -ge 48000 ] &&
		awk -v e="$(field err_db "$1")" 'BEGIN { exit !(e == "-inf" || (e + 0 == e && e <= -90)) }'
}
attempts="" passed=""
for k in 1 2 3; do
	match_out=
	if record4 "$sink" && render_ref "$tmp/in4.wav" "$tmp/ref4.wav" &&
	   match_out=$("$wavcmp" match "$tmp/out4.wav" "$tmp/ref4.wav" 2>&1) && at_lag0 "$match_out"; then
		passed=1
		break
	fi
	attempts+="[$k: ${measure_err:-$match_out}] "
done
if [ -n "$passed" ]; then
	[ "$k" -gt 1 ] && attempts=" after $((k - 1)) failed attempt(s): $attempts" || attempts=
	ok "$what (lag $lag0 frames as the control; $match_out$attempts)"
else
	not_ok "$what" "control lag ${lag0:-none}" "$attempts"
fi
force_quantum 0

# ---- a sample-rate change rebuilds the chain at the new rate --------------------

# The last recording: PipeWire 0.3.65 keeps a running graph at the forced
# rate after clock.force-rate goes back to 0 (or to 48000), until it is idle.

what="clock.force-rate 44100: the chain is rebuilt at 44.1 kHz and the recording matches the render of a 44.1 kHz file"
render_ref "$tmp/noise44.wav" "$tmp/ref-44.wav"
force_rate 44100
rate_is() { [ "$(info_prop "$sink" iemstage.rate)" = "$1" ]; }
if measure_matches "$tmp/noise44.wav" "$tmp/ref-44.wav" 44100 && wait_until 5000 rate_is 44100; then
	ok "$what ($match_out$attempts)"
else
	not_ok "$what" "$attempts" "iemstage.rate $(info_prop "$sink" iemstage.rate)" \
		"$(links)" "$(tail -n 5 "$host_log")"
fi
force_rate 0

# ---- the main loop does not wait for a stage being built ------------------------

# A big room (RT60 2 s in 30 m, with the default HRTF: the KEMAR file when
# installed) takes the worker a second or more; a bad set sent right after
# the room's is refused by the main loop long before the room is in. The
# module's own info lines (PIPEWIRE_DEBUG=mod.iemstage:4) say when.
what="while the worker builds a big room, the main loop refuses a bad set at once (before the room is in)"
wlog=$tmp/worker.log
PIPEWIRE_DEBUG=mod.iemstage:4 "$host" "{ target.object = \"$iem\" node.name = iemstage.worker }" \
	</dev/null >"$wlog" 2>&1 &
worker_pid=$!
children+=("$worker_pid")
has_worker_sink() { dump | tool id iemstage.worker >/dev/null 2>&1; }
if wait_until 10000 has_worker_sink; then
	wid=$(dump | tool id iemstage.worker)
	timeout 5 pw-cli set-param "$wid" Props '{ params = [ "stage.mode" "room" "room.rt60" 2.0
		"room.width" 30.0 "room.depth" 30.0 "room.height" 30.0 ] }' >/dev/null 2>&1
	timeout 5 pw-cli set-param "$wid" Props '{ params = [ "eq.1.freq" 99999.0 ] }' >/dev/null 2>&1
	room_in() { grep -q 'chain_configure()\] stage: room' "$wlog"; }
	wait_until 30000 room_in
	# [I][seconds] lines: accepted, refused, the room in
	times=$(awk '/parameter\(s\) accepted/ && !a { a = $1 } /Props refused.*eq\.1\.freq/ && !r { r = $1 }
		/stage: room/ && !d { d = $1 } END { print a, r, d }' "$wlog" | tr -d '[]IWE')
	read -r ta tr td <<<"$times"
	if [ -n "$td" ] && [ -n "$tr" ] && awk -v a="$ta" -v r="$tr" -v d="$td" 'BEGIN { exit !(r < d) }'; then
		ok "$what ($(awk -v a="$ta" -v r="$tr" -v d="$td" 'BEGIN {
			printf "refused %.0f ms after the room was asked for; the room in after %.0f ms", (r - a) * 1000, (d - a) * 1000 }'))"
	else
		not_ok "$what" "accepted/refused/room in: ${times:-none}" "$(grep -v '^$' "$wlog" | tail -n 5)"
	fi
else
	not_ok "$what" "no sink iemstage.worker" "$(tail -n 5 "$wlog")"
fi
stop "$worker_pid"

# ---- bad module args: refused naming the key ---------------------------------------

# host_refuses KEY ARGS: iem-host with ARGS exits non-zero, naming KEY.
host_refuses()
{
	local key=$1 pid
	"$host" "$2" </dev/null >"$tmp/bad.log" 2>&1 &
	pid=$!
	children+=("$pid")
	wait_until 10000 gone "$pid"
	stop "$pid"
	[ "$stop_rc" -gt 0 ] && grep '^\[E\]' "$tmp/bad.log" | grep -qF "$key"
}
bad_args()
{
	local key=$1 args="{ target.object = \"$iem\" node.name = iemstage.bad $2 }"
	what="module args ${3:-$2}: refused, naming $key"
	if host_refuses "$key" "$args"; then
		ok "$what: $(grep '^\[E\]' "$tmp/bad.log" | head -n 1 | sed 's/^.*\] //' | cut -c 1-140)"
	else
		not_ok "$what" "exit $stop_rc" "$(cat "$tmp/bad.log")"
	fi
}
bad_args target.objekt 'target.objekt = "x"'
bad_args capture.props 'capture.props = 5'
bad_args eq.99.gain 'params = { eq.99.gain = 1 }'
bad_args eq.1.gain 'params = { eq.1.gain = loud }'
bad_args bypass 'params = { bypass = maybe }'
bad_args stage.angle 'params = { stage.angle = 200 }'
bad_args stage.brir 'params = { stage.mode = brir stage.brir = "/nonexistent/brir.wav" }'
bad_args eq.1.type 'params = { eq.1.type = { a = 1 } }'

long=$(long_path 1020)
what="the module with a ${#long}-byte stage.brir path in its args loads and reads it back whole"
"$host" "{ target.object = \"$iem\" node.name = iemstage.long
	params = { stage.mode = brir stage.brir = \"$long\" } }" </dev/null >"$tmp/long.log" 2>&1 &
long_pid=$!
children+=("$long_pid")
long_is_back() { dump | tool props iemstage.long 2>/dev/null | grep -qxF "stage.brir \"$long\""; }
if wait_until 10000 long_is_back; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/long.log")"
fi
stop "$long_pid"
toolong=$(long_path 1100)
bad_args stage.brir "params = { stage.mode = brir stage.brir = \"$toolong\" }" \
	"params = { stage.mode = brir stage.brir = <a path of ${#toolong} bytes> }"

stop "$host_pid"
what="SIGTERM ends iem-host (exit 0)"
if [ "$stop_rc" -eq 0 ]; then
	ok "$what"
else
	not_ok "$what" "exit $stop_rc" "$(tail -n 10 "$host_log")"
fi

took=$(($(now_ms) - t_start))
echo "# $rec_count recordings, $((took / 1000)).$(printf '%03d' $((took % 1000))) s"
tap_done
