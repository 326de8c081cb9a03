#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstagectl against iemstaged in a private session (the one
# test-daemon.sh uses: build-aux/pw-session.sh, a null sink with a USB
# IEM's properties plugged with pw-cli).
#
#   every command, readable and --json (the JSON parsed with python3);
#   what goes on the bus (busctl monitor: set's value types, import's and
#   fit's paths made absolute); exit codes 0, 1 (refusals, with the
#   daemon's message), 2 (usage), 3 (the daemon stopped), 4 (no bus);
#   monitor catching ProfileApplied on a plug-in and ParameterChanged on a
#   set, and exiting 0 on SIGINT and SIGTERM; SaveProfile, ImportEq and
#   FitEq whether the daemon has them or answers UnknownMethod; the
#   README's examples; the introspection XML in config/dbus against the
#   daemon's, exactly.
#
#   tests/integration/test-ctl.sh IEMSTAGECTL IEMSTAGED MODULE_DIR SYSTEM_MODULEDIR

set -uo pipefail

usage="usage: $0 iemstagectl iemstaged module-dir pipewire-moduledir"
ctl=${1:?$usage}
daemon=${2:?$usage}
module_dir=${3:?$usage}
system_moduledir=${4:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/iemstaged-session.sh"
# the test changes directory (relative paths for import and fit)
ctl=$(cd "$(dirname "$ctl")" && pwd)/$(basename "$ctl")
daemon=$(cd "$(dirname "$daemon")" && pwd)/$(basename "$daemon")
module_dir=$(cd "$module_dir" && pwd)
xml=$top/config/dbus/org.iemstage1.Manager.xml

need_tools pipewire wireplumber dbus-daemon busctl pw-cli python3 timeout
case "${IEM_SANITIZE:-none}" in
none | '') ;;
*) echo "1..0 # SKIP the module is built with -Db_sanitize=$IEM_SANITIZE; the daemon hosts it and pipewire's own modules are not"; exit 0 ;;
esac

iem_scratch_hook() { iem_daemon_stop; }
iem_scratch

if ! iem_session_start "$dir" >"$tmp/session.out" 2>&1; then
	not_ok "a private PipeWire session starts" "$(cat "$tmp/session.out")"
	tap_done
	exit 1
fi
export PIPEWIRE_MODULE_DIR=$module_dir:$system_moduledir
export IEMSTAGE_PROFILE_PATH=$tmp/profiles
mkdir -p "$tmp/profiles" "$tmp/files"

