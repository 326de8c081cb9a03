#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libpipewire-module-iemstage in a private PipeWire session
# (build-aux/pw-session.sh), loaded the three ways it is meant to be:
#
#   a  in the server, through a pipewire.conf.d drop-in (as
#      config/pipewire/pipewire.conf.d/iemstage.conf);
#   b  as its own process, pipewire -c (as config/pipewire/iemstage.conf);
#   c  into a client's pw_context (iem-host, the way the daemon hosts it).
#
# For each: the virtual sink appears as it should and WirePlumber links its
# output stream to the test sink; a 1 kHz sine played into it comes out of
# the test sink's monitor with the level the EQ asks for; its Props are
# listed with PropInfo, set with pw-cli set-param (one, two at once, and a
# set with a bad value that must change nothing) and read back. Then bad
# module args, and a 4-channel BRIR stage whose four paths must land on the
# right ears at the right offsets. Each check is one TAP line.
#
#   tests/integration/test-module.sh RENDER MODULE HOST SYSTEM_MODULEDIR
#
# RENDER is iemstage-render, MODULE the built libpipewire-module-iemstage.so,
# HOST the built iem-host, SYSTEM_MODULEDIR libpipewire-0.3's moduledir (the
# stock modules; PIPEWIRE_MODULE_DIR takes MODULE's directory and this one).
# Needs pipewire, wireplumber, dbus-daemon, the pw-* tools and python3
# (standard library only); skips everything when one is missing.

set -uo pipefail

usage="usage: $0 path/to/iemstage-render path/to/libpipewire-module-iemstage.so path/to/iem-host pipewire-moduledir"
render=${1:?$usage}
module=${2:?$usage}
host=${3:?$usage}
system_moduledir=${4:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
session=$top/build-aux/pw-session.sh

need_tools pipewire wireplumber dbus-daemon pw-cli pw-play pw-record pw-link pw-metadata \
	pw-dump python3 timeout

# A module built with a sanitizer loads only into a program built with it:
# iem-host, not a stock pipewire (meson passes b_sanitize in IEM_SANITIZE).
case "${IEM_SANITIZE:-none}" in
none | '') in_pipewire=1 ;;
*) in_pipewire=0 ;;
esac
no_pipewire="the module is built with -Db_sanitize=${IEM_SANITIZE:-}; a stock pipewire cannot load it"

