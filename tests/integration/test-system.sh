#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstaged --system on a private system-like bus, with a real polkitd.
#
#   The bus: dbus-daemon with the distribution's own system.conf (type
#   system, EXTERNAL auth, its default-deny policy) minus what ties it to
#   the machine (user, pid file, the real socket, service directories,
#   system.d), listening in a scratch directory, plus polkit's bus policy
#   and ours (config/dbus/org.iemstage1.conf) with one change: the service
#   user. The test runs the daemon as "iemstage" when that user exists,
#   else as "daemon"; the shipped file names only "iemstage" (checked).
#   polkitd: the system's, on that bus, in a mount namespace where its
#   action directory holds only config/polkit/org.iemstage1.policy and its
#   rules directories only what a phase of the test puts there; nothing of
#   the machine's polkit configuration is read or changed.
#   PipeWire: build-aux/pw-session.sh's private session (its socket opened
#   to the service user, as a system-wide PipeWire's pipewire group does),
#   a null sink with a USB IEM's properties.
#
# What it shows: only the service user owns org.iemstage1 (not nobody, not
# root); an unprivileged caller (nobody) reads everything but changes
# nothing: every mutating member answers org.iemstage1.Error.NotAuthorized
# and the state is unchanged; members outside our interfaces are refused by
# the bus; root is authorised (polkit's rule for uid 0) and its changes
# land; polkit is asked with the caller's unique bus name as subject
# (system-bus-name, never a pid), with AllowUserInteraction exactly when
# the call allowed it; a polkit rule granting org.iemstage1.configure to
# nobody lets its SetParameter through and still not SaveProfile
# (org.iemstage1.manage-profiles); the daemon answers other callers while
# polkit is stopped (SIGSTOP) and the held call completes after SIGCONT;
# one connection gets at most 4 calls held (the rest LimitsExceeded);
# without polkitd every change is refused (fail closed). System-mode paths:
# profiles from $STATE_DIRECTORY/profiles, SaveProfile writes there.
#
#   tests/integration/test-system.sh IEMSTAGED IEMSTAGECTL MODULE_DIR SYSTEM_MODULEDIR BUS_PENDING

set -uo pipefail

usage="usage: $0 iemstaged iemstagectl module-dir pipewire-moduledir iem-bus-pending"
daemon=${1:?$usage}
ctl=${2:?$usage}
module_dir=${3:?$usage}
system_moduledir=${4:?$usage}
pending=${5:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/iemstaged-session.sh"
daemon=$(cd "$(dirname "$daemon")" && pwd)/$(basename "$daemon")
ctl=$(cd "$(dirname "$ctl")" && pwd)/$(basename "$ctl")
module_dir=$(cd "$module_dir" && pwd)
pending=$(cd "$(dirname "$pending")" && pwd)/$(basename "$pending")


[ "$(id -u)" -eq 0 ] ||
	skip_all "needs root: callers under other uids (setpriv) and a mount namespace for polkitd's directories"
need_tools pipewire wireplumber dbus-daemon busctl pw-cli python3 timeout setpriv unshare mount
polkitd=
for p in /usr/lib/polkit-1/polkitd /usr/libexec/polkitd /usr/libexec/polkit-1/polkitd; do
	[ -x "$p" ] && polkitd=$p && break
done
[ -n "$polkitd" ] || skip_all "polkitd not found (package polkitd)"
[ -d /usr/share/polkit-1/actions ] || skip_all "no /usr/share/polkit-1/actions to mount over"
system_conf=/usr/share/dbus-1/system.conf
[ -f "$system_conf" ] || system_conf=/etc/dbus-1/system.conf
[ -f "$system_conf" ] || skip_all "no system.conf of dbus-daemon (package dbus) to start from"
[ -f /usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf ] ||
	skip_all "no org.freedesktop.PolicyKit1.conf bus policy (package polkitd)"
unshare -m true 2>/dev/null || skip_all "cannot make a mount namespace (unshare -m)"
getent passwd nobody >/dev/null || skip_all "no user nobody"
case "${IEM_SANITIZE:-none}" in
none | '') ;;
*) skip_all "the module is built with -Db_sanitize=$IEM_SANITIZE; the daemon hosts it and pipewire's own modules are not" ;;
esac