cat >"$tmp/profiles/usb-iem.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"name": "USB IEM",
	"match": [ { "device.bus": "usb", "device.vendor.id": "0x2fc6" } ],
	"eq": { "bands": [ { "type": "peaking", "freq": 1000, "q": 1, "gain": -6 } ] }
}
JSON
cp "$top/config/profiles/defaults.json" "$tmp/profiles/"
chmod 644 "$tmp"/profiles/*.json

# ---- helpers ---------------------------------------------------------------

# ctl ARGS...: runs iemstagectl; $rc, $tmp/out, $tmp/err.
ctl()
{
	timeout 10 "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# fail WHAT [WHY...]: not ok, with the last command's exit status and output.
fail()
{
	local what=$1
	shift
	not_ok "$what" "$@" "exit status $rc" "$(head -40 "$tmp/out" | sed 's/^/stdout: /')" \
		"$(head -20 "$tmp/err" | sed 's/^/stderr: /')"
}

# json COND: stdout is one JSON document d (nothing else) and the python
# expression COND holds for it.
json()
{
	python3 - "$tmp/out" "$1" <<'PY'
import json, sys
path, cond = sys.argv[1:]
with open(path) as f:
    d = json.load(f)
sys.exit(0 if eval("(" + cond + ")", {}, {"d": d}) else 1)
PY
}

# stdout_is TEXT / stderr_is TEXT: exactly that, one line.
stdout_is() { [ "$(cat "$tmp/out")" = "$1" ]; }
stderr_is() { [ "$(cat "$tmp/err")" = "$1" ]; }
quiet() { [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]; }

# Every message to and from the daemon (calls included), one JSON object a line.
timeout 600 busctl --user --json=short monitor org.iemstage1 >"$tmp/bus.json" 2>"$tmp/bus.err" &
children+=($!)

# last_call MEMBER COND: COND (python, t = the signature, a = the
# arguments as busctl gives them) holds for the last call of MEMBER.
last_call()
{
	python3 - "$tmp/bus.json" "$1" "$2" <<'PY'
import json, sys
path, member, cond = sys.argv[1:]
last = None
for line in open(path):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") == "method_call" and m.get("member") == member:
        last = m.get("payload") or {}
if last is None:
    sys.exit(1)
sys.exit(0 if eval("(" + cond + ")", {}, {"t": last.get("type"), "a": last.get("data")}) else 1)
PY
}

# The calls reach busctl's log a little after the reply reaches us.
wait_call() { wait_until 3000 last_call "$@"; }

# mon_line REGEX: a line of the readable monitor matches (grep -E).
mon_line() { grep -qE -e "$1" "$tmp/monitor.txt"; }
# mon_json SIGNAL COND: a line of the --json monitor is that signal and
# COND (python, a = its args) holds.
mon_json()
{
	python3 - "$tmp/monitor.json" "$1" "$2" <<'PY'
import json, sys
path, signal, cond = sys.argv[1:]
for line in open(path):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("signal") == signal and eval(cond, {}, {"a": m.get("args")}):
        sys.exit(0)
sys.exit(1)
PY
}

# ---- start; monitors first -------------------------------------------------------

if ! iem_daemon_start "$daemon" "$tmp/daemon.log"; then
	not_ok "iemstaged owns org.iemstage1" "$(cat "$tmp/daemon.log")"
	tap_done
	exit 1
fi
ok "iemstaged owns org.iemstage1 on the private session bus"

"$ctl" monitor >"$tmp/monitor.txt" 2>"$tmp/monitor.err" &
mon_pid=$!
children+=("$mon_pid")
"$ctl" --json monitor >"$tmp/monitor.json" 2>"$tmp/monitor-json.err" &
mon_json_pid=$!
children+=("$mon_json_pid")
watching() { grep -q '^iemstagectl: watching org.iemstage1 on the session bus' "$1"; }
if wait_until 5000 watching "$tmp/monitor.err" && wait_until 5000 watching "$tmp/monitor-json.err"; then
	ok "monitor (readable and --json) says it is watching"
else
	not_ok "monitor (readable and --json) says it is watching" \
		"$(cat "$tmp/monitor.err" "$tmp/monitor-json.err")"
fi

plug usb-iem-1 "USB IEM" "device.bus = usb device.vendor.id = 0x2fc6"
what="monitor: a plug-in prints 'ProfileApplied device=usb-iem-1 profile=usb-iem'"
if wait_until 5000 mon_line '^ProfileApplied device=usb-iem-1 profile=usb-iem$'; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/monitor.txt")" "$(tail -3 "$tmp/daemon.log")"
fi
what="monitor --json: the plug-in's ProfileApplied as an object with named args"
if wait_until 5000 mon_json ProfileApplied 'a == {"device": "usb-iem-1", "profile": "usb-iem"}'; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/monitor.json")"
fi

# ---- status, devices, profiles ---------------------------------------------------------

ctl status
if [ "$rc" = 0 ] && grep -qE '^Version: +[0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" &&
   grep -qE '^Enabled: +yes$' "$tmp/out" && grep -qE '^Active device: +usb-iem-1$' "$tmp/out" &&
   grep -qE '^Active profile: +usb-iem$' "$tmp/out" &&
   grep -qxF '  usb-iem-1 (USB IEM): profile usb-iem, virtual sink iemstage.usb-iem-1' "$tmp/out"; then
	ok "status: version, enabled, active device and profile, the device"
else
	fail "status: version, enabled, active device and profile, the device"
fi
ctl --json status
if [ "$rc" = 0 ] && json 'sorted(d) == ["active_device", "active_profile", "devices", "enabled", "version"]
		and d["enabled"] is True and d["active_device"] == "usb-iem-1"
		and d["active_profile"] == "usb-iem"
		and {"id": "usb-iem-1", "node_name": "usb-iem-1", "description": "USB IEM",
		     "profile": "usb-iem", "virtual_sink": "iemstage.usb-iem-1"} in d["devices"]'; then
	ok "status --json"
else
	fail "status --json"
fi

ctl devices
if [ "$rc" = 0 ] && head -1 "$tmp/out" | grep -qE '^DEVICE +PROFILE +VIRTUAL SINK +NODE +DESCRIPTION$' &&
   grep -qE '^usb-iem-1 +usb-iem +iemstage\.usb-iem-1 +usb-iem-1 +USB IEM$' "$tmp/out"; then
	ok "devices: a table with the device"
else
	fail "devices: a table with the device"
fi
ctl devices --json
if [ "$rc" = 0 ] && json 'isinstance(d, list) and {"id": "usb-iem-1", "node_name": "usb-iem-1",
		"description": "USB IEM", "profile": "usb-iem", "virtual_sink": "iemstage.usb-iem-1"} in d'; then
	ok "devices --json (the option after the command)"
else
	fail "devices --json (the option after the command)"
fi

ctl profiles
if [ "$rc" = 0 ] && head -1 "$tmp/out" | grep -qE '^PROFILE +KIND +NAME +FILE$' &&
   grep -qxE "usb-iem +device +USB IEM +$tmp/profiles/usb-iem.json" "$tmp/out" &&
   grep -qE '^defaults +defaults ' "$tmp/out"; then
	ok "profiles: a table with the profiles"
else
	fail "profiles: a table with the profiles"
fi
ctl --json profiles
if [ "$rc" = 0 ] && json "{'id': 'usb-iem', 'kind': 'device', 'name': 'USB IEM',
		'file': '$tmp/profiles/usb-iem.json'} in d and len(d) == 2"; then
	ok "profiles --json"
else
	fail "profiles --json"
fi

# ---- get -----------------------------------------------------------------------------

ctl get usb-iem-1
if [ "$rc" = 0 ] && grep -qxE 'eq\.1\.gain +-6' "$tmp/out" && grep -qxE 'eq\.1\.type +peaking' "$tmp/out" &&
   grep -qxE 'bypass +false' "$tmp/out" && ! grep -q '^eq\.2\.' "$tmp/out"; then
	ok "get DEVICE: name value lines, the bands that are off left out"
else
	fail "get DEVICE: name value lines, the bands that are off left out"
fi
ctl get usb-iem-1 eq.1.gain
if [ "$rc" = 0 ] && stdout_is -6; then ok "get DEVICE NAME: -6"; else fail "get DEVICE NAME: -6"; fi
ctl get usb-iem-1 eq.2.type
if [ "$rc" = 0 ] && stdout_is off; then ok "get DEVICE NAME of a band that is off"; else fail "get DEVICE NAME of a band that is off"; fi
ctl --json get usb-iem-1
if [ "$rc" = 0 ] && json 'd["eq.1.gain"] == -6 and d["eq.1.type"] == "peaking" and d["bypass"] is False
		and d["eq.32.type"] == "off" and type(d["stage.angle"]) in (int, float)'; then
	ok "get --json DEVICE: every parameter, typed"
else
	fail "get --json DEVICE: every parameter, typed"
fi
ctl --json get usb-iem-1 eq.1.gain
if [ "$rc" = 0 ] && json 'd == {"eq.1.gain": -6}'; then
	ok "get --json DEVICE NAME"
else
	fail "get --json DEVICE NAME"
fi
ctl get usb-iem-1 eq.1.gian
if [ "$rc" = 1 ] && stderr_is 'iemstagectl: usb-iem-1 has no parameter "eq.1.gian" (iemstagectl get usb-iem-1 lists them)'; then
	ok "get: an unknown parameter is exit 1, named"
else
	fail "get: an unknown parameter is exit 1, named"
fi

# ---- set ------------------------------------------------------------------------------

ctl set usb-iem-1 eq.1.gain -3
got=$(timeout 10 "$ctl" get usb-iem-1 eq.1.gain 2>&1)
if [ "$rc" = 0 ] && quiet && [ "$got" = -3 ] && wait_call SetParameter 't == "ssv" and a == ["usb-iem-1", "eq.1.gain", {"type": "d", "data": -3}]'; then
	ok "set DEVICE eq.1.gain -3: a leading '-' is the value, sent as d"
else
	fail "set DEVICE eq.1.gain -3: a leading '-' is the value, sent as d" "get: $got"
fi
what="monitor: set prints 'ParameterChanged device=usb-iem-1 eq.1.gain=-3'"
if wait_until 5000 mon_line '^ParameterChanged device=usb-iem-1 eq\.1\.gain=-3$'; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/monitor.txt")"
fi
what="monitor --json: ParameterChanged with the parameters as an object"
if wait_until 5000 mon_json ParameterChanged 'a == {"device": "usb-iem-1", "parameters": {"eq.1.gain": -3}}'; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/monitor.json")"
fi

ctl --json set usb-iem-1 eq.1.gain -4.5
if [ "$rc" = 0 ] && json 'd == {"device": "usb-iem-1", "name": "eq.1.gain", "value": -4.5}' &&
   [ "$(timeout 10 "$ctl" get usb-iem-1 eq.1.gain)" = -4.5 ]; then
	ok "set --json: what was set"
else
	fail "set --json: what was set"
fi
ctl set usb-iem-1 stage.mode crossfeed
if [ "$rc" = 0 ] && wait_call SetParameter 'a[2] == {"type": "s", "data": "crossfeed"}' &&
   [ "$(timeout 10 "$ctl" get usb-iem-1 stage.mode)" = crossfeed ]; then
	ok "set DEVICE stage.mode crossfeed: sent as s"
else
	fail "set DEVICE stage.mode crossfeed: sent as s"
fi
ctl set usb-iem-1 bypass true
if [ "$rc" = 0 ] && wait_call SetParameter 'a[1:] == ["bypass", {"type": "b", "data": True}]' &&
   [ "$(timeout 10 "$ctl" get usb-iem-1 bypass)" = true ]; then
	ok "set DEVICE bypass true: sent as b"
else
	fail "set DEVICE bypass true: sent as b"
fi
ctl set usb-iem-1 bypass false
ctl set usb-iem-1 eq.1.gain -inf
if [ "$rc" = 1 ] && wait_call SetParameter 'a[2] == {"type": "s", "data": "-inf"}'; then
	ok "set: a value that is not a finite number goes as a string (and is refused: exit 1)"
else
	fail "set: a value that is not a finite number goes as a string (and is refused: exit 1)"
fi
ctl set usb-iem-1 eq.1.gain 99
if [ "$rc" = 1 ] && [ ! -s "$tmp/out" ] &&
   stderr_is 'iemstagectl: value: eq.1.gain: 99 is out of range (-30 … 30 dB)'; then
	ok "set: a refused value is exit 1 with the daemon's message"
else
	fail "set: a refused value is exit 1 with the daemon's message"
fi
ctl --json set usb-iem-1 eq.1.gain 99
if [ "$rc" = 1 ] && json 'd == {"error": "org.iemstage1.Error.InvalidParameter",
		"message": "value: eq.1.gain: 99 is out of range (-30 … 30 dB)", "exit": 1}'; then
	ok "set --json: a refusal is a JSON document too"
else
	fail "set --json: a refusal is a JSON document too"
fi
ctl set nope eq.1.gain 1
if [ "$rc" = 1 ] && stderr_is 'iemstagectl: no device "nope" (ListDevices lists them)'; then
	ok "set: an unknown device is exit 1"
else
	fail "set: an unknown device is exit 1"
fi

# ---- bypass, apply ---------------------------------------------------------------------

ctl bypass usb-iem-1 on
if [ "$rc" = 0 ] && quiet && wait_call SetBypass 'a == ["usb-iem-1", True]' &&
   [ "$(timeout 10 "$ctl" get usb-iem-1 bypass)" = true ]; then
	ok "bypass DEVICE on"
else
	fail "bypass DEVICE on"
fi
ctl --json bypass usb-iem-1 off
if [ "$rc" = 0 ] && json 'd == {"device": "usb-iem-1", "bypass": False}' &&
   [ "$(timeout 10 "$ctl" get usb-iem-1 bypass)" = false ]; then
	ok "bypass --json DEVICE off"
else
	fail "bypass --json DEVICE off"
fi

ctl apply usb-iem-1 usb-iem
if [ "$rc" = 0 ] && quiet && wait_call ApplyProfile 'a == ["usb-iem-1", "usb-iem"]'; then
	ok "apply DEVICE PROFILE"
else
	fail "apply DEVICE PROFILE"
fi
ctl --json apply usb-iem-1 usb-iem
if [ "$rc" = 0 ] && json 'd == {"device": "usb-iem-1", "profile": "usb-iem"}'; then
	ok "apply --json"
else
	fail "apply --json"
fi
ctl apply usb-iem-1 nope
if [ "$rc" = 1 ] && stderr_is 'iemstagectl: no profile "nope" (ListProfiles lists them)'; then
	ok "apply: an unknown profile is exit 1, the daemon's message"
else
	fail "apply: an unknown profile is exit 1, the daemon's message"
fi
ctl --json apply nope usb-iem
if [ "$rc" = 1 ] && json 'd["error"] == "org.iemstage1.Error.NoSuchDevice" and d["exit"] == 1'; then
	ok "apply --json: an unknown device, as JSON"
else
	fail "apply --json: an unknown device, as JSON"
fi

# ---- enable, disable, reload ------------------------------------------------------------

ctl disable
if [ "$rc" = 0 ] && quiet && wait_no_node iemstage.usb-iem-1 &&
   [ "$(timeout 10 "$ctl" status | sed -n 's/^Enabled: *//p')" = no ] &&
   wait_until 5000 mon_line '^PropertiesChanged Enabled=false( |$)'; then
	ok "disable: the virtual sink goes, status says Enabled: no, monitor PropertiesChanged"
