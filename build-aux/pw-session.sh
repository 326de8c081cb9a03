#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A private PipeWire session for the integration tests and demos: its own
# D-Bus session bus, pipewire and wireplumber, and a null sink to play to,
# all living under one directory. Works headless (no sound card), as root
# and as a normal user, next to a session the user already runs.
#
#   eval "$(build-aux/pw-session.sh start DIR)"   start; export the client environment
#   eval "$(build-aux/pw-session.sh env DIR)"     export it again, in another shell
#   build-aux/pw-session.sh stop DIR              stop what start started; idempotent
#   build-aux/pw-session.sh restart DIR           kill pipewire (SIGKILL), restart it and
#                                                 wireplumber on the same bus
#
# or sourced, to do the eval for you:
#
#   . build-aux/pw-session.sh
#   pw_session_start DIR && pw-play --target "$IEM_SESSION_SINK" x.wav
#   pw_session_stop DIR
#
# start exports XDG_RUNTIME_DIR, PIPEWIRE_RUNTIME_DIR, PIPEWIRE_REMOTE,
# DBUS_SESSION_BUS_ADDRESS, IEM_SESSION_DIR and IEM_SESSION_SINK (the null
# sink's node.name, "iem-test-sink": a stereo 48 kHz Audio/Sink that drives
# the graph; record its monitor with pw-record -P stream.capture.sink=true).
# It returns once PipeWire answers and WirePlumber has chosen a default sink,
# or fails after IEM_SESSION_TIMEOUT seconds (default 10) with the logs' tails.
#
# Nothing outside DIR is used or touched. The services run with an emptied
# environment: HOME, XDG_{RUNTIME,CONFIG,STATE,DATA,CACHE}_* all point into
# DIR; pipewire reads only DIR/config/pipewire (PIPEWIRE_CONFIG_DIR: no user
# or /etc config, no hardware); WirePlumber reads its stock config plus
# DIR/config/wireplumber, which turns off its ALSA, Bluetooth, V4L2 and
# libcamera monitors; the bus has no service directory but DIR/dbus-services,
# so nothing of the desktop is auto-started. PIPEWIRE_DEBUG,
# WIREPLUMBER_DEBUG, PIPEWIRE_MODULE_DIR, SPA_PLUGIN_DIR and LD_LIBRARY_PATH
# pass through. Drop-ins placed in DIR/config/pipewire/pipewire.conf.d/
# before start are loaded too (e.g. more null sinks, or a module).
#
# DIR after start: runtime/ (0700: bus, pipewire-0), config/, home/, state/,
# {dbus-daemon,pipewire,wireplumber}.log, pids ("NAME PID STARTTIME" lines;
# stop signals a pid only while its /proc entry still has that name and
# start time, so it never hits a recycled pid), env (the export lines).

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
	_pw_session_script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

	pw_session_start()
	{
		local out
		out=$("$_pw_session_script" start "$@") || return
		eval "$out"
	}

	pw_session_stop()
	{
		"$_pw_session_script" stop "$@"
	}

	return 0
fi

set -euo pipefail

sink=iem-test-sink
timeout_s=${IEM_SESSION_TIMEOUT:-10}
grace_ms=5000

