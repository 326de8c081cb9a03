#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# No allocation in libpipewire-module-iemstage's process path, over 10^5
# cycles with parameter changes. The module runs in iem-alloc-host
# (iem-host with a malloc-counting interposer, iem-alloc-count.c) in a
# private PipeWire session (build-aux/pw-session.sh); every malloc, calloc,
# realloc, memalign, posix_memalign, aligned_alloc, valloc and free made on
# the host's data thread (where the module's process callbacks run) is
# counted while armed.
#
# The graph runs at 192 kHz with a quantum of 16 frames (about 12000 cycles
# a second), noise plays into the virtual sink through EQ and a room, and
# while 10^5 cycles pass, set-params change EQ gains, stage.angle (a new
# room, built on the module's worker and crossfaded in), bypass and
# stage.mode (room, crossfeed, off). The count must be 0; then the host's
# data thread is made to allocate once (a loop invoke), and the count must
# be 1: the counter sees what it should.
#
#   tests/integration/test-module-alloc.sh MODULE ALLOC_HOST SYSTEM_MODULEDIR
#
# ALLOC_HOST "none" (a sanitizer build) skips, saying why.

set -uo pipefail

usage="usage: $0 libpipewire-module-iemstage.so iem-alloc-host pipewire-moduledir"
module=${1:?$usage}
host=${2:?$usage}
system_moduledir=${3:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/iemstaged-session.sh"
session=$top/build-aux/pw-session.sh
cycles_wanted=100000

if [ "$host" = none ]; then
	echo "1..0 # SKIP built with -Db_sanitize=${IEM_SANITIZE:-?}: the sanitizer's malloc cannot be interposed"
	exit 0
fi

need_tools pipewire wireplumber dbus-daemon pw-cli pw-play pw-metadata pw-dump python3 timeout

iem_scratch

tool() { PYTHONPATH="$top/tests/lib" python3 "$top/tests/integration/module-tool.py" "$@"; }
dump() { timeout 5 pw-dump 2>/dev/null; }
info_prop() { dump | tool info "$sink" "$1" 2>/dev/null; }

# 30 s of quiet noise, 16-bit (pw-play converts it to the graph's rate)
python3 - "$tmp/noise.wav" <<-'EOF'
	import random, struct, sys
	rnd = random.Random(5)
	n = 30 * 48000
	data = struct.pack("<%dh" % (2 * n), *(rnd.randint(-1000, 1000) for _ in range(2 * n)))
	with open(sys.argv[1], "wb") as f:
	    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
	    f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 48000, 192000, 4, 16))
	    f.write(b"data" + struct.pack("<I", len(data)) + data)
	EOF

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

sink=iemstage.alloc
host_log=$tmp/host.log
"$host" "{ target.object = \"$IEM_SESSION_SINK\" node.name = $sink
	params = { eq.1.type = lowshelf eq.1.freq = 105 eq.1.gain = 4 eq.2.type = peaking
		eq.2.freq = 3000 eq.2.gain = -5 stage.mode = room stage.hrtf = model room.rt60 = 0.2 } }" \
	</dev/null >"$host_log" 2>&1 &
host_pid=$!
children+=("$host_pid")

has_sink() { dump | tool id "$sink" >/dev/null 2>&1; }
if wait_until 10000 has_sink; then
	ok "start: the session is up, iem-alloc-host made the virtual sink $sink"
else
	not_ok "start: iem-alloc-host made the virtual sink $sink" "$(cat "$host_log")"
	tap_done
	exit 1
fi
id=$(dump | tool id "$sink")

pw-metadata -n settings 0 clock.min-quantum 16 >/dev/null 2>&1
pw-metadata -n settings 0 clock.force-quantum 16 >/dev/null 2>&1
pw-metadata -n settings 0 clock.force-rate 192000 >/dev/null 2>&1
timeout 60 pw-play --target "$sink" "$tmp/noise.wav" >"$tmp/play.log" 2>&1 &
play_pid=$!
children+=("$play_pid")

at_speed() { [ "$(info_prop iemstage.rate)" = 192000 ] && [ "$(info_prop iemstage.quantum)" = 16 ]; }
what="the virtual sink runs at 192 kHz, 16 frames a cycle"
if wait_until 15000 at_speed; then
	ok "$what"
else
	not_ok "$what" "iemstage.rate $(info_prop iemstage.rate), iemstage.quantum $(info_prop iemstage.quantum)" \
		"$(cat "$tmp/play.log")"
fi

# arm: the host prints a line once counting
host_says() { grep -qF "$1" "$host_log"; }
kill -USR1 "$host_pid"
wait_until 5000 host_says "iem-alloc: counting" || not_ok "the host counts on its data thread" "$(cat "$host_log")"
c0=$(info_prop iemstage.cycles)
u0=$(info_prop iemstage.unprocessed)