svc=iemstage
getent passwd "$svc" >/dev/null || svc=daemon
getent passwd "$svc" >/dev/null || skip_all "neither user iemstage nor daemon exists to run the daemon as"

# Reachable by the service user and nobody: /tmp, not the build tree.
tmp=$(mktemp -d /tmp/iem-system.XXXXXX)
chmod 0755 "$tmp"
sock=$tmp/system_bus_socket
bus=unix:path=$sock
state=$tmp/state
bus_pid= polkit_pid= daemon_pid= mon_pid=
cleanup()
{
	local p
	for p in "$mon_pid" "$daemon_pid" "$polkit_pid" "$bus_pid"; do
		[ -n "$p" ] && kill -CONT "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
	done
	wait 2>/dev/null
	iem_session_stop "$tmp/session"
	rm -rf "$tmp"
}
trap cleanup EXIT

# run_as USER CMD...: CMD under USER's uid and gid, no other groups, with
# the private system bus and nothing else of ours in its environment; at
# most 20 s.
run_as()
{
	local u=$1
	shift
	timeout 20 setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- \
		env -i PATH="$PATH" LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$bus" "$@"
}

# ctl USER ARGS...: iemstagectl --system --json as USER; $rc, $tmp/out, $tmp/err.
ctl()
{
	local u=$1
	shift
	timeout 20 setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- \
		env -i PATH="$PATH" LANG=C.UTF-8 DBUS_SYSTEM_BUS_ADDRESS="$bus" \
		"$ctl" --system --json "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# json COND: stdout is one JSON document d and the python expression COND holds.
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

fail()
{
	local what=$1
	shift
	not_ok "$what" "$@" "exit status $rc" "$(head -20 "$tmp/out" | sed 's/^/stdout: /')" \
		"$(head -20 "$tmp/err" | sed 's/^/stderr: /')"
}

denied() { [ "$rc" = 1 ] && json 'd["error"] == "org.iemstage1.Error.NotAuthorized"'; }

# eq1_is VALUE: the device's eq.1.gain is VALUE (read as root).
eq1_is()
{
	timeout 10 busctl --address="$bus" --json=short call org.iemstage1 /org/iemstage1 \
		org.iemstage1.Manager GetParameters s "$dev" 2>/dev/null |
		python3 -c 'import json, sys
sys.exit(0 if json.load(sys.stdin)["data"][0]["eq.1.gain"]["data"] == float(sys.argv[1]) else 1)' "$1"
}

# ---- the bus ------------------------------------------------------------------

n_user=$(grep -o 'user="[^"]*"' "$top/config/dbus/org.iemstage1.conf" | sort -u)
if [ "$n_user" = 'user="iemstage"' ]; then
	ok "config/dbus/org.iemstage1.conf names one user, iemstage (the test runs the daemon as $svc)"
else
	not_ok "config/dbus/org.iemstage1.conf names one user, iemstage" "$n_user"
fi
sed "s/user=\"iemstage\"/user=\"$svc\"/" "$top/config/dbus/org.iemstage1.conf" >"$tmp/org.iemstage1.conf"

python3 - "$system_conf" "$tmp/bus.conf" "$sock" \
	/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf "$tmp/org.iemstage1.conf" <<'PY'
import sys
import xml.etree.ElementTree as ET
src, out, sock = sys.argv[1:4]
tree = ET.parse(src)
root = tree.getroot()
# what ties system.conf to this machine's bus; its <type>, <auth> and
# policies stay
for el in list(root):
    if el.tag in ("user", "fork", "standard_system_servicedirs", "servicehelper", "pidfile",
                  "syslog", "listen", "include", "includedir", "servicedir"):
        root.remove(el)
ET.SubElement(root, "listen").text = "unix:path=" + sock
for inc in sys.argv[4:]:
    ET.SubElement(root, "include").text = inc
with open(out, "wb") as f:
    tree.write(f)
PY
dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile --print-address=3 \
	3>"$tmp/bus.address" 2>"$tmp/bus.log" &
bus_pid=$!
have_address() { [ -s "$tmp/bus.address" ]; }
if wait_until 5000 have_address && grep -q '<type>system</type>' "$tmp/bus.conf"; then
	ok "a system-type bus with system.conf's policy, polkit's and ours (dbus-daemon accepts them)"
else
	not_ok "a system-type bus with system.conf's policy, polkit's and ours" "$(cat "$tmp/bus.log")"
	tap_done
	exit 1
fi
chmod 0666 "$sock"

# request_name USER: USER's attempt at owning org.iemstage1; $rc, $tmp/out.
request_name()
{
	run_as "$1" busctl call org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus RequestName su org.iemstage1 4 >"$tmp/out" 2>&1
	rc=$?
}
request_name nobody
if [ "$rc" != 0 ] && grep -q 'Access denied' "$tmp/out"; then
	ok "nobody cannot own org.iemstage1 (AccessDenied)"
else
	fail "nobody cannot own org.iemstage1 (AccessDenied)"
fi
request_name root
if [ "$rc" != 0 ] && grep -q 'Access denied' "$tmp/out"; then
	ok "root cannot own org.iemstage1 either: only the service user"
else
	fail "root cannot own org.iemstage1 either: only the service user"
fi

# ---- polkitd -----------------------------------------------------------------

mkdir -p "$tmp/polkit/actions" "$tmp/polkit/rules" "$tmp/polkit/no-rules"
# the action owner (who may ask about other processes) is the service user
sed "s/unix-user:iemstage</unix-user:$svc</" "$top/config/polkit/org.iemstage1.policy" \
	>"$tmp/polkit/actions/org.iemstage1.policy"
polkit_start()
{
	unshare -m --propagation private sh -c '
		mount --bind "$1/actions" /usr/share/polkit-1/actions &&
		mount --bind "$1/rules" /etc/polkit-1/rules.d &&
		{ [ ! -d /usr/share/polkit-1/rules.d ] ||
		  mount --bind "$1/no-rules" /usr/share/polkit-1/rules.d; } &&
		exec env -i PATH="$PATH" DBUS_SYSTEM_BUS_ADDRESS="$2" "$3"' \
		sh "$tmp/polkit" "$bus" "$polkitd" >>"$tmp/polkit.log" 2>&1 &
	polkit_pid=$!
	wait_until 10000 timeout 2 busctl --address="$bus" status org.freedesktop.PolicyKit1 >/dev/null 2>&1
}
polkit_stop()
{
	[ -n "$polkit_pid" ] || return 0
	kill -TERM "$polkit_pid" 2>/dev/null
	wait_until 5000 gone "$polkit_pid"
	wait "$polkit_pid" 2>/dev/null
	polkit_pid=
}
if polkit_start && timeout 10 busctl --address="$bus" call org.freedesktop.PolicyKit1 \
		/org/freedesktop/PolicyKit1/Authority org.freedesktop.PolicyKit1.Authority \
		EnumerateActions s "" 2>&1 | grep -q '"org.iemstage1.manage-profiles"'; then
	ok "polkitd runs on the bus and knows our actions"
else
	not_ok "polkitd runs on the bus and knows our actions" "$(tail -20 "$tmp/polkit.log")"
	tap_done
	exit 1
fi

# Every message on the bus, for the checks of what polkit is asked.
timeout 300 busctl --address="$bus" --json=short monitor >"$tmp/monitor.json" 2>"$tmp/monitor.err" &
mon_pid=$!

# ---- PipeWire and the daemon ----------------------------------------------------

if ! iem_session_start "$tmp/session" >"$tmp/session.out" 2>&1; then
	not_ok "a private PipeWire session starts" "$(cat "$tmp/session.out")"
	tap_done
	exit 1
fi
# what a system-wide PipeWire's pipewire group gives its members
chmod 0711 "$PIPEWIRE_RUNTIME_DIR"
chmod 0666 "$PIPEWIRE_RUNTIME_DIR/$PIPEWIRE_REMOTE"

mkdir -p "$state/profiles" "$tmp/cache"
cat >"$state/profiles/usb-iem.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"name": "USB IEM",
	"match": [ { "device.bus": "usb", "device.vendor.id": "0x2fc6" } ],
	"eq": { "bands": [ { "type": "peaking", "freq": 1000, "q": 1, "gain": -6 } ] }
}
JSON
cp "$top/config/profiles/defaults.json" "$state/profiles/"
chown -R "$svc:" "$state" "$tmp/cache"
chmod 0644 "$state"/profiles/*.json

# The unit's environment (StateDirectory=, XDG_CACHE_HOME) in the test's
# directories; PIPEWIRE_RUNTIME_DIR is the session's.
setpriv --reuid="$(id -u "$svc")" --regid="$(id -g "$svc")" --clear-groups -- \
	env -i PATH="$PATH" LANG=C.UTF-8 HOME=/ DBUS_SYSTEM_BUS_ADDRESS="$bus" \
	PIPEWIRE_RUNTIME_DIR="$PIPEWIRE_RUNTIME_DIR" PIPEWIRE_REMOTE="$PIPEWIRE_REMOTE" \
	PIPEWIRE_MODULE_DIR="$module_dir:$system_moduledir" \
	STATE_DIRECTORY="$state" XDG_CACHE_HOME="$tmp/cache" \
	"$daemon" --system >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
owned() { timeout 2 busctl --address="$bus" status org.iemstage1 >/dev/null 2>&1; }
if wait_until 10000 owned && grep -q "ready on the system bus" "$tmp/daemon.log"; then
	ok "iemstaged --system as $svc owns org.iemstage1"
else
	not_ok "iemstaged --system as $svc owns org.iemstage1" "$(cat "$tmp/daemon.log")"
	tap_done
	exit 1
fi

dev=usb-iem-1
plug "$dev" "USB IEM" "device.bus = usb device.vendor.id = 0x2fc6"
applied() { ctl nobody devices && json 'any(x["id"] == "usb-iem-1" and x["profile"] == "usb-iem" for x in d)'; }
if wait_until 10000 applied; then
	ok "the IEM gets its profile from \$STATE_DIRECTORY/profiles; nobody lists it (ListDevices)"
else
	fail "the IEM gets its profile from \$STATE_DIRECTORY/profiles; nobody lists it (ListDevices)" \
		"$(tail -5 "$tmp/daemon.log")"
fi

# ---- nobody: reads yes, changes no ---------------------------------------------------

reads_ok=1 why=()
ctl nobody status || { reads_ok=0; why+=("status: $(cat "$tmp/err")"); }
ctl nobody profiles || { reads_ok=0; why+=("profiles: $(cat "$tmp/err")"); }
ctl nobody get "$dev" eq.1.gain || { reads_ok=0; why+=("get: $(cat "$tmp/err")"); }
for m in "org.freedesktop.DBus.Introspectable Introspect" \
	"org.freedesktop.DBus.ObjectManager GetManagedObjects" \
	"org.freedesktop.DBus.Properties GetAll s org.iemstage1.Manager"; do
	# shellcheck disable=SC2086
	out=$(run_as nobody busctl call org.iemstage1 /org/iemstage1 $m 2>&1) ||
		{ reads_ok=0; why+=("$m: $out"); }
done
if [ "$reads_ok" = 1 ]; then
	ok "nobody reads: status, profiles, get, Introspect, GetManagedObjects, Properties.GetAll"
else
	not_ok "nobody reads: status, profiles, get, Introspect, GetManagedObjects, Properties.GetAll" "${why[@]}"
fi

ctl nobody set "$dev" eq.1.gain -7
if denied && eq1_is -6; then
	ok "nobody: SetParameter is NotAuthorized and changes nothing"
else
	fail "nobody: SetParameter is NotAuthorized and changes nothing"
fi
all_denied=1 why=()
for c in "apply $dev off" "bypass $dev on" "reload" "disable" \
	"save $dev stolen" "import $tmp/x.txt stolen" "fit $tmp/x.csv harman-ie-2019 stolen"; do
	# shellcheck disable=SC2086
	ctl nobody $c
	denied || { all_denied=0; why+=("$c: exit $rc: $(cat "$tmp/out")"); }
done
if [ "$all_denied" = 1 ] && [ ! -e "$state/profiles/stolen.json" ]; then
	ok "nobody: ApplyProfile, SetBypass, Reload, Enabled=false, SaveProfile, ImportEq, FitEq all NotAuthorized, no file written"
else
	not_ok "nobody: ApplyProfile, SetBypass, Reload, Enabled=false, SaveProfile, ImportEq, FitEq all NotAuthorized, no file written" \
		"${why[@]}" "$(ls "$state/profiles")"
fi
ctl nobody status
if json 'd["enabled"] is True and any(x["id"] == "usb-iem-1" and x["profile"] == "usb-iem" for x in d["devices"])'; then
	ok "after nobody's attempts: still enabled, the profile still applied"
else
	fail "after nobody's attempts: still enabled, the profile still applied"
fi

# Outside our interfaces, the bus itself says no.
out=$(run_as nobody busctl call org.iemstage1 /org/iemstage1 org.freedesktop.DBus.Peer Ping 2>&1)
out2=$(run_as nobody busctl call org.iemstage1 /org/iemstage1 org.iemstage1.Other Foo 2>&1)
if grep -q 'Access denied' <<<"$out" && grep -q 'Access denied' <<<"$out2"; then
	ok "nobody: other interfaces of org.iemstage1 (Peer, a made-up one) are refused by the bus policy"
else
	not_ok "nobody: other interfaces of org.iemstage1 are refused by the bus policy" "$out" "$out2"
fi

# ---- root: authorised --------------------------------------------------------------

out=$(timeout 20 busctl --address="$bus" --allow-interactive-authorization=yes call -- \
	org.iemstage1 /org/iemstage1 org.iemstage1.Manager SetParameter ssv "$dev" eq.1.gain d -4.5 2>&1)
if [ -z "$out" ] && eq1_is -4.5; then
	ok "root: SetParameter goes through (polkit authorises uid 0) and lands"
else
	not_ok "root: SetParameter goes through and lands" "$out" "$(tail -5 "$tmp/daemon.log")"
fi
ctl root save "$dev" saved-by-root
if [ "$rc" = 0 ] && [ -f "$state/profiles/saved-by-root.json" ] &&
	[ "$(stat -c %U "$state/profiles/saved-by-root.json")" = "$svc" ]; then
	ok "root: SaveProfile writes \$STATE_DIRECTORY/profiles/saved-by-root.json (owned by $svc)"
else
	fail "root: SaveProfile writes \$STATE_DIRECTORY/profiles/saved-by-root.json"
fi

# What polkit was asked: the subject is the caller's unique bus name;
# AllowUserInteraction (1) exactly when the call allowed it (busctl does;
# iemstagectl does only on a terminal, and its stdin here is not one).
sleep 0.3
python3 - "$tmp/monitor.json" >"$tmp/asked.txt" 2>&1 <<'PY'
import json, sys
calls, checks = [], []
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") != "method_call":
        continue
    if m.get("destination") == "org.iemstage1" or m.get("member") == "CheckAuthorization":
        calls.append(m)
ok = True
def find(member, cond):
    for m in calls:
        if m.get("member") == member and cond(m["payload"]["data"]):
            return m
    return None
def check_for(call):
    for m in calls:
        if m.get("member") != "CheckAuthorization":
            continue
        subject, action, details, flags, cancel = m["payload"]["data"]
        kind, props = subject
        if props.get("name", {}).get("data") == call["sender"]:
            return kind, action, flags, props
    return None
root_set = find("SetParameter", lambda a: a[2]["data"] == -4.5)
nobody_set = find("SetParameter", lambda a: a[2]["data"] == -7)
for name, call, flags in (("root's busctl SetParameter", root_set, 1), ("nobody's iemstagectl SetParameter", nobody_set, 0)):
    if call is None:
        print(name + ": not seen on the bus"); ok = False; continue
    got = check_for(call)
    if got is None:
        print(name + ": no CheckAuthorization for its sender " + call["sender"]); ok = False; continue
    kind, action, f, props = got
    if kind != "system-bus-name" or sorted(props) != ["name"] or action != "org.iemstage1.configure" or f != flags:
        print(name + ": asked %r %r %r flags %r, wanted system-bus-name {name} org.iemstage1.configure flags %d" % (kind, props, action, f, flags)); ok = False
mutating = {"SetParameter", "ApplyProfile", "SetBypass", "Reload", "SaveProfile", "ImportEq", "FitEq", "Set"}
changers = {m["sender"] for m in calls if m.get("destination") == "org.iemstage1" and m.get("member") in mutating}
for m in calls:
    if m.get("member") != "CheckAuthorization":
        continue
    kind, props = m["payload"]["data"][0]
    name = props.get("name", {}).get("data")
    if kind != "system-bus-name":
        print("subject kind %r asked" % kind); ok = False
    elif name not in changers:
        print("subject %r asked, which made no change (a read?)" % name); ok = False
sys.exit(0 if ok else 1)
PY
if [ $? -eq 0 ]; then
	ok "polkit is asked with subject system-bus-name = the caller's unique name (no pid), AllowUserInteraction only when the call allows it, never for reads"
else
	not_ok "polkit is asked with the caller's unique bus name as subject" "$(cat "$tmp/asked.txt")"
fi

# ---- the daemon does not wait for polkit ----------------------------------------------

kill -STOP "$polkit_pid"
timeout 30 busctl --address="$bus" call -- org.iemstage1 /org/iemstage1 org.iemstage1.Manager \
	SetParameter ssv "$dev" eq.1.gain d -3 >"$tmp/held.out" 2>&1 &
held=$!
run_as nobody "$pending" "$dev" 6 >"$tmp/pending.out" 2>&1 &
pending_pid=$!
sent() { grep -qx sent "$tmp/pending.out"; }
wait_until 5000 sent
sleep 0.5
t0=$(now_ms)
ctl nobody get "$dev" eq.1.gain
t1=$(now_ms)
held_still=0
gone "$held" || held_still=1
kill -CONT "$polkit_pid"
wait "$held"
held_rc=$?
if [ "$rc" = 0 ] && [ "$held_still" = 1 ] && [ "$held_rc" = 0 ] && eq1_is -3; then
	ok "while polkit is stopped a change is held and others are answered (get took $((t1 - t0)) ms); after SIGCONT the change lands"
else
	not_ok "while polkit is stopped a change is held and others are answered" \
		"get: exit $rc $(cat "$tmp/err"), held call still waiting: $held_still, its exit $held_rc: $(cat "$tmp/held.out")"
fi
wait "$pending_pid"
if [ "$(cat "$tmp/pending.out")" = "$(printf 'sent\norg.freedesktop.DBus.Error.LimitsExceeded 2\norg.iemstage1.Error.NotAuthorized 4')" ]; then
	ok "6 calls at once from one connection: 4 held for polkit (then NotAuthorized), 2 LimitsExceeded"
else
	not_ok "6 calls at once from one connection: 4 held for polkit, 2 LimitsExceeded" "$(cat "$tmp/pending.out")"
fi

# ---- a rule granting configure to nobody -----------------------------------------------

cat >"$tmp/polkit/rules/50-iemstage-test.rules" <<'JS'
polkit.addRule(function(action, subject) {
	if (action.id == "org.iemstage1.configure" && subject.user == "nobody")
		return polkit.Result.YES;
});
JS
chmod 0644 "$tmp/polkit/rules/50-iemstage-test.rules"
polkit_stop
if ! polkit_start; then
	not_ok "polkitd restarts with a rule" "$(tail -20 "$tmp/polkit.log")"
fi
ctl nobody set "$dev" eq.1.gain -2
if [ "$rc" = 0 ] && eq1_is -2; then
	ok "a polkit rule granting org.iemstage1.configure to nobody: its SetParameter lands"
else
	fail "a polkit rule granting org.iemstage1.configure to nobody: its SetParameter lands"
fi
ctl nobody save "$dev" stolen
if denied && [ ! -e "$state/profiles/stolen.json" ]; then
	ok "... and its SaveProfile is still NotAuthorized (org.iemstage1.manage-profiles)"
else
	fail "... and its SaveProfile is still NotAuthorized (org.iemstage1.manage-profiles)"
fi

# ---- no polkit: no changes ------------------------------------------------------------

polkit_stop
ctl root set "$dev" eq.1.gain -1
if denied && json '"polkit did not answer" in d["message"]' && eq1_is -2; then
	ok "polkitd gone: even root's SetParameter is refused (fail closed), nothing changes"
else
	fail "polkitd gone: even root's SetParameter is refused (fail closed), nothing changes"
fi
ctl nobody get "$dev" eq.1.gain
if [ "$rc" = 0 ]; then
	ok "polkitd gone: reads still work"
else
	fail "polkitd gone: reads still work"
fi

kill -TERM "$daemon_pid"
if wait_until 5000 gone "$daemon_pid"; then
	wait "$daemon_pid"
	drc=$?
	daemon_pid=
	if [ "$drc" = 0 ]; then
		ok "iemstaged --system exits 0 on SIGTERM"
	else
		not_ok "iemstaged --system exits 0 on SIGTERM" "exit $drc" "$(tail -5 "$tmp/daemon.log")"
	fi
else
	not_ok "iemstaged --system exits on SIGTERM" "$(tail -5 "$tmp/daemon.log")"
fi

tap_done
