#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The side-by-side benchmark of issue 5, in one private PipeWire session
# (build-aux/pw-session.sh): libpipewire-module-iemstage against PipeWire's
# own libpipewire-module-filter-chain doing the same work, both fed the
# same white noise, at each forced quantum:
#
#   (a) eq        a 10-band EQ (filter-chain: bq_lowshelf, 8 bq_peaking,
#                 bq_highshelf per channel; ours: eq.N.*);
#   (b) brir      a 1 s 2x2 BRIR from one 4-channel WAV (LL LR RL RR)
#                 (filter-chain: 2 copy, 4 convolver, 2 mixer; ours:
#                 stage.mode = brir);
#   (c) overhead  a passthrough as one pw_filter node against the same as a
#                 capture + playback stream pair (bench-passthrough), and
#                 filter-chain with one copy node per channel.
#
# Each filter runs as its own process (`pipewire -c CONF`, as
# config/pipewire/iemstage.conf; bench-passthrough for (c)), so its CPU is
# its own: the schedstat run time of all its threads over the time the
# noise plays, as % of one core. The per-cycle busy time of its nodes
# comes from pw-profiler (0.3.65's pw-top has no batch mode). The output
# is recorded from the null sink's monitor as float32 and compared with a
# float64 computation of the same EQ or convolution (bench-ref). One filter
# runs at a time; runs of the two are interleaved.
#
#   tests/bench/bench-pipewire.sh [--quick | --full] [--build DIR]
#           [--runs N] [--seconds S] [--quanta "64 256 1024"]
#           [--cases "eq brir overhead"] [--keep DIR] [--moduledir DIR]
#
# --quick (the default; what `meson test --suite bench` runs): quantum 256,
# one 3 s run of each. --full: quanta 64, 256 and 1024, 5 runs of 10 s
# each (about 25 minutes). --build: the meson build directory (default
# build/). --moduledir: PipeWire's module directory, where
# module-filter-chain is (default: pkg-config's). --keep DIR: leave every recording, profiler log and
# results.tsv in DIR. It prints figures and never fails on time: dropouts
# (the machine's: the glitch column) only shorten what is compared, and a
# run without a clean stretch prints n/a. It exits 1 when a filter does not
# start, is not linked or passes no signal, and 77 (skipped) when a tool
# is missing or the module is built with a sanitizer (a stock pipewire
# cannot load it).

set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/bench
session=$top/build-aux/pw-session.sh
. "$top/tests/lib/tap.sh"	# now_ms, gone

mode=quick
build=$top/build
runs= seconds= quanta= keep=
cases="eq brir overhead"
moduledir=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=quick ;;
	--full) mode=full ;;
	--build) build=$2; shift ;;
	--runs) runs=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--quanta) quanta=$2; shift ;;
	--cases) cases=$2; shift ;;
	--keep) keep=$2; shift ;;
	--moduledir) moduledir=$2; shift ;;
	-h | --help) sed -n '3,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-pipewire: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$mode" = full ]; then
	: "${runs:=5}" "${seconds:=10}" "${quanta:=64 256 1024}"
else
	: "${runs:=1}" "${seconds:=3}" "${quanta:=256}"
fi
build_abs=$(cd "$build" 2>/dev/null && pwd) || { echo "bench-pipewire: no build directory $build" >&2; exit 2; }
build=$build_abs

skip() { echo "bench-pipewire: SKIP: $*"; exit 77; }
for p in pipewire wireplumber dbus-daemon pw-cli pw-play pw-record pw-link pw-metadata \
	pw-dump pw-profiler python3 timeout; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not found"
done
case "${IEM_SANITIZE:-none}" in
none | '') ;;
*) skip "the module is built with -Db_sanitize=$IEM_SANITIZE; a stock pipewire cannot load it" ;;
esac
module=$build/module/libpipewire-module-iemstage.so
ref=$build/tests/bench/bench-ref
passthrough=$build/tests/bench/bench-passthrough
for f in "$module" "$ref" "$passthrough"; do
	[ -x "$f" ] || [ -f "$f" ] || skip "$f not built"
done
[ -n "$moduledir" ] || moduledir=$(pkg-config --variable=moduledir libpipewire-0.3 2>/dev/null)
[ -f "$moduledir/libpipewire-module-filter-chain.so" ] ||
	skip "no libpipewire-module-filter-chain.so in '$moduledir' (--moduledir)"