say() { printf 'pw-session: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

now_ms()
{
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $((10#$t / 1000))
}

# proc_field PID N: field N (3 = state, 22 = start time) of /proc/PID/stat.
proc_field()
{
	local n=$2 stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Fields 3 onwards follow the last ')' (the name may hold anything).
	read -r -a fields <<<"${stat##*) }"
	echo "${fields[n - 3]}"
}

# alive NAME PID START: that very process is still running (not a zombie,
# not a recycled pid).
alive()
{
	local comm state start
	comm=$(cat "/proc/$2/comm" 2>/dev/null) || return 1
	[ "$comm" = "$1" ] || return 1
	start=$(proc_field "$2" 22) || return 1
	[ "$start" = "$3" ] || return 1
	state=$(proc_field "$2" 3) || return 1
	[ "$state" != Z ] && [ "$state" != X ]
}

# D-Bus address escaping: everything but [-0-9A-Za-z_/.*] as %XX.
dbus_escape()
{
	local LC_ALL=C
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[-0-9A-Za-z_/.*]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	echo "$out"
}

xml_escape()
{
	local s=${1//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	echo "$s"
}

set_dir()
{
	[ -n "${1:-}" ] || { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }
	[ -d "$1" ] || die "$1: no such directory"
	dir=$(cd "$1" && pwd)
	case "$dir" in
	*[[:cntrl:]]*) die "$dir: control characters in the path" ;;
	esac
	runtime=$dir/runtime
}

# The environment of the services and of start's own probes: nothing of the
# caller's but PATH and a few debugging knobs.
service_env()
{
	env=(
		PATH="$PATH"
		LANG=C.UTF-8
		HOME="$dir/home"
		XDG_RUNTIME_DIR="$runtime"
		PIPEWIRE_RUNTIME_DIR="$runtime"
		XDG_CONFIG_HOME="$dir/config"
		XDG_STATE_HOME="$dir/state"
		XDG_DATA_HOME="$dir/data"
		XDG_CACHE_HOME="$dir/cache"
		DBUS_SESSION_BUS_ADDRESS="unix:path=$(dbus_escape "$runtime/bus")"
	)
	local v
	for v in PIPEWIRE_DEBUG WIREPLUMBER_DEBUG PIPEWIRE_MODULE_DIR SPA_PLUGIN_DIR LD_LIBRARY_PATH; do
		if [ -n "${!v:-}" ]; then
			env+=("$v=${!v}")
		fi
	done
}

print_env()
{
	local v
	for v in "XDG_RUNTIME_DIR=$runtime" "PIPEWIRE_RUNTIME_DIR=$runtime" \
		"PIPEWIRE_REMOTE=pipewire-0" \
		"DBUS_SESSION_BUS_ADDRESS=unix:path=$(dbus_escape "$runtime/bus")" \
		"IEM_SESSION_DIR=$dir" "IEM_SESSION_SINK=$sink"; do
		printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
	done
}

write_config()
{
	mkdir -p "$dir/config/pipewire/pipewire.conf.d" "$dir/config/wireplumber/main.lua.d" \
		"$dir/config/wireplumber/bluetooth.lua.d" "$dir/config/dbus" \
		"$dir/dbus-services" "$dir/home" "$dir/state" "$dir/data" "$dir/cache"

	# Real-time scheduling when it can be had directly (root, or an
	# RLIMIT_RTPRIO), never through RTKit on the system bus. RLIMIT_RTTIME
	# of 0.2 s: a data thread that spins (a bug in a module under test)
	# gets the server killed instead of taking a core for good.
	local rt='# no real-time scheduling: not root and no RLIMIT_RTPRIO'
	local rtprio
	rtprio=$(ulimit -r)
	if [ "$(id -u)" -eq 0 ] || [ "$rtprio" = unlimited ] || [ "$rtprio" -gt 0 ]; then
		rt='{ name = libpipewire-module-rt flags = [ ifexists nofail ]'
		rt+=' args = { nice.level = -11 rt.prio = 88 rt.time.soft = 200000 rt.time.hard = 200000 } }'
	fi

	# PipeWire's stock server config minus the hardware, the portal and the
	# X11 bell; the Dummy driver only runs nodes that ask for it, the null
	# sink below drives the graph whenever something plays to it.
	cat >"$dir/config/pipewire/pipewire.conf" <<-EOF
	# Written by build-aux/pw-session.sh for a private test session.
	context.properties = {
	    core.daemon                 = true
	    core.name                   = pipewire-0
	    link.max-buffers            = 16
	    default.clock.rate          = 48000
	    default.clock.allowed-rates = [ 48000 ]
	    default.clock.quantum       = 1024
	    default.clock.min-quantum   = 16
	    default.clock.max-quantum   = 2048
	}
	context.spa-libs = {
	    audio.convert.* = audioconvert/libspa-audioconvert
	    support.*       = support/libspa-support
	}
	context.modules = [
	    $rt
	    { name = libpipewire-module-protocol-native }
	    { name = libpipewire-module-profiler }
	    { name = libpipewire-module-metadata }
	    { name = libpipewire-module-spa-device-factory }
	    { name = libpipewire-module-spa-node-factory }
	    { name = libpipewire-module-client-node }
	    { name = libpipewire-module-client-device }
	    { name = libpipewire-module-access }
	    { name = libpipewire-module-adapter }
	    { name = libpipewire-module-link-factory }
	    { name = libpipewire-module-session-manager }
	]
	context.objects = [
	    { factory = spa-node-factory
	        args = {
	            factory.name    = support.node.driver
	            node.name       = Dummy-Driver
	            node.group      = pipewire.dummy
	            priority.driver = 20000
	        }
	    }
	    { factory = spa-node-factory
	        args = {
	            factory.name    = support.node.driver
	            node.name       = Freewheel-Driver
	            priority.driver = 19000
	            node.group      = pipewire.freewheel
	            node.freewheel  = true
	        }
	    }
	]
	EOF

	cat >"$dir/config/pipewire/pipewire.conf.d/50-$sink.conf" <<-EOF
	# Written by build-aux/pw-session.sh: the sink tests play to.
	context.objects = [
	    { factory = adapter
	        args = {
	            factory.name     = support.null-audio-sink
	            node.name        = $sink
	            node.description = "iemstage test sink"
	            media.class      = Audio/Sink
	            audio.rate       = 48000
	            audio.position   = [ FL FR ]
	        }
	    }
	]
	EOF

	# Sorted after the stock 50-*-config.lua and before 90-enable-all.lua.
	cat >"$dir/config/wireplumber/main.lua.d/60-iemstage-test.lua" <<-'EOF'
	-- Written by build-aux/pw-session.sh: no hardware in a test session.
	alsa_monitor.enabled = false
	v4l2_monitor.enabled = false
	libcamera_monitor.enabled = false
	EOF
	cat >"$dir/config/wireplumber/bluetooth.lua.d/60-iemstage-test.lua" <<-'EOF'
	-- Written by build-aux/pw-session.sh: no hardware in a test session.
	bluez_monitor.enabled = false
	EOF

	cat >"$dir/config/dbus/session.conf" <<-EOF
	<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
	 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
	<!-- Written by build-aux/pw-session.sh: a session bus for a test session. -->
	<busconfig>
	  <type>session</type>
	  <listen>unix:path=$(xml_escape "$(dbus_escape "$runtime/bus")")</listen>
	  <auth>EXTERNAL</auth>
	  <servicedir>$(xml_escape "$dir/dbus-services")</servicedir>
	  <policy context="default">
	    <allow send_destination="*" eavesdrop="true"/>
	    <allow eavesdrop="true"/>
	    <allow own="*"/>
	  </policy>
	</busconfig>
	EOF
}

# spawn NAME PROGRAM ARGS...: start a service in the background with the
# service environment, log to DIR/NAME.log, record it in DIR/pids.
spawn()
{
	local name=$1 pid start
	shift
	env -i "${env[@]}" "$@" </dev/null >>"$dir/$name.log" 2>&1 &
	pid=$!
	start=$(proc_field "$pid" 22) || fail_start "$name exited at once"
	echo "$name $pid $start" >>"$dir/pids"
	# Until env has exec'd the service, /proc/PID/comm says "env".
	while [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]; do
		[ "$(proc_field "$pid" 22 2>/dev/null)" = "$start" ] ||
			fail_start "$name exited at once"
		[ "$(now_ms)" -lt "$deadline" ] || fail_start "$name did not start"
		sleep 0.01
	done
}

fail_start()
{
	local log
	say "$*"
	for log in dbus-daemon pipewire wireplumber; do
		if [ -s "$dir/$log.log" ]; then
			say "last lines of $dir/$log.log:"
			tail -n 15 "$dir/$log.log" | sed 's/^/    /' >&2
		fi
	done
	stop_session
	exit 1
}

# wait_for WHAT COMMAND...: poll COMMAND until it succeeds, failing when a
# recorded service has exited or the deadline has passed.
wait_for()
{
	local what=$1 name pid start
	shift
	while ! "$@"; do
		while read -r name pid start; do
			alive "$name" "$pid" "$start" ||
				fail_start "$name exited while waiting for $what"
		done <"$dir/pids"
		[ "$(now_ms)" -lt "$deadline" ] ||
			fail_start "no $what after ${timeout_s} s"
		sleep 0.05
	done
}

probe() { env -i "${env[@]}" timeout 2 "$@" </dev/null 2>/dev/null; }
bus_ready() { [ -S "$runtime/bus" ]; }
pipewire_ready() { probe pw-cli info 0 >/dev/null; }
# WirePlumber has loaded its policy once it has picked a default sink.
wireplumber_ready() { probe pw-metadata -n default 0 default.audio.sink | grep -q 'default.audio.sink'; }

start_session()
{
	local name pid start p
	if [ -f "$dir/pids" ]; then
		while read -r name pid start; do
			alive "$name" "$pid" "$start" &&
				die "$dir: a session is already running (pid $pid, $name)"
		done <"$dir/pids"
	fi
	for p in dbus-daemon pipewire wireplumber pw-cli pw-metadata timeout; do
		command -v "$p" >/dev/null 2>&1 || die "$p not found"
	done
	# sun_path holds 107 bytes and a NUL.
	[ "${#runtime}" -le 90 ] || die "$runtime: too long for a unix socket path"

	mkdir -p "$runtime"
	chmod 0700 "$runtime"
	rm -f "$runtime/bus" "$runtime/pipewire-0" "$runtime/pipewire-0.lock"
	write_config
	service_env
	: >"$dir/pids"
	rm -f "$dir/dbus-daemon.log" "$dir/pipewire.log" "$dir/wireplumber.log"
	deadline=$(($(now_ms) + timeout_s * 1000))

	spawn dbus-daemon dbus-daemon --nofork --nosyslog \
		--config-file="$dir/config/dbus/session.conf"
	wait_for "D-Bus socket" bus_ready
	spawn pipewire pipewire
	wait_for "answer from PipeWire" pipewire_ready
	spawn wireplumber wireplumber
	wait_for "default sink from WirePlumber" wireplumber_ready

	print_env >"$dir/env"
	cat "$dir/env"
}

# stop_one NAME PID START: TERM, then KILL after the grace period.
stop_one()
{
	local end
	alive "$@" || return 0
	kill -TERM "$2" 2>/dev/null || return 0
	end=$(($(now_ms) + grace_ms))
	while alive "$@"; do
		if [ "$(now_ms)" -ge "$end" ]; then
			say "$1 (pid $2) ignored SIGTERM for $((grace_ms / 1000)) s, killing it"
			kill -KILL "$2" 2>/dev/null || true
			killed=1
			end=$(($(now_ms) + 2000))
			while alive "$@" && [ "$(now_ms)" -lt "$end" ]; do
				sleep 0.05
			done
			alive "$@" && { say "$1 (pid $2) is still there"; status=1; }
			return 0
		fi
		sleep 0.02
	done
}

stop_session()
{
	local lines=() i killed=0 status=0
	[ -f "$dir/pids" ] || return 0
	mapfile -t lines <"$dir/pids"
	# Last started first: wireplumber, pipewire, then the bus.
	for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
		# shellcheck disable=SC2086
		stop_one ${lines[i]}
	done
	# A killed service leaves its socket behind.
	if [ "$killed" -eq 1 ] && [ "$status" -eq 0 ]; then
		rm -f "$runtime/bus" "$runtime/pipewire-0" "$runtime/pipewire-0.lock"
	fi
	return "$status"
}

# restart_audio: what happens when PipeWire crashes and systemd brings it
# back: pipewire is killed (SIGKILL, no goodbye to its clients), wireplumber
# stopped, and both started again on the same bus and socket.
restart_audio()
{
	local name pid start keep=()
	[ -f "$dir/pids" ] || die "$dir: no session was started here"
	while read -r name pid start; do
		case $name in
		pipewire) alive "$name" "$pid" "$start" && kill -KILL "$pid" 2>/dev/null ;;
		wireplumber) ;;
		*) keep+=("$name $pid $start") ;;
		esac
	done <"$dir/pids"
	while read -r name pid start; do
		[ "$name" = wireplumber ] && stop_one "$name" "$pid" "$start"
		if [ "$name" = pipewire ]; then
			while alive "$name" "$pid" "$start"; do sleep 0.01; done
		fi
	done <"$dir/pids"
	printf '%s\n' "${keep[@]}" >"$dir/pids"
	rm -f "$runtime/pipewire-0" "$runtime/pipewire-0.lock"
	service_env
	deadline=$(($(now_ms) + timeout_s * 1000))
	spawn pipewire pipewire
	wait_for "answer from PipeWire" pipewire_ready
	spawn wireplumber wireplumber
	wait_for "default sink from WirePlumber" wireplumber_ready
}

case "${1:-}" in
restart)
	[ -n "${2:-}" ] || { echo "usage: $0 restart DIR" >&2; exit 2; }
	set_dir "$2"
	restart_audio
	;;
start)
	[ -n "${2:-}" ] && mkdir -p "$2"
	set_dir "${2:-}"
	start_session
	;;
stop)
	[ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
	[ -d "$2" ] || exit 0
	set_dir "$2"
	stop_session
	;;
env)
	set_dir "${2:-}"
	[ -f "$dir/env" ] || die "$dir: no session was started here"
	cat "$dir/env"
	;;
*) echo "usage: $0 start|stop|env|restart DIR" >&2; exit 2 ;;
esac
