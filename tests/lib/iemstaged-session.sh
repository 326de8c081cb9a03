# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# iemstaged in a private session, for the shell tests: source it after
# tap.sh. The session is build-aux/pw-session.sh's (its own bus, pipewire
# and wireplumber); outputs are null sinks carrying the properties real
# ones have, made with pw-cli create-node. tests/integration/test-daemon.sh
# uses the sink helpers and starts its session and daemon itself.
#
#   iem_session_start DIR        start the session, export its environment
#   iem_session_stop DIR
#   iem_daemon_start DAEMON LOG  start iemstaged (iem_daemon_pid) and wait
#                                until it owns org.iemstage1
#   iem_daemon_stop              SIGTERM it and wait until it is gone
#   plug NAME DESCRIPTION PROPS  a null sink with those properties
#   unplug NAME, node_id NAME, wait_node NAME, wait_no_node NAME
#   wait_until MS COMMAND...     until COMMAND succeeds, for at most MS ms
#   iem_scratch                  $tmp, the session's $dir in it, $children,
#                                and an EXIT trap that cleans them up

_iem_session_script=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build-aux" && pwd)/pw-session.sh

iem_session_start()
{
	local out
	out=$("$_iem_session_script" start "$1" 2>&1) || {
		printf '%s\n' "$out"
		return 1
	}
	eval "$out"
}

iem_session_stop()
{
	"$_iem_session_script" stop "$1" >/dev/null 2>&1
}

wait_until()
{
	local end=$(($(now_ms) + $1))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

_iem_daemon_ready()
{
	gone "$iem_daemon_pid" && return 2
	timeout 2 busctl --user status org.iemstage1 >/dev/null 2>&1
}

iem_daemon_pid=
iem_daemon_start()
{
	"$1" >>"$2" 2>&1 &
	iem_daemon_pid=$!
	local end=$(($(now_ms) + 10000)) r
	while :; do
		_iem_daemon_ready
		r=$?
		[ "$r" -eq 0 ] && return 0
		[ "$r" -eq 2 ] || [ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.05
	done
}

iem_daemon_stop()
{
	[ -n "$iem_daemon_pid" ] || return 0
	kill -TERM "$iem_daemon_pid" 2>/dev/null
	wait_until 5000 gone "$iem_daemon_pid" || return 1
	wait "$iem_daemon_pid" 2>/dev/null
	iem_daemon_pid=
}

plug()
{
	timeout 5 pw-cli create-node adapter "{ factory.name = support.null-audio-sink
		node.name = $1 node.description = \"$2\" media.class = Audio/Sink
		audio.position = [ FL FR ] object.linger = true $3 }" >/dev/null
}

node_id()
{
	timeout 5 pw-cli ls Node 2>/dev/null | awk -v n="node.name = \"$1\"" '
		$1 == "id" { id = $2 + 0 } index($0, n) { print id; exit }'
}

unplug()
{
	local id
	id=$(node_id "$1")
	[ -n "$id" ] && timeout 5 pw-cli destroy "$id" >/dev/null
}

_iem_has_node() { [ -n "$(node_id "$1")" ]; }
_iem_no_node() { [ -z "$(node_id "$1")" ]; }
wait_node() { wait_until 5000 _iem_has_node "$1"; }
wait_no_node() { wait_until 5000 _iem_no_node "$1"; }

# iem_scratch: a scratch directory $tmp with the session's directory $dir
# in it, and $children, the background pids the script starts. On exit:
# iem_scratch_hook first when the script defines it (e.g. to stop the
# daemon), then every child (SIGTERM, SIGKILL after 5 s), the session,
# and $tmp (kept, and said, when IEM_TEST_KEEP is set).
iem_scratch()
{
	tmp=$(mktemp -d)
	dir=$tmp/session
	children=()
	trap _iem_scratch_cleanup EXIT
}

_iem_scratch_cleanup()
{
	local pid
	declare -F iem_scratch_hook >/dev/null && iem_scratch_hook
	for pid in "${children[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait_until 5000 gone "$pid"
		kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	iem_session_stop "$dir"
	if [ -n "${IEM_TEST_KEEP:-}" ]; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