tmp=$(mktemp -d)
dir=$tmp/session
children=()
cleanup()
{
	local pid
	for pid in "${children[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	"$session" stop "$dir" >/dev/null 2>&1
	if [ -n "$keep" ]; then
		mkdir -p "$keep" && cp -r "$tmp"/runs "$tmp"/results.tsv "$tmp"/*.wav "$keep"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID [SIGNAL]: signal it and wait up to 5 s, then SIGKILL.
stop()
{
	local pid=$1 end i
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	end=$(($(now_ms) + 5000))
	while ! gone "$pid" && [ "$(now_ms)" -lt "$end" ]; do
		sleep 0.02
	done
	gone "$pid" || { echo "# pid $pid ignored SIG${2:-TERM}, killed" >&2; kill -KILL "$pid" 2>/dev/null; }
	wait "$pid" 2>/dev/null
	for i in "${!children[@]}"; do
		[ "${children[i]}" = "$pid" ] && unset 'children[i]'
	done
}

# cpu_ns PID: "ALL RT": run time so far (schedstat, ns) of all its threads,
# and of those among them with a real-time policy (the data thread).
cpu_ns()
{
	local t s stat fields sum=0 rt=0
	for t in /proc/"$1"/task/*; do
		read -r s _ <"$t/schedstat" 2>/dev/null || continue
		sum=$((sum + s))
		stat=$(cat "$t/stat" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }"
		# field 41, policy: 1 SCHED_FIFO, 2 SCHED_RR
		case ${fields[38]} in 1 | 2) rt=$((rt + s)) ;; esac
	done
	echo "$sum $rt"
}

# links: "OUT-PORT -> IN-PORT" for every link.
links()
{
	timeout 5 pw-link -l 2>/dev/null | awk '
		/^[^ \t]/ { port = $0; next }
		$1 == "|->" { print port " -> " $2 }'
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for()
{
	local end=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
linked_to()	# OUT-NODE IN-NODE: both channels
{
	local l
	l=$(links)
	grep -q "^$1:[a-z]*_FL -> $2:[a-z]*_FL\$" <<<"$l" && grep -q "^$1:[a-z]*_FR -> $2:[a-z]*_FR\$" <<<"$l"
}
has_ports()	# NODE DIRECTION(-o|-i)
{
	timeout 5 pw-link "$2" 2>/dev/null | grep -q "^$1:.*_FR\$"
}

# pw-play and pw-record run their streams on their main thread; at quantum
# 64 a busy machine delays them past the cycle's deadline (dropouts that are
# neither filter's doing), so they run real-time when that is allowed.
feed_rt=
if command -v chrt >/dev/null 2>&1 && chrt -f 60 true 2>/dev/null; then
	feed_rt="chrt -f 60"
fi

# ---- the session and the signals ---------------------------------------------

PIPEWIRE_MODULE_DIR=$(dirname "$module"):$moduledir
export PIPEWIRE_MODULE_DIR
mkdir -p "$dir" "$tmp/runs"
if ! "$session" start "$dir" >"$tmp/env" 2>"$tmp/start.err"; then
	echo "bench-pipewire: the private session did not start:" >&2
	cat "$tmp/start.err" >&2
	exit 1
fi
eval "$(cat "$tmp/env")"
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state XDG_CACHE_HOME=$tmp/cache
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"
server_pid=$(awk '$1 == "pipewire" { print $2 }' "$dir/pids")

noise=$tmp/noise.wav
brir=$tmp/brir.wav
# half a second more than is measured: pw-play drops its last partial buffers
"$ref" noise "$noise" "$(awk -v s="$seconds" 'BEGIN { print s + 0.5 }')" || exit 1
"$ref" brir "$brir" || exit 1

# The EQ: the lead's example correction (dsp/tools/example-eq.h) with its
# shelves at Q 0.7071, the slope-1 shelf that filter-chain's shelves are
# fixed at (they ignore Q), so that both compute the same filter.
eq_bands=(
	"lowshelf 105 0.7071 6.5"
	"peaking 22 1.2 -4.0"
	"peaking 48 2.5 3.2"
	"peaking 180 0.9 -2.1"
	"peaking 650 1.5 1.4"
	"peaking 1900 2.0 -3.3"
	"peaking 3200 3.0 2.6"
	"peaking 5400 4.0 -5.0"
	"peaking 8100 2.0 3.0"
	"highshelf 10000 0.7071 -2.0"
)
eq_spec= eq_params="eq.preamp = 0" fc_nodes= fc_links=
for i in "${!eq_bands[@]}"; do
	read -r type freq q gain <<<"${eq_bands[i]}"
	eq_spec+="${eq_spec:+,}$type:$freq:$q:$gain"
	eq_params+=" eq.$((i + 1)).type = $type eq.$((i + 1)).freq = $freq eq.$((i + 1)).q = $q eq.$((i + 1)).gain = $gain"
	fc_nodes+="{ type = builtin name = eq$i label = bq_$type control = { \"Freq\" = $freq \"Q\" = $q \"Gain\" = $gain } }
	"
	[ "$i" -gt 0 ] && fc_links+="{ output = \"eq$((i - 1)):Out\" input = \"eq$i:In\" }
	"
done

# conf NAME MODULE-ENTRY: a client process config as config/pipewire/iemstage.conf.
conf()
{
	cat <<-EOF
	context.properties = { log.level = 2 }
	context.spa-libs = {
	    audio.convert.* = audioconvert/libspa-audioconvert
	    support.*       = support/libspa-support
	}
	context.modules = [
	    { name = libpipewire-module-rt args = { } flags = [ ifexists nofail ] }
	    { name = libpipewire-module-protocol-native }
	    { name = libpipewire-module-client-node }
	    { name = libpipewire-module-adapter }
	    $2
	]
	EOF
}

# fc NAME GRAPH: module-filter-chain as a stereo virtual sink NAME to the test sink.
fc()
{
	cat <<-EOF
	{ name = libpipewire-module-filter-chain
	    args = {
	        node.description = "$1"
	        filter.graph = { $2 }
	        audio.channels = 2
	        audio.position = [ FL FR ]
	        capture.props = { node.name = "$1" media.class = Audio/Sink }
	        playback.props = { node.name = "$1.output" node.passive = true
	            target.object = "$IEM_SESSION_SINK" }
	    }
	}
	EOF
}

ours()
{
	cat <<-EOF
	{ name = libpipewire-module-iemstage
	    args = {
	        node.name = "$1"
	        target.object = "$IEM_SESSION_SINK"
	        iemstage.target.description = "bench"
	        params = { $2 }
	    }
	}
	EOF
}

conf bench-ours "$(ours bench-ours "$eq_params")" >"$tmp/eq-ours.conf"
conf bench-peer "$(fc bench-peer "nodes = [ $fc_nodes ] links = [ $fc_links ]")" >"$tmp/eq-peer.conf"
conf bench-ours "$(ours bench-ours "stage.mode = brir stage.brir = \"$brir\"")" >"$tmp/brir-ours.conf"
brir_graph="nodes = [
	    { type = builtin name = copyL label = copy }
	    { type = builtin name = copyR label = copy }
	    { type = builtin name = convLL label = convolver config = { filename = \"$brir\" channel = 0 } }
	    { type = builtin name = convLR label = convolver config = { filename = \"$brir\" channel = 1 } }
	    { type = builtin name = convRL label = convolver config = { filename = \"$brir\" channel = 2 } }
	    { type = builtin name = convRR label = convolver config = { filename = \"$brir\" channel = 3 } }
	    { type = builtin name = mixL label = mixer }
	    { type = builtin name = mixR label = mixer }
	]
	links = [
	    { output = \"copyL:Out\" input = \"convLL:In\" }
	    { output = \"copyL:Out\" input = \"convLR:In\" }
	    { output = \"copyR:Out\" input = \"convRL:In\" }
	    { output = \"copyR:Out\" input = \"convRR:In\" }
	    { output = \"convLL:Out\" input = \"mixL:In 1\" }
	    { output = \"convRL:Out\" input = \"mixL:In 2\" }
	    { output = \"convLR:Out\" input = \"mixR:In 1\" }
	    { output = \"convRR:Out\" input = \"mixR:In 2\" }
	]
	inputs = [ \"copyL:In\" \"copyR:In\" ]
	outputs = [ \"mixL:Out\" \"mixR:Out\" ]"
conf bench-peer "$(fc bench-peer "$brir_graph")" >"$tmp/brir-peer.conf"
conf bench-fc-copy "$(fc bench-fc-copy "nodes = [ { type = builtin name = copy label = copy } ]")" \
	>"$tmp/overhead-fc-copy.conf"

# ---- one run -------------------------------------------------------------------

results=$tmp/results.tsv
echo "# case impl quantum run cpu% server% busy_mean busy_p99 busy_max cycles expected err_db gain glitches rt_cpu%" >"$results"
failures=0

# run CASE IMPL QUANTUM RUN: start the filter, play the noise into it while
# recording the test sink's monitor and logging pw-profiler; one line to
# $results, or a message and a failure count.
run()
{
	local case=$1 impl=$2 q=$3 r=$4
	local name=bench-$impl rd=$tmp/runs/$case-$impl-q$q-r$r pid rec_pid prof_pid play_pid
	local c0 c1 s0 s1 t0 t1 cmp busy err=nan gain=nan glitches=nan
	[ "$case" = overhead ] && name=bench-pt-$impl
	[ "$impl" = fc-copy ] && name=bench-fc-copy
	[ "$case" != overhead ] && [ "$impl" = ours ] && name=bench-ours
	[ "$case" != overhead ] && [ "$impl" = peer ] && name=bench-peer
	mkdir -p "$rd"

	if [ "$case" = overhead ] && [ "$impl" != fc-copy ]; then
		"$passthrough" "$impl" "$name" "$IEM_SESSION_SINK" </dev/null >"$rd/filter.log" 2>&1 &
	else
		pipewire -c "$tmp/$case-$impl.conf" </dev/null >"$rd/filter.log" 2>&1 &
	fi
	pid=$!
	children+=("$pid")
	# the pw_filter node is linked by hand; the others by WirePlumber
	if [ "$impl" = filter ]; then
		if wait_for 10 has_ports "$name" -o; then
			pw-link "$name:output_FL" "$IEM_SESSION_SINK:playback_FL" >/dev/null 2>&1
			pw-link "$name:output_FR" "$IEM_SESSION_SINK:playback_FR" >/dev/null 2>&1
		fi
	fi
	if ! wait_for 20 linked_to "$name[.a-z]*" "$IEM_SESSION_SINK"; then
		echo "# $case $impl q$q run $r: $name was not linked to $IEM_SESSION_SINK; its log:" >&2
		tail -n 20 "$rd/filter.log" | sed 's/^/#   /' >&2
		stop "$pid"
		failures=$((failures + 1))
		return 1
	fi

	$feed_rt pw-record --target "$IEM_SESSION_SINK" -P "{ stream.capture.sink = true node.name = bench-rec }" \
		--rate 48000 --channels 2 --format f32 "$rd/rec.wav" >"$rd/rec.log" 2>&1 &
	rec_pid=$!
	children+=("$rec_pid")
	wait_for 10 linked_to "$IEM_SESSION_SINK" bench-rec
	(cd "$rd" && exec pw-profiler -o profiler.log) >"$rd/profiler.out" 2>&1 &
	prof_pid=$!
	children+=("$prof_pid")
	sleep 0.3

	read -r c0 rt0 <<<"$(cpu_ns "$pid")"
	read -r s0 _ <<<"$(cpu_ns "$server_pid")"
	t0=$(now_ms)
	if [ "$impl" = filter ]; then
		$feed_rt pw-play --target 0 -P "{ node.name = bench-feed }" "$noise" >"$rd/play.log" 2>&1 &
		play_pid=$!
		children+=("$play_pid")
		if wait_for 10 has_ports bench-feed -o; then
			pw-link bench-feed:output_FL "$name:playback_FL" >/dev/null 2>&1
			pw-link bench-feed:output_FR "$name:playback_FR" >/dev/null 2>&1
		fi
		wait "$play_pid"
		stop "$play_pid"
	else
		timeout $((${seconds%.*} + 30)) $feed_rt pw-play --target "$name" -P "{ node.name = bench-feed }" \
			"$noise" >"$rd/play.log" 2>&1
	fi
	t1=$(now_ms)
	read -r c1 rt1 <<<"$(cpu_ns "$pid")"
	read -r s1 _ <<<"$(cpu_ns "$server_pid")"

	stop "$prof_pid" INT
	stop "$rec_pid" INT
	stop "$pid"

	busy=$(python3 "$here/bench-stats.py" busy "$rd/profiler.log" "$rd/Timing5.plot" "$name" bench-feed 2>&1)
	read -r mean p99 max cycles seen_q <<<"$busy"
	[ "$seen_q" = "$q" ] ||
		echo "# $case $impl q$q run $r: the profiler saw quantum ${seen_q:-?}, not $q ($busy)" >&2
	# the passthroughs against the input itself: they must be bit-exact
	case $case in
	eq) cmp=$("$ref" compare --eq "$eq_spec" "$noise" "$rd/rec.wav" 2>&1) ;;
	brir) cmp=$("$ref" compare --brir "$brir" "$noise" "$rd/rec.wav" 2>&1) ;;
	overhead) cmp=$("$ref" compare --eq "" "$noise" "$rd/rec.wav" 2>&1) ;;
	esac
	err=$(sed -n 's/.*err_db=\([^ ]*\).*/\1/p' <<<"$cmp")
	gain=$(sed -n 's/.*gain=\([^ ]*\).*/\1/p' <<<"$cmp")
	glitches=$(sed -n 's/.*glitches=\([^ ]*\).*/\1/p' <<<"$cmp")
	# no line at all: no signal came through, the filter is broken (a
	# failure); err_db=nan: dropouts left no clean stretch (the machine's)
	if [ -z "$err" ]; then
		echo "# $case $impl q$q run $r: $cmp" >&2
		err=nan
		failures=$((failures + 1))
	fi
	awk -v c="$case" -v i="$impl" -v q="$q" -v r="$r" -v dc=$((c1 - c0)) -v ds=$((s1 - s0)) \
		-v drt=$((rt1 - rt0)) \
		-v dt=$((t1 - t0)) -v mean="${mean:-nan}" -v p99="${p99:-nan}" -v max="${max:-nan}" \
		-v cyc="${cycles:-0}" -v secs="$seconds" -v err="${err:-nan}" -v gain="${gain:-nan}" \
		-v gl="${glitches:-nan}" 'BEGIN {
		printf "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%.3f\n", c, i, q, r,
			100 * dc / (dt * 1e6), 100 * ds / (dt * 1e6), mean, p99, max, cyc,
			(secs + 0.5) * 48000 / q, err, gain, gl, 100 * drt / (dt * 1e6) }' | tee -a "$results" |
		awk -F'\t' '{ printf "# %-8s %-8s q%-4d run %d: cpu %6.2f %% (rt %.2f)  server %5.2f %%  busy mean %s p99 %s max %s us (%d cycles)  err %s dB  gain %s  glitches %s\n",
			$1, $2, $3, $4, $5, $15, $6, $7, $8, $9, $10, $12, $13, $14 }'
	return 0
}