# the changes, one pw-cli each, until told to stop
(
	k=0
	while [ ! -e "$tmp/stop-changes" ]; do
		k=$((k + 1))
		case $((k % 8)) in
		0) body='"eq.1.gain" 2.0 "eq.2.gain" -3.0' ;;
		1) body='"stage.angle" 45.0' ;;
		2) body='"bypass" true' ;;
		3) body='"bypass" false "eq.1.gain" 6.0' ;;
		4) body='"stage.mode" "crossfeed"' ;;
		5) body='"stage.mode" "off" "eq.2.gain" -8.0' ;;
		6) body='"stage.mode" "room" "stage.angle" 25.0' ;;
		7) body='"stage.angle" 60.0 "output.gain" -2.0' ;;
		esac
		timeout 5 pw-cli set-param "$id" Props "{ params = [ $body ] }" >/dev/null 2>&1 &&
			echo "$k" >"$tmp/changes"
		sleep 0.1
	done
) &
changer=$!
children+=("$changer")

# pw-cli info is lighter than pw-dump while the changes come in
cycles_now() { timeout 5 pw-cli info "$id" 2>/dev/null | awk -F'"' '$1 ~ /iemstage\.cycles/ { print $2 }'; }
past() { c=$(cycles_now); [ "${c:-0}" -ge "$1" ] 2>/dev/null; }
wait_until 60000 past $((${c0:-0} + cycles_wanted))
touch "$tmp/stop-changes"
wait_until 10000 gone "$changer"
kill -USR2 "$host_pid"
wait_until 5000 host_says "iem-alloc: allocations="
c1=$(info_prop iemstage.cycles)
u1=$(info_prop iemstage.unprocessed)
changes=$(cat "$tmp/changes" 2>/dev/null || echo 0)
counts=$(grep -F "iem-alloc: allocations=" "$host_log" | tail -n 1)
cycles=$((${c1:-0} - ${c0:-0}))

what="$cycles cycles (>= $cycles_wanted) with $changes set-params (EQ gains, stage.angle, bypass, stage.mode): no allocation or free on the data thread"
if [ "$cycles" -ge "$cycles_wanted" ] && [ "$changes" -ge 20 ] &&
   [ "$counts" = "iem-alloc: allocations=0 frees=0" ]; then
	ok "$what ($counts; $((${u1:-0} - ${u0:-0})) cycles unprocessed)"
else
	not_ok "$what" "$counts" "$(grep -F 'iem-alloc:' "$host_log" | tail -n 9)" \
		"cycles $c0 -> $c1" "$(tail -n 5 "$host_log")"
fi

what="the changes landed: the last ones read back"
last=$(dump | tool props "$sink" | grep -E '^(stage.mode|bypass) ')
if [ -n "$last" ]; then
	ok "$what ($(tr '\n' ' ' <<<"$last"))"
else
	not_ok "$what" "no Props"
fi

# the negative control: an allocation on the data thread is seen
kill -USR1 "$host_pid"
counting_again() { [ "$(grep -cF "iem-alloc: counting" "$host_log")" -gt 1 ]; }
wait_until 5000 counting_again
kill -HUP "$host_pid"
n_reports=$(grep -cF "iem-alloc: allocations=" "$host_log")
reported_again() { [ "$(grep -cF "iem-alloc: allocations=" "$host_log")" -gt "$n_reports" ]; }
wait_until 5000 host_says "iem-alloc: the data thread allocated once"
kill -USR2 "$host_pid"
wait_until 5000 reported_again
control=$(grep -F "iem-alloc: allocations=" "$host_log" | tail -n 1)
what="control: one malloc(64)/free on the data thread (a loop invoke) is counted"
if [ "$control" = "iem-alloc: allocations=1 frees=1" ]; then
	ok "$what ($control, $(grep -F 'iem-alloc:   ' "$host_log" | tail -n 1 | sed 's/^iem-alloc: *//'))"
else
	not_ok "$what" "$control" "$(tail -n 5 "$host_log")"
fi

# xruns counted: the host's process stopped for 0.3 s while the graph's
# clock runs on; the first cycle after it sees the gap
x0=$(info_prop iemstage.xruns)
kill -STOP "$host_pid"
sleep 0.3
kill -CONT "$host_pid"
more_xruns() { x=$(info_prop iemstage.xruns); [ "${x:-0}" -gt "${x0:-0}" ] 2>/dev/null; }
what="the host stopped for 0.3 s while audio plays: iemstage.xruns counts it"
if wait_until 5000 more_xruns; then
	ok "$what (${x0:-?} -> $(info_prop iemstage.xruns); iemstage.late $(info_prop iemstage.late))"
else
	not_ok "$what" "iemstage.xruns ${x0:-unset} -> $(info_prop iemstage.xruns)"
fi

kill -TERM "$play_pid" 2>/dev/null
kill -TERM "$host_pid"
if wait_until 5000 gone "$host_pid"; then
	wait "$host_pid"
	rc=$?
else
	rc=-1
fi
what="SIGTERM ends iem-alloc-host (exit 0)"
if [ "$rc" -eq 0 ]; then
	ok "$what"
else
	not_ok "$what" "exit $rc" "$(tail -n 10 "$host_log")"
fi
took=$(($(now_ms) - t_start))
echo "# $((took / 1000)).$(printf '%03d' $((took % 1000))) s"
tap_done