else
	fail "disable: the virtual sink goes, status says Enabled: no, monitor PropertiesChanged"
fi
ctl --json enable
if [ "$rc" = 0 ] && json 'd == {"enabled": True}' && wait_node iemstage.usb-iem-1 &&
   timeout 10 "$ctl" --json status >"$tmp/out" && json 'd["enabled"] is True'; then
	ok "enable --json: the virtual sink is back"
else
	fail "enable --json: the virtual sink is back"
fi
ctl reload
if [ "$rc" = 0 ] && quiet && wait_call Reload 't == ""'; then ok "reload"; else fail "reload"; fi
ctl --json reload
if [ "$rc" = 0 ] && json 'd == {}'; then ok "reload --json: {}"; else fail "reload --json: {}"; fi

# ---- save, import, fit: the daemon may not have them yet ---------------------------------

cp "$top/config/eq/demo-ParametricEQ.txt" "$tmp/files/eq.txt"
# a measurement with a dip at 3 kHz, in AutoEq's columns
awk 'BEGIN { print "frequency,raw"; for (i = 0; i <= 120; i++) {
	f = 20 * exp(log(1000) * i / 120); x = log(f / 3000) / log(2)
	printf "%.3f,%.3f\n", f, -4 * exp(-x * x * 4) } }' >"$tmp/files/measurement.csv"