# ---- the runs --------------------------------------------------------------------

echo "# bench-pipewire ($mode): quanta $quanta, $runs run(s) of ${seconds} s of stereo white noise per filter and quantum"
echo "# machine: $(nproc) CPU(s), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1); $(pipewire --version | sed -n 's/.*libpipewire \(.*\)/libpipewire \1/p' | head -n 1)"
echo "# pw-play and pw-record: ${feed_rt:-not real-time (chrt -f refused)}"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
t_start=$(now_ms)
for q in $quanta; do
	pw-metadata -n settings 0 clock.force-quantum "$q" >/dev/null
	for ((r = 1; r <= runs; r++)); do
		for case in $cases; do
			case $case in
			eq | brir) impls="ours peer" ;;
			overhead) impls="filter streams fc-copy" ;;
			*) echo "bench-pipewire: unknown case $case" >&2; exit 2 ;;
			esac
			# alternate the order from run to run
			[ $((r % 2)) -eq 0 ] && impls=$(tr ' ' '\n' <<<"$impls" | tac | tr '\n' ' ')
			for impl in $impls; do
				run "$case" "$impl" "$q" "$r"
			done
		done
	done
done
pw-metadata -n settings 0 clock.force-quantum 0 >/dev/null
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg); took $((($(now_ms) - t_start) / 1000)) s"
echo
python3 "$here/bench-stats.py" table "$results"
if [ "$failures" -gt 0 ]; then
	echo "bench-pipewire: $failures run(s) could not be measured (see the messages above)" >&2
	exit 1
fi
exit 0