tmp=$(mktemp -d)
dir=$tmp/session
# Our own background processes (recorders, way b and way c), stopped by pid.
children=()
cleanup()
{
	local pid pids=("${children[@]}")
	for pid in "${pids[@]}"; do
		stop "$pid" >/dev/null
	done
	"$session" stop "$dir" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

forget()
{
	local pid=$1 i
	for i in "${!children[@]}"; do
		[ "${children[i]}" = "$pid" ] && unset 'children[i]'
	done
}

# stop PID [SIGNAL]: SIGTERM (or SIGNAL), wait up to 5 s; leaves the exit
# status in $stop_rc (-1: still running, killed; where its threads were is
# printed as TAP diagnostics, with a backtrace when gdb is there).
stop()
{
	local pid=$1 signal=${2:-TERM} end t
	kill -"$signal" "$pid" 2>/dev/null
	end=$(($(now_ms) + 5000))
	while ! gone "$pid" && [ "$(now_ms)" -lt "$end" ]; do
		sleep 0.02
	done
	if gone "$pid"; then
		wait "$pid" 2>/dev/null
		stop_rc=$?
	else
		echo "# pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) ignored SIG$signal for 5 s; its threads:"
		for t in /proc/"$pid"/task/*; do
			echo "#   $(cat "$t/comm" 2>/dev/null) in $(cat "$t/wchan" 2>/dev/null)"
		done
		if command -v gdb >/dev/null 2>&1; then
			timeout 30 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 |
				grep '^#\|^Thread' | head -n 60 | sed 's/^/#   /'
		fi
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		stop_rc=-1
	fi
	forget "$pid"
}

show_logs()
{
	local log
	for log in "$dir"/*.log "$tmp"/way-*.log; do
		[ -s "$log" ] && tail -n 15 "$log" | sed "s|^|# $(basename "$log"): |"
	done
}

# ---- test signals and analysis (python3, standard library only) ----------

cat >"$tmp/tool.py" <<-'EOF'
	import json, math, re, sys
	# read_wav, write16, sine and level are tests/lib/wavtool.py's
	from wavtool import level, read_wav, sine, write16

	def db(x):
	    return 20 * math.log10(x) if x > 0 else -math.inf

	def brir(d):
	    """As tests/tools/test-render.sh: a 4-channel BRIR with one impulse
	    per path (LL at 0, LR at 10, RL at 20, RR at 30 frames), and an input
	    with a left impulse at frame 1000 and a right one at 3000."""
	    b = [[0, 0, 0, 0] for _ in range(64)]
	    for ch, at in enumerate((0, 10, 20, 30)):
	        b[at][ch] = 16384
	    write16(d + "/brir4.wav", 4, b)
	    # 0.2 s: pw-play drops its last partial buffers, none of this matters
	    x = [[0, 0] for _ in range(9600)]
	    x[1000][0] = 16384
	    x[3000][1] = 16384
	    write16(d + "/impulses.wav", 2, x)

	def peaks(path, rendered=None):
	    """'frame:ear' of every sample above -40 dBFS, frames counted from the
	    first; with a rendered file, the largest difference (dB re its peak)
	    once both are aligned on their first peak."""
	    _, b = read_wav(path)
	    def find(ch):
	        return [(i, "LR"[c]) for i in range(len(ch[0])) for c in range(2)
	                if abs(ch[c][i]) > 0.01]
	    p = find(b)
	    if not p:
	        print("none")
	        return
	    first = p[0][0]
	    line = " ".join("%d:%s" % (i - first, e) for i, e in p)
	    if rendered:
	        _, r = read_wav(rendered)
	        q = find(r)
	        r0 = q[0][0] if q else 0
	        m = max(abs(x) for c in r for x in c)
	        diff = 0.0
	        for c in range(2):
	            for i in range(len(r[c])):
	                j = first - r0 + i
	                x = b[c][j] if 0 <= j < len(b[c]) else 0.0
	                diff = max(diff, abs(x - r[c][i]))
	        line += " diff=%.1f" % (db(diff / m) if m > 0 else math.inf)
	    print(line)

	def sink(name, description):
	    """From pw-dump on stdin: the sink node.name, its id and the nodes
	    that share its node.link-group; or what is wrong with it."""
	    nodes = [(o["id"], (o.get("info") or {}).get("props") or {}) for o in json.load(sys.stdin)
	             if o.get("type") == "PipeWire:Interface:Node"]
	    found = [(i, p) for i, p in nodes if p.get("node.name") == name]
	    if not found:
	        sys.exit(f"no node {name}")
	    i, p = found[0]
	    group = p.get("node.link-group")
	    others = [q for j, q in nodes if j != i and group and q.get("node.link-group") == group]
	    errors = []
	    if p.get("media.class") != "Audio/Sink":
	        errors.append(f"media.class {p.get('media.class')!r}")
	    if p.get("node.description") != description:
	        errors.append(f"node.description {p.get('node.description')!r}, want {description!r}")
	    if not group:
	        errors.append("no node.link-group")
	    outs = [q for q in others if q.get("media.class") == "Stream/Output/Audio"]
	    if len(others) != 1 or len(outs) != 1:
	        errors.append(f"link-group {group!r} shared by {[q.get('node.name') for q in others]}, "
	                      "want one Stream/Output/Audio")
	    if errors:
	        sys.exit(f"{name} (id {i}): " + "; ".join(errors))
	    print(i, outs[0].get("node.name"))

	def prop_info(name):
	    """From pw-cli enum-params ID PropInfo on stdin: NAME's range."""
	    blocks = re.split(r"^\s*Object:", sys.stdin.read(), flags=re.M)
	    for b in blocks:
	        lines = [l.strip() for l in b.splitlines()]
	        if f'String "{name}"' not in lines:
	            continue
	        k = lines.index(f'String "{name}"')
	        rest = lines[k + 1:]
	        if not any(l.startswith("Choice: type Spa:Enum:Choice:Range") for l in rest):
	            sys.exit(f"{name}: no range")
	        c = [l for l in rest if l.startswith("Choice:")][0]
	        at = rest.index(c)
	        vals = [l.split()[1] for l in rest[at + 1:at + 4] if l.startswith("Float")]
	        if len(vals) != 3:
	            sys.exit(f"{name}: range {rest[at:at + 4]}")
	        print("default=%g min=%g max=%g" % tuple(float(v) for v in vals))
	        return
	    sys.exit(f"{name}: not listed")

	cmd = sys.argv[1]
	if cmd == "sine":
	    sine(sys.argv[2], float(sys.argv[3]))
	elif cmd == "brir":
	    brir(sys.argv[2])
	elif cmd == "level":
	    level(sys.argv[2], sys.argv[3])
	elif cmd == "peaks":
	    peaks(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
	elif cmd == "sink":
	    sink(sys.argv[2], sys.argv[3])
	elif cmd == "prop-info":
	    prop_info(sys.argv[2])
	EOF
tool() { PYTHONPATH="$top/tests/lib" python3 "$tmp/tool.py" "$@"; }

sine=$tmp/sine.wav
tool sine "$sine" 1.2
tool brir "$tmp"

# ---- helpers on the running session ----------------------------------------

# wait_sink NAME DESCRIPTION: poll pw-dump until the sink is there with all
# it should have; leaves "ID OUTPUT-NODE-NAME" in $sink_info, or the reason.
wait_sink()
{
	local end=$(($(now_ms) + 10000))
	while :; do
		sink_info=$(timeout 5 pw-dump 2>/dev/null | tool sink "$1" "$2" 2>&1) && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# wait_no_node NAME: poll (5 s) until no node is called NAME.
wait_no_node()
{
	local end=$(($(now_ms) + 5000)) d
	while :; do
		d=$(timeout 5 pw-dump 2>/dev/null) && ! grep -qF "\"node.name\": \"$1\"" <<<"$d" &&
			return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# links: "OUT-PORT -> IN-PORT" for every link.
links()
{
	timeout 5 pw-link -l 2>/dev/null | awk '
		/^[^ \t]/ { port = $0; next }
		$1 == "|->" { print port " -> " $2 }'
}

# wait_linked OUT IN: poll until OUT's output_FL/FR go to IN's playback_FL/FR.
wait_linked()
{
	local out=$1 in=$2 l end=$(($(now_ms) + 10000))
	while :; do
		l=$(links)
		grep -qFx "$out:output_FL -> $in:playback_FL" <<<"$l" &&
			grep -qFx "$out:output_FR -> $in:playback_FR" <<<"$l" && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# measure SINK FILE: play FILE into SINK while recording the test sink's
# monitor into $recorded; $measure_err says why when it fails.
recorded=
rec_count=0
measure()
{
	local target=$1 file=$2 rec_pid rec_name l end rc
	rec_count=$((rec_count + 1))
	rec_name=iem-test-recorder-$rec_count
	recorded=$tmp/recorded-$rec_count.wav
	measure_err=
	pw-record --target "$IEM_SESSION_SINK" \
		-P "{ stream.capture.sink = true node.name = $rec_name }" \
		--rate 48000 --channels 2 --format f32 "$recorded" >"$tmp/record.log" 2>&1 &
	rec_pid=$!
	children+=("$rec_pid")
	# linked to the monitor before anything plays
	end=$(($(now_ms) + 10000))
	while :; do
		l=$(links)
		grep -q " -> $rec_name:input_FL\$" <<<"$l" && grep -q " -> $rec_name:input_FR\$" <<<"$l" &&
			break
		if gone "$rec_pid" || [ "$(now_ms)" -ge "$end" ]; then
			measure_err="pw-record was not linked to the monitor: $(cat "$tmp/record.log")"
			stop "$rec_pid"
			return 1
		fi
		sleep 0.05
	done
	timeout 20 pw-play --target "$target" "$file" >"$tmp/play.log" 2>&1
	rc=$?
	# pw-play drops its last partial buffers (0.3.65): what is measured
	# ends 0.1 s before the last sound, so the tail need not be waited for
	stop "$rec_pid" INT
	if [ "$rc" -ne 0 ]; then
		measure_err="pw-play --target $target exited $rc: $(cat "$tmp/play.log")"
		return 1
	fi
	return 0
}

# level SINK: the steady-state level of the sine through SINK, dB re the
# played level: "L R seconds" in $level_out.
level()
{
	measure "$1" "$sine" || { level_out=$measure_err; return 1; }
	level_out=$(tool level "$sine" "$recorded" 2>&1)
}

# level_is WANT: both channels of $level_out within 0.2 dB of WANT.
level_is()
{
	awk -v want="$1" 'NF == 3 && $1 + 0 == $1 {
		ok = ($1 - want <= 0.2 && want - $1 <= 0.2 && $2 - want <= 0.2 && want - $2 <= 0.2)
	} END { exit !ok }' <<<"$level_out"
}

# prop ID NAME: NAME's value in the node's Props.
prop()
{
	timeout 5 pw-cli enum-params "$1" Props 2>/dev/null |
		awk -v s="String \"$2\"" '{ $1 = $1 } $0 == s { getline; print $2; exit }'
}

# props_are ID NAME VALUE...: poll (5 s) until every NAME reads back VALUE;
# $props_seen says what was read.
props_are()
{
	local id=$1 end=$(($(now_ms) + 5000)) k v all
	shift
	local pairs=("$@")
	while :; do
		all=1
		props_seen=
		for ((k = 0; k < ${#pairs[@]}; k += 2)); do
			v=$(prop "$id" "${pairs[k]}")
			props_seen+="${pairs[k]}=${v:-?} "
			awk -v a="$v" -v b="${pairs[k + 1]}" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }' ||
				all=0
		done
		[ "$all" -eq 1 ] && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# log_mentions LOG FROM WORD: a warning naming WORD in LOG after line FROM
# (polled, 5 s).
log_mentions()
{
	local log=$1 from=$2 word=$3 end=$(($(now_ms) + 5000))
	while :; do
		tail -n +"$((from + 1))" "$log" 2>/dev/null | grep -F "$word" | grep -q '^\[W\]' &&
			return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# check_way LABEL SINK DESCRIPTION LOG: everything a loaded module must do.
check_way()
{
	local way=$1 name=$2 desc=$3 log=$4 id out what from
	what="$way: the virtual sink $name appears: Audio/Sink, \"$desc\", node.link-group shared with its output stream"
	if wait_sink "$name" "$desc"; then
		ok "$what"
	else
		not_ok "$what" "$sink_info"
		show_logs
		return 1
	fi
	read -r id out <<<"$sink_info"

	what="$way: WirePlumber links the output stream $out to $IEM_SESSION_SINK"
	if wait_linked "$out" "$IEM_SESSION_SINK"; then
		ok "$what"
	else
		not_ok "$what" "$(links)"
		show_logs
		return 1
	fi

	# params = { eq.1.type = peaking eq.1.freq = 1000 eq.1.gain = -6.0 }
	what="$way: a 1 kHz sine comes out at -6.0 +- 0.2 dB (module args: peaking EQ, 1 kHz, -6 dB)"
	if level "$name" && level_is -6; then
		ok "$what: $level_out"
	else
		not_ok "$what" "$level_out"
		show_logs
	fi

	what="$way: PropInfo lists eq.1.freq with its range"
	info=$(timeout 5 pw-cli enum-params "$id" PropInfo 2>/dev/null | tool prop-info eq.1.freq 2>&1)
	if [ "$info" = "default=1000 min=5 max=40000" ]; then
		ok "$what ($info)"
	else
		not_ok "$what" "$info"
	fi

	what="$way: set-param eq.1.gain -12 reads back and the sine comes out at -12.0 +- 0.2 dB"
	timeout 5 pw-cli set-param "$id" Props '{ params = [ "eq.1.gain" -12.0 ] }' \
		>"$tmp/set.log" 2>&1
	if props_are "$id" eq.1.gain -12 && level "$name" && level_is -12; then
		ok "$what: $level_out"
	else
		not_ok "$what" "read back: $props_seen" "level: $level_out" "$(cat "$tmp/set.log")"
	fi

	what="$way: two params in one set-param both apply (eq.1.gain -3, output.gain -3: -6.0 +- 0.2 dB)"
	timeout 5 pw-cli set-param "$id" Props \
		'{ params = [ "eq.1.gain" -3.0 "output.gain" -3.0 ] }' >"$tmp/set.log" 2>&1
	if props_are "$id" eq.1.gain -3 output.gain -3 && level "$name" && level_is -6; then
		ok "$what: $level_out"
	else
		not_ok "$what" "read back: $props_seen" "level: $level_out" "$(cat "$tmp/set.log")"
	fi

	what="$way: a set-param with one bad value (eq.1.gain -20, eq.1.freq 99999) changes nothing, warns naming eq.1.freq, the node keeps running"
	from=$(wc -l <"$log")
	timeout 5 pw-cli set-param "$id" Props \
		'{ params = [ "eq.1.gain" -20.0 "eq.1.freq" 99999.0 ] }' >"$tmp/set.log" 2>&1
	local warned=0
	log_mentions "$log" "$from" eq.1.freq && warned=1
	if [ "$warned" -eq 1 ] && props_are "$id" eq.1.gain -3 eq.1.freq 1000 output.gain -3 &&
	   wait_sink "$name" "$desc" && level "$name" && level_is -6; then
		ok "$what: $level_out"
	else
		not_ok "$what" "warning naming eq.1.freq in $(basename "$log"): $warned" \
			"read back: $props_seen" "level: $level_out" "$(tail -n 5 "$log")"
	fi
	return 0
}

# ---- a: in the server, through a drop-in -----------------------------------

# The built module first, the stock ones after it.
PIPEWIRE_MODULE_DIR=$(dirname "$module"):$system_moduledir
export PIPEWIRE_MODULE_DIR

mkdir -p "$dir/config/pipewire/pipewire.conf.d"
[ "$in_pipewire" -eq 1 ] && cat >"$dir/config/pipewire/pipewire.conf.d/60-iemstage.conf" <<-EOF
	# Written by tests/integration/test-module.sh, as
	# config/pipewire/pipewire.conf.d/iemstage.conf
	context.modules = [
	    { name = libpipewire-module-iemstage
	        args = {
	            target.object = "iem-test-sink"
	            iemstage.target.description = "way a"
	            params = { eq.1.type = peaking eq.1.freq = 1000 eq.1.gain = -6.0 }
	        }
	    }
	]
	EOF

t_start=$(now_ms)
if "$session" start "$dir" >"$tmp/env" 2>"$tmp/start.err"; then
	ok "start: the private session is up (PIPEWIRE_MODULE_DIR=build:system)"
else
	not_ok "start: the private session is up" \
		"$(cat "$tmp/start.err")"
	echo "1..$n"
	exit 1
fi

eval "$(cat "$tmp/env")"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state \
	XDG_CACHE_HOME=$tmp/cache
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

if [ "$in_pipewire" -eq 1 ]; then
	check_way "a (drop-in)" iemstage.iem-test-sink "IEM Stage (way a)" "$dir/pipewire.log"
else
	skip "a (drop-in): the module in the server" "$no_pipewire"
fi

# ---- b: its own process, pipewire -c ---------------------------------------

# conf_b FILE PARAMS: a client config as config/pipewire/iemstage.conf.
conf_b()
{
	cat >"$1" <<-EOF
	# Written by tests/integration/test-module.sh, as config/pipewire/iemstage.conf
	context.properties = {
	    log.level = 2
	}
	context.spa-libs = {
	    audio.convert.* = audioconvert/libspa-audioconvert
	    support.*       = support/libspa-support
	}
	context.modules = [
	    { name = libpipewire-module-rt
	        args = { }
	        flags = [ ifexists nofail ]
	    }
	    { name = libpipewire-module-protocol-native }
	    { name = libpipewire-module-client-node }
	    { name = libpipewire-module-adapter }
	    { name = libpipewire-module-iemstage
	        args = {
	            target.object = "iem-test-sink"
	            node.name = iemstage.way-b
	            iemstage.target.description = "way b"
	            params = { $2 }
	        }
	    }
	]
	EOF
}

if [ "$in_pipewire" -eq 1 ]; then
	conf_b "$tmp/way-b.conf" "eq.1.type = peaking eq.1.freq = 1000 eq.1.gain = -6.0"
	pipewire -c "$tmp/way-b.conf" </dev/null >"$tmp/way-b.log" 2>&1 &
	b_pid=$!
	children+=("$b_pid")
	check_way "b (pipewire -c)" iemstage.way-b "IEM Stage (way b)" "$tmp/way-b.log"

	stop "$b_pid"
	what="b (pipewire -c): SIGTERM ends it (exit 0) and its nodes go"
	if [ "$stop_rc" -eq 0 ] && wait_no_node iemstage.way-b &&
	   wait_no_node iemstage.way-b.output; then
		ok "$what"
	else
		not_ok "$what" "exit $stop_rc" "$(tail -n 5 "$tmp/way-b.log")"
	fi

	conf_b "$tmp/way-b-bad.conf" "eq.1.type = peaking eq.1.freq = banana"
	timeout 10 pipewire -c "$tmp/way-b-bad.conf" </dev/null >"$tmp/way-b-bad.log" 2>&1
	rc=$?
	what="b (pipewire -c): bad module args (eq.1.freq = banana) make it exit non-zero, naming eq.1.freq"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q '^\[E\].*eq\.1\.freq' "$tmp/way-b-bad.log"; then
		ok "$what (exit $rc)"
	else
		not_ok "$what" "exit $rc" "$(cat "$tmp/way-b-bad.log")"
	fi
else
	skip "b (pipewire -c): the module as its own process" "$no_pipewire"
fi

# ---- c: into a client's pw_context -----------------------------------------

# host_args NAME DESCRIPTION PARAMS
host_args()
{
	printf '{ target.object = "iem-test-sink" node.name = %s iemstage.target.description = "%s" params = { %s } }' \
		"$1" "$2" "$3"
}

"$host" "$(host_args iemstage.way-c "way c" "eq.1.type = peaking eq.1.freq = 1000 eq.1.gain = -6.0")" \
	</dev/null >"$tmp/way-c.log" 2>&1 &
c_pid=$!
children+=("$c_pid")
check_way "c (iem-host)" iemstage.way-c "IEM Stage (way c)" "$tmp/way-c.log"

stop "$c_pid"
what="c (iem-host): SIGTERM ends it (exit 0) and its nodes go"
if [ "$stop_rc" -eq 0 ] && wait_no_node iemstage.way-c &&
   wait_no_node iemstage.way-c.output; then
	ok "$what"
else
	not_ok "$what" "exit $stop_rc" "$(tail -n 5 "$tmp/way-c.log")"
fi

# host_refuses WORD ARGS: iem-host with ARGS exits non-zero at once, saying
# it cannot load the module, and the module's message names WORD. The args
# name the node iemstage.way-c-bad, so that a module that takes them is
# seen at once.
host_refuses()
{
	local word=$1 module_args=$2 pid end
	"$host" "$module_args" </dev/null >"$tmp/way-c-bad.log" 2>&1 &
	pid=$!
	children+=("$pid")
	# refused, or loaded: then its sink shows up
	end=$(($(now_ms) + 5000))
	while ! gone "$pid" && [ "$(now_ms)" -lt "$end" ]; do
		timeout 5 pw-dump 2>/dev/null | grep -qF '"node.name": "iemstage.way-c-bad"' && break
		sleep 0.02
	done
	stop "$pid"
	refused_rc=$stop_rc
	[ "$refused_rc" -gt 0 ] && grep -qF "$word" "$tmp/way-c-bad.log" &&
		grep -q '^iem-host: cannot load' "$tmp/way-c-bad.log"
}

what="c (iem-host): bad module args (eq.1.freq = banana) make it exit non-zero, naming eq.1.freq"
if host_refuses eq.1.freq \
	"$(host_args iemstage.way-c-bad "bad" "eq.1.type = peaking eq.1.freq = banana")"; then
	ok "$what (exit $refused_rc)"
else
	not_ok "$what" "exit $refused_rc" "$(cat "$tmp/way-c-bad.log")"
fi

what="c (iem-host): an unknown parameter in the module args makes it exit non-zero, naming it"
if host_refuses no.such.param "$(host_args iemstage.way-c-bad "bad" "no.such.param = 1")"; then
	ok "$what (exit $refused_rc)"
else
	not_ok "$what" "exit $refused_rc" "$(cat "$tmp/way-c-bad.log")"
fi

what="c (iem-host): a missing stage.brir file in the module args makes it exit non-zero, naming stage.brir"
if host_refuses stage.brir \
	"$(host_args iemstage.way-c-bad "bad" "stage.mode = brir stage.brir = \"$tmp/missing.wav\"")"; then
	ok "$what (exit $refused_rc)"
else
	not_ok "$what" "exit $refused_rc" "$(cat "$tmp/way-c-bad.log")"
fi

# ---- the stage: a 4-channel BRIR --------------------------------------------

"$host" "$(host_args iemstage.brir "brir" "stage.mode = brir stage.brir = \"$tmp/brir4.wav\"")" \
	</dev/null >"$tmp/way-c-brir.log" 2>&1 &
brir_pid=$!
children+=("$brir_pid")
what="stage.mode = brir, 4-channel BRIR: LL, LR, RL, RR land on the right ear at the right offsets"
what_render="stage.mode = brir: the recording matches iemstage-render --brir within -90 dB"
want="0:L 10:R 2020:L 2030:R"
if wait_sink iemstage.brir "IEM Stage (brir)" && read -r id out <<<"$sink_info" &&
   wait_linked "$out" "$IEM_SESSION_SINK" && measure iemstage.brir "$tmp/impulses.wav"; then
	"$render" "$tmp/impulses.wav" "$tmp/rendered.wav" --brir "$tmp/brir4.wav" --quiet
	got=$(tool peaks "$recorded" "$tmp/rendered.wav" 2>&1)
	if [ "${got% diff=*}" = "$want" ]; then
		ok "$what ($want)"
	else
		not_ok "$what" "peaks: $got" "want: $want"
	fi
	diff=${got##* diff=}
	# -inf: identical
	if [ "$diff" = -inf ] || awk -v d="$diff" 'BEGIN { exit !(d + 0 == d && d <= -90) }'; then
		ok "$what_render ($diff dB)"
	else
		not_ok "$what_render" "$got"
	fi
else
	not_ok "$what" "$sink_info" "$measure_err" "$(links)"
	not_ok "$what_render" "no recording"
	show_logs
fi
stop "$brir_pid"
what="stage.mode = brir: SIGTERM ends iem-host (exit 0)"
if [ "$stop_rc" -eq 0 ]; then
	ok "$what"
else
	not_ok "$what" "exit $stop_rc" "$(tail -n 20 "$tmp/way-c-brir.log")"
fi

took=$(($(now_ms) - t_start))
echo "# $rec_count recordings, $((took / 1000)).$(printf '%03d' $((took % 1000))) s"
tap_done