cp "$tmp/files/measurement.csv" "$tmp/files/target.csv"
chmod 644 "$tmp"/files/*

# writer WHAT MEMBER JSON-KEYS ARGS...: the command works (exit 0; prints
# nothing or a file that exists; --json names its arguments and "path"),
# or the daemon does not have MEMBER (exit 1, one line saying so).
writer()
{
	local what=$1 member=$2 keys=$3
	shift 3
	ctl "$@"
	if [ "$rc" = 0 ]; then
		if [ ! -s "$tmp/out" ] || [ -f "$(cat "$tmp/out")" ]; then
			ok "$what: done (the daemon has $member)"
		else
			fail "$what: done (the daemon has $member)" "the output is not a file"
		fi
	elif [ "$rc" = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
	     grep -qE "^iemstagectl: .*$member.* \\(the running iemstaged does not have $member yet\\)$" "$tmp/err"; then
		ok "$what: exit 1, 'the running iemstaged does not have $member yet' (UnknownMethod)"
	else
		fail "$what: exit 0, or 1 for UnknownMethod"
	fi
	ctl --json "$@"
	if [ "$rc" = 0 ] && json "sorted(d) == sorted($keys + ['path'])"; then
		ok "$what --json: its arguments and the path"
	elif [ "$rc" = 1 ] && json 'd["error"] == "org.freedesktop.DBus.Error.UnknownMethod" and d["exit"] == 1'; then
		ok "$what --json: the UnknownMethod error as JSON"
	else
		fail "$what --json"
	fi
}

writer "save DEVICE ID" SaveProfile '["device", "id"]' save usb-iem-1 saved-iem
if wait_call SaveProfile 't == "ss" and a == ["usb-iem-1", "saved-iem"]'; then
	ok "save: SaveProfile(s device, s id) on the bus"
else
	not_ok "save: SaveProfile(s device, s id) on the bus" "$(grep SaveProfile "$tmp/bus.json")"
fi
# relative paths, from another directory than the daemon's
cd "$tmp/files" || exit 1
writer "import FILE ID" ImportEq '["file", "id"]' import eq.txt imported-iem
if wait_call ImportEq "t == 'ss' and a == ['$tmp/files/eq.txt', 'imported-iem']"; then
	ok "import: ImportEq(s path, s id) gets the file as an absolute path"
else
	not_ok "import: ImportEq(s path, s id) gets the file as an absolute path" "$(grep ImportEq "$tmp/bus.json")"
fi
writer "fit MEASUREMENT TARGET ID" FitEq '["measurement", "target", "id"]' \
	fit measurement.csv harman-ie-2019 fitted-iem
if wait_call FitEq "t == 'sss' and a == ['$tmp/files/measurement.csv', 'harman-ie-2019', 'fitted-iem']"; then
	ok "fit: FitEq(s measurement, s target, s id): an absolute path, a built-in target by name"
else
	not_ok "fit: FitEq(s measurement, s target, s id): an absolute path, a built-in target by name" \
		"$(grep FitEq "$tmp/bus.json")"
fi
ctl fit ./measurement.csv ./target.csv fitted-iem-2
if wait_call FitEq "a == ['$tmp/files/measurement.csv', '$tmp/files/target.csv', 'fitted-iem-2']"; then
	ok "fit: a target file as an absolute path"
else
	fail "fit: a target file as an absolute path" "$(grep FitEq "$tmp/bus.json")"
fi
ctl fit measurement.csv "" fitted-iem-3
if wait_call FitEq "a == ['$tmp/files/measurement.csv', '', 'fitted-iem-3']"; then
	ok "fit: an empty target stays empty (the daemon's default)"
else
	fail "fit: an empty target stays empty (the daemon's default)" "$(grep FitEq "$tmp/bus.json")"
fi
cd "$tmp" || exit 1

# ---- usage: exit 2, nothing on the bus ------------------------------------------------------

usage_case()
{
	local what=$1
	shift
	ctl "$@"
	if [ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && grep -qxF "Try 'iemstagectl --help'." "$tmp/err"; then
		ok "usage: $what: exit 2"
	else
		fail "usage: $what: exit 2"
	fi
}
usage_case "no command"
usage_case "an unknown command" frobnicate
usage_case "an unknown option before the command" --frob status
usage_case "too few arguments" set usb-iem-1 eq.1.gain
usage_case "too many arguments" status now
usage_case "bypass neither on nor off" bypass usb-iem-1 maybe
ctl --help
if [ "$rc" = 0 ] && grep -qE '^  3  iemstaged is not running' "$tmp/out" &&
   grep -qE '^  fit MEASUREMENT TARGET ID ' "$tmp/out"; then
	ok "--help: the commands and the exit codes"
else
	fail "--help: the commands and the exit codes"
fi

# ---- the README's examples -------------------------------------------------------------------

examples=$(sed -n '/^<!-- iemstagectl-examples -->$/,/^<!-- \/iemstagectl-examples -->$/p' "$top/README.md" |
	grep '^iemstagectl ')
n_examples=0
failed_examples=()
while IFS= read -r line; do
	n_examples=$((n_examples + 1))
	if ! out=$(PATH=$(dirname "$ctl"):$PATH DEV=usb-iem-1 PROFILE=usb-iem timeout 10 bash -c "$line" 2>&1); then
		failed_examples+=("$line" "  -> $out")
	fi
done <<<"$examples"
if [ "$n_examples" -ge 10 ] && [ "${#failed_examples[@]}" -eq 0 ]; then
	ok "the README's $n_examples iemstagectl examples run (DEV=usb-iem-1, PROFILE=usb-iem)"
else
	not_ok "the README's iemstagectl examples run" "$n_examples examples" "${failed_examples[@]}"
fi

# ---- the introspection XML against the daemon -----------------------------------------------

if ! command -v xmllint >/dev/null 2>&1; then
	skip "config/dbus/org.iemstage1.Manager.xml is well-formed" "xmllint not found (package libxml2-utils)"
elif out=$(xmllint --noout --nonet "$xml" 2>&1); then
	ok "config/dbus/org.iemstage1.Manager.xml is well-formed (xmllint)"
else
	not_ok "config/dbus/org.iemstage1.Manager.xml is well-formed (xmllint)" "$out"
fi
if timeout 5 busctl --user introspect --xml-interface org.iemstage1 /org/iemstage1 >"$tmp/live.xml" 2>&1 &&
   out=$(python3 "$top/tests/lib/introspect-diff.py" org.iemstage1.Manager "$xml" "$tmp/live.xml" 2>&1); then
	ok "config/dbus/org.iemstage1.Manager.xml is the daemon's interface, exactly"
else
	not_ok "config/dbus/org.iemstage1.Manager.xml is the daemon's interface, exactly" \
		"- in the file, + in the running daemon:" "$out"
fi

dev_xml=$top/config/dbus/org.iemstage1.Device.xml
if timeout 5 busctl --user introspect --xml-interface org.iemstage1 /org/iemstage1/device/usb_2diem_2d1 \
	>"$tmp/live-dev.xml" 2>&1 &&
   out=$(python3 "$top/tests/lib/introspect-diff.py" org.iemstage1.Device "$dev_xml" "$tmp/live-dev.xml" 2>&1); then
	ok "config/dbus/org.iemstage1.Device.xml is the device objects' interface, exactly"
else
	not_ok "config/dbus/org.iemstage1.Device.xml is the device objects' interface, exactly" \
		"- in the file, + in the running daemon:" "$out" "$(head -5 "$tmp/live-dev.xml")"
fi

# ---- the daemon stops: monitor sees it; exit 3 ----------------------------------------------

iem_daemon_stop
what="monitor: 'iemstaged stopped' when the daemon leaves the bus"
if wait_until 5000 mon_line '^iemstaged stopped$' &&
   wait_until 5000 mon_json NameOwnerChanged 'a["name"] == "org.iemstage1" and a["new_owner"] == ""'; then
	ok "$what"
else
	not_ok "$what" "$(cat "$tmp/monitor.txt")"
fi
ctl status
if [ "$rc" = 3 ] && [ ! -s "$tmp/out" ] &&
   grep -qxE 'iemstagectl: iemstaged is not running on the session bus \(.+\)' "$tmp/err"; then
	ok "status with the daemon stopped: exit 3, said once"
else
	fail "status with the daemon stopped: exit 3, said once"
fi
ctl --json devices
if [ "$rc" = 3 ] && json 'd["exit"] == 3 and d["error"] in ("org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner")'; then
	ok "devices --json with the daemon stopped: exit 3, as JSON"
else
	fail "devices --json with the daemon stopped: exit 3, as JSON"
fi
ctl set usb-iem-1 eq.1.gain -3
if [ "$rc" = 3 ]; then ok "set with the daemon stopped: exit 3"; else fail "set with the daemon stopped: exit 3"; fi
DBUS_SESSION_BUS_ADDRESS=unix:path=$tmp/no-bus ctl status
if [ "$rc" = 4 ] && grep -q '^iemstagectl: cannot connect to the session bus' "$tmp/err"; then
	ok "no bus: exit 4"
else
	fail "no bus: exit 4"
fi

# ---- monitor stops on SIGINT and SIGTERM, exit 0 -----------------------------------------------

kill -INT "$mon_pid"
wait_until 5000 gone "$mon_pid"
wait "$mon_pid"
rc=$?
if [ "$rc" = 0 ]; then ok "monitor: SIGINT, exit 0"; else not_ok "monitor: SIGINT, exit 0" "exit $rc"; fi
kill -TERM "$mon_json_pid"
wait_until 5000 gone "$mon_json_pid"
wait "$mon_json_pid"
rc=$?
bad=$(python3 - "$tmp/monitor.json" <<'PY'
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        m = json.loads(line)
        assert isinstance(m, dict) and {"signal", "interface", "args"} <= set(m)
    except (ValueError, AssertionError):
        print("line %d: %s" % (n, line.rstrip()))
PY
)
if [ "$rc" = 0 ] && [ -z "$bad" ] && [ -s "$tmp/monitor.json" ]; then
	ok "monitor --json: SIGTERM, exit 0; every line was one JSON object"
else
	not_ok "monitor --json: SIGTERM, exit 0; every line was one JSON object" "exit $rc" "$bad"
fi
tap_done
