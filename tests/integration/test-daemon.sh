#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# iemstaged in a private session (build-aux/pw-session.sh: its own bus,
# pipewire and wireplumber), driven and watched over D-Bus with busctl.
# Outputs are null sinks carrying the properties real ones have: a USB IEM
# (device.bus, device.vendor.id), Bluetooth IEMs (api.bluez5.address, a
# node re-made for each A2DP/HFP switch) and an unknown card.
#
#   plug-in: ProfileApplied, the virtual sink made the default, a stream
#   started after it processed from its first sample (recorded and compared
#   with iemstage-render --profile), removal restoring the default;
#   Bluetooth profile switches; an unknown device left alone; two IEMs at
#   once; live SetParameter/GetParameters/SetBypass; a bad profile edit
#   keeping the previous version with ProfileError naming file:line:column;
#   argument errors; apply latency over repeated plug-ins (p50, p95).
#
#   tests/integration/test-daemon.sh IEMSTAGED RENDER MODULE_DIR SYSTEM_MODULEDIR ROUTE_DEVICE BUS_BURST
#
# BUS_BURST is tests/integration/iem-bus-burst: many calls on one connection.
# ROUTE_DEVICE is tests/integration/iem-route-device: a built-in card whose
# active output Route a line on its stdin switches (the headphone jack).

set -uo pipefail

usage="usage: $0 iemstaged iemstage-render module-dir pipewire-moduledir iem-route-device iem-bus-burst"
daemon=${1:?$usage}
render=${2:?$usage}
module_dir=${3:?$usage}
system_moduledir=${4:?$usage}
route_device=${5:?$usage}
bus_burst=${6:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
# plug, unplug, node_id, wait_node, wait_no_node
. "$top/tests/lib/iemstaged-session.sh"
session=$top/build-aux/pw-session.sh
wavtool=$top/tests/lib/wavtool.py

need_tools pipewire wireplumber dbus-daemon busctl pw-cli pw-play pw-record pw-link pw-metadata \
	python3 timeout
case "${IEM_SANITIZE:-none}" in
none | '') ;;
*) echo "1..0 # SKIP the module is built with -Db_sanitize=$IEM_SANITIZE; the daemon hosts it and pipewire's own modules are not"; exit 0 ;;
esac

iem_scratch

if ! env_out=$("$session" start "$dir" 2>&1); then
	not_ok "a private PipeWire session starts" "$env_out"
	tap_done
	exit 1
fi
eval "$env_out"
export PIPEWIRE_MODULE_DIR=$module_dir:$system_moduledir
export IEMSTAGE_PROFILE_PATH=$tmp/profiles
mkdir -p "$tmp/profiles"

# ---- profiles ----------------------------------------------------------------

cat >"$tmp/profiles/usb-iem.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"name": "USB IEM",
	"match": [ { "device.bus": "usb", "device.vendor.id": "0x2fc6" } ],
	"eq": { "bands": [ { "type": "peaking", "freq": 1000, "q": 1, "gain": -6 } ] }
}
JSON
cat >"$tmp/profiles/bt-iem.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"name": "Bluetooth IEM",
	"match": [ { "api.bluez5.address": "AA:BB:CC:*" } ],
	"eq": { "bands": [ { "type": "peaking", "freq": 1000, "q": 1, "gain": -12 } ] }
}
JSON
cat >"$tmp/profiles/jack.json" <<'JSON'
{
	"iemstage": 1,
	"kind": "device",
	"name": "IEMs in the headphone jack",
	"match": [ { "device.api": "alsa", "iemstage.route": "analog-output-headphones" } ],
	"eq": { "bands": [ { "type": "peaking", "freq": 1000, "q": 1, "gain": -3 } ] }
}
JSON
cp "$top/config/profiles/defaults.json" "$tmp/profiles/"
chmod 644 "$tmp"/profiles/*.json

# ---- helpers ---------------------------------------------------------------------

call() { timeout 5 busctl --user call -- org.iemstage1 /org/iemstage1 org.iemstage1.Manager "$@"; }
prop() { timeout 5 busctl --user get-property org.iemstage1 /org/iemstage1 org.iemstage1.Manager "$@"; }

# Every signal of the daemon, one JSON object a line.
timeout 600 busctl --user --json=short monitor org.iemstage1 >"$tmp/signals.json" 2>"$tmp/monitor.err" &
children+=($!)

# signal_count MEMBER [ARG0]: how many such signals so far.
signal_count()
{
	python3 - "$tmp/signals.json" "$@" <<'PY'
import json, sys
path, member, *args = sys.argv[1:]
n = 0
for line in open(path):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") != "signal" or m.get("member") != member:
        continue
    data = (m.get("payload") or {}).get("data") or []
    if all(i < len(data) and str(data[i]) == a for i, a in enumerate(args)):
        n += 1
print(n)
PY
}

# wait_signal N MEMBER [ARGS...]: until there are N such signals (5 s).
wait_signal()
{
	local want=$1 end=$(($(now_ms) + 5000))
	shift
	while [ "$(signal_count "$@")" -lt "$want" ]; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

configured_default()
{
	timeout 5 pw-metadata 0 default.configured.audio.sink 2>/dev/null |
		sed -n "s/.*value:'\\(.*\\)' type.*/\\1/p"
}

# The daemon writes the default over its PipeWire connection, which is
# ordered neither with its D-Bus signals nor with the connections of its
# module instances (a virtual sink is gone as soon as its instance is):
# the default is waited for, not read once.
default_is() { [ "$(configured_default)" = "$1" ]; }

devices() { call ListDevices 2>&1; }

# ---- start -------------------------------------------------------------------------

if ! iem_daemon_start "$daemon" "$tmp/daemon.log"; then
	children+=("$iem_daemon_pid")
	not_ok "iemstaged owns org.iemstage1 on the session bus" "$(cat "$tmp/daemon.log")"
	tap_done
	exit 1
fi
daemon_pid=$iem_daemon_pid
children+=("$daemon_pid")
ok "iemstaged owns org.iemstage1 on the session bus"

got=$(prop Version)
if [[ "$got" =~ ^s\ \"[0-9]+\.[0-9]+\.[0-9]+\"$ ]]; then
	ok "Version: $got"
else
	not_ok "Version is a version" "$got"
fi

got=$(call ListProfiles)
if grep -q '"usb-iem" "device" "USB IEM"' <<<"$got" && grep -q '"bt-iem" "device"' <<<"$got" &&
   grep -q '"defaults" "defaults"' <<<"$got"; then
	ok "ListProfiles lists the profiles of the search path"
else
	not_ok "ListProfiles lists the profiles of the search path" "$got"
fi
before_default=$(configured_default)

# ---- plug-in: a USB IEM --------------------------------------------------------------

timeout 5 python3 "$wavtool" sine "$tmp/sine.wav" 1.2
"$render" "$tmp/sine.wav" "$tmp/rendered.wav" --profile usb-iem --quiet

plug usb-iem-1 "USB IEM" "device.bus = usb device.vendor.id = 0x2fc6 device.product.id = 0xf06a"
what="plug-in: a sink with a USB IEM's properties gets ProfileApplied(usb-iem-1, usb-iem)"
if wait_signal 1 ProfileApplied usb-iem-1 usb-iem; then
	ok "$what"
else
	not_ok "$what" "$(devices)" "$(tail -5 "$tmp/daemon.log")"
fi
wait_until 5000 default_is '{ "name": "iemstage.usb-iem-1" }'
got=$(configured_default)
if [ "$got" = '{ "name": "iemstage.usb-iem-1" }' ]; then
	ok "its virtual sink is the configured default"
else
	not_ok "its virtual sink is the configured default" "$got"
fi
got=$(devices)
if grep -q '"usb-iem-1" "usb-iem-1" "USB IEM" "usb-iem" "iemstage.usb-iem-1"' <<<"$got"; then
	ok "ListDevices: the device, its profile and its virtual sink"
else
	not_ok "ListDevices: the device, its profile and its virtual sink" "$got"
fi
got=$(prop ActiveDevice)
if [ "$got" = 's "usb-iem-1"' ]; then
	ok "ActiveDevice is usb-iem-1"
else
	not_ok "ActiveDevice is usb-iem-1" "$got"
fi

got=$(timeout 5 busctl --user get-property org.iemstage1 /org/iemstage1/device/usb_2diem_2d1 \
	org.iemstage1.Device Id Profile Sink 2>&1 | tr '\n' ' ')
objs=$(timeout 5 busctl --user call org.iemstage1 /org/iemstage1 org.freedesktop.DBus.ObjectManager \
	GetManagedObjects 2>&1)
if [ "$got" = 's "usb-iem-1" s "usb-iem" s "iemstage.usb-iem-1" ' ] &&
   grep -q '"/org/iemstage1/device/usb_2diem_2d1"' <<<"$objs"; then
	ok "the device's object /org/iemstage1/device/usb_2diem_2d1: Id, Profile, Sink; in GetManagedObjects"
else
	not_ok "the device's object: Id, Profile, Sink; in GetManagedObjects" "$got" "$objs"
fi

# A stream started now plays through the chain from its first sample: play
# to the default sink, record the IEM's monitor, compare with the render.
rec_name=iem-daemon-recorder
pw-record --target usb-iem-1 -P "{ stream.capture.sink = true node.name = $rec_name }" \
	--rate 48000 --channels 2 --format f32 "$tmp/recorded.wav" >"$tmp/record.log" 2>&1 &
rec_pid=$!
children+=("$rec_pid")
end=$(($(now_ms) + 10000))
until timeout 5 pw-link -l 2>/dev/null | grep -q "$rec_name:input_FR"; do
	[ "$(now_ms)" -lt "$end" ] || break
	sleep 0.05
done
timeout 20 pw-play "$tmp/sine.wav" >"$tmp/play.log" 2>&1
kill -INT "$rec_pid" 2>/dev/null
wait "$rec_pid" 2>/dev/null
level=$(python3 "$wavtool" level "$tmp/sine.wav" "$tmp/recorded.wav" 2>&1)
if awk '{ exit !($1 > -6.2 && $1 < -5.8 && $2 > -6.2 && $2 < -5.8) }' <<<"$level"; then
	ok "a stream to the default sink comes out of the IEM at -6.0 +- 0.2 dB (the profile's EQ): $level"
else
	not_ok "a stream to the default sink comes out of the IEM at -6.0 +- 0.2 dB (the profile's EQ)" \
		"$level" "$(cat "$tmp/play.log" "$tmp/record.log")"
fi
onset=$(python3 "$wavtool" onset "$tmp/recorded.wav" "$tmp/rendered.wav" 2>&1)
if awk '{ exit !($1 == "-inf" || ($1 + 0 == $1 && $1 <= -80)) }' <<<"$onset"; then
	ok "processed from its first sample: the first 0.5 s match iemstage-render --profile (${onset% *} dB)"
else
	not_ok "processed from its first sample: the first 0.5 s match iemstage-render --profile" "$onset"
fi

# ---- live control -----------------------------------------------------------------------

call SetParameter ssv usb-iem-1 eq.1.gain d -3 >/dev/null
got=$(call GetParameters s usb-iem-1 | grep -o '"eq.1.gain" d [-0-9.]*')
if [ "$got" = '"eq.1.gain" d -3' ] && wait_signal 1 ParameterChanged usb-iem-1; then
	ok "SetParameter changes a parameter live; GetParameters reads it back; ParameterChanged"
else
	not_ok "SetParameter changes a parameter live; GetParameters reads it back; ParameterChanged" "$got"
fi

got=$(call SetParameter ssv usb-iem-1 eq.1.gain d 99 2>&1)
if grep -qF 'eq.1.gain: 99 is out of range (-30 … 30 dB)' <<<"$got" &&
   [ "$(call GetParameters s usb-iem-1 | grep -o '"eq.1.gain" d [-0-9.]*')" = '"eq.1.gain" d -3' ]; then
	ok "an out-of-range value is refused by name and changes nothing"
else
	not_ok "an out-of-range value is refused by name and changes nothing" "$got"
fi
got=$(call SetParameter ssv nope eq.1.gain d 1 2>&1)
if grep -qF 'no device "nope"' <<<"$got"; then
	ok "an unknown device is refused: $got"
else
	not_ok "an unknown device is refused" "$got"
fi
got=$(call SetParameter ssv usb-iem-1 eq.1.gian d 1 2>&1)
if grep -qF 'unknown parameter "eq.1.gian"' <<<"$got"; then
	ok "an unknown parameter is refused: $got"
else
	not_ok "an unknown parameter is refused" "$got"
fi
got=$(call ApplyProfile ss usb-iem-1 'no such!' 2>&1)
if grep -qF 'is not a profile id' <<<"$got"; then
	ok "a malformed profile id is refused: $got"
else
	not_ok "a malformed profile id is refused" "$got"
fi
call SetBypass sb usb-iem-1 true >/dev/null
got=$(call GetParameters s usb-iem-1 | grep -o '"bypass" b [a-z]*')
call SetBypass sb usb-iem-1 false >/dev/null
if [ "$got" = '"bypass" b true' ]; then
	ok "SetBypass"
else
	not_ok "SetBypass" "$got"
fi

# One sender calling far faster than anyone needs is slowed down; another
# sender is not.
got=$("$bus_burst" usb-iem-1 100 2>&1)
other=$(call SetBypass sb usb-iem-1 false 2>&1)
if awk '{ exit !($1 == "calls" && $4 >= 40 && $6 >= 30 && $8 == 0) }' <<<"$got" && [ -z "$other" ]; then
	ok "rate limit: 100 calls back to back from one sender: $got; another sender still gets through"
else
	not_ok "rate limit: a burst from one sender is limited, another sender is not" "$got" "$other"
fi

# ---- a bad profile edit ----------------------------------------------------------------

sed -i 's/"gain": -6 }/"gain": -6, }/' "$tmp/profiles/usb-iem.json"
what="a bad edit: ProfileError names file:line:column, the previous version stays"
if wait_signal 1 ProfileError "$tmp/profiles/usb-iem.json" 6 76; then
	got=$(call ListProfiles)
	if grep -q '"usb-iem" "device" "USB IEM"' <<<"$got" &&
	   [ "$(call GetParameters s usb-iem-1 | grep -o '"eq.1.gain" d [-0-9.]*')" = '"eq.1.gain" d -3' ]; then
		ok "$what"
	else
		not_ok "$what" "$got"
	fi
else
	not_ok "$what" "$(cat "$tmp/signals.json" | grep ProfileError)" "$(tail -3 "$tmp/daemon.log")"
fi
sed -i 's/"gain": -6, }/"gain": -9 }/' "$tmp/profiles/usb-iem.json"
end=$(($(now_ms) + 5000))
until [ "$(call GetParameters s usb-iem-1 | grep -o '"eq.1.gain" d [-0-9.]*')" = '"eq.1.gain" d -9' ]; do
	[ "$(now_ms)" -lt "$end" ] || break
	sleep 0.05
done
got=$(call GetParameters s usb-iem-1 | grep -o '"eq.1.gain" d [-0-9.]*')
if [ "$got" = '"eq.1.gain" d -9' ]; then
	ok "the fixed file applies live (eq.1.gain -9)"
else
	not_ok "the fixed file applies live (eq.1.gain -9)" "$got"
fi

# ---- the README's busctl examples ---------------------------------------------------

examples=$(sed -n '/^<!-- busctl-examples -->$/,/^<!-- \/busctl-examples -->$/p' "$top/README.md" |
	grep '^busctl ')
n_examples=0
failed_examples=()
while IFS= read -r line; do
	n_examples=$((n_examples + 1))
	if ! out=$(DEV=usb-iem-1 PROFILE=usb-iem timeout 10 bash -c "$line" 2>&1); then
		failed_examples+=("$line" "  -> $out")
	fi
done <<<"$examples"
if [ "$n_examples" -ge 10 ] && [ "${#failed_examples[@]}" -eq 0 ]; then
	ok "the README's $n_examples busctl examples run (DEV=usb-iem-1, PROFILE=usb-iem)"
else
	not_ok "the README's busctl examples run" "$n_examples examples" "${failed_examples[@]}"
fi
if wait_node iemstage.usb-iem-1 && [ "$(prop Enabled)" = "b true" ]; then
	ok "after Enabled false and true, the IEM has its virtual sink again"
else
	not_ok "after Enabled false and true, the IEM has its virtual sink again" "$(devices)"
fi

# ---- writing profiles: SaveProfile, ImportEq, FitEq ------------------------------------

got=$(call SaveProfile ss usb-iem-1 saved-usb 2>&1)
if [ "$got" = "s \"$tmp/profiles/saved-usb.json\"" ] &&
   grep -q '"device.vendor.id": "0x2fc6"' "$tmp/profiles/saved-usb.json" &&
   grep -q '"device.product.id": "0xf06a"' "$tmp/profiles/saved-usb.json" &&
   call ListProfiles | grep -q '"saved-usb" "device"'; then
	ok "SaveProfile writes a device profile matching this device, and it loads"
else
	not_ok "SaveProfile writes a device profile matching this device, and it loads" "$got" \
		"$(cat "$tmp/profiles/saved-usb.json" 2>&1)"
fi
if wait_signal 1 ProfileApplied usb-iem-1 saved-usb; then
	ok "the saved profile, more specific (vendor and product), takes the device over"
else
	not_ok "the saved profile, more specific (vendor and product), takes the device over" "$(devices)"
fi
n_applied=$(signal_count ProfileApplied usb-iem-1 usb-iem)
rm -f "$tmp/profiles/saved-usb.json"
call Reload >/dev/null
if wait_signal $((n_applied + 1)) ProfileApplied usb-iem-1 usb-iem; then
	ok "removed again, the device gets usb-iem back"
else
	not_ok "removed again, the device gets usb-iem back" "$(devices)" "$(grep ProfileApplied "$tmp/signals.json")"
fi
got=$(call ImportEq ss "$top/config/eq/demo-ParametricEQ.txt" imported 2>&1)
if [ "$got" = "s \"$tmp/profiles/imported.json\"" ] && call ListProfiles | grep -q '"imported" "device"'; then
	ok "ImportEq turns a ParametricEQ.txt into a device profile"
else
	not_ok "ImportEq turns a ParametricEQ.txt into a device profile" "$got"
fi
printf 'Preamp: -3 dB\nFilter 1: ON PK Fc 100 Hz Gain 99 dB Q 1\n' >"$tmp/bad-eq.txt"
got=$(call ImportEq ss "$tmp/bad-eq.txt" bad 2>&1)
if grep -qF "$tmp/bad-eq.txt:2:" <<<"$got" && [ ! -e "$tmp/profiles/bad.json" ]; then
	ok "ImportEq refuses a bad file naming FILE:LINE:COLUMN, writes nothing"
else
	not_ok "ImportEq refuses a bad file naming FILE:LINE:COLUMN, writes nothing" "$got"
fi
awk 'BEGIN { print "frequency,raw"; for (i = 0; i <= 120; i++) { f = 20 * exp(log(1000) * i / 120);
	printf "%.2f,%.3f\n", f, 3 * exp(-(log(f / 3000))^2) } }' >"$tmp/meas.csv"
got=$(call FitEq sss "$tmp/meas.csv" harman-ie-2019 fitted 2>&1)
if [ "$got" = "s \"$tmp/profiles/fitted.json\"" ] && grep -q '"lowshelf"' "$tmp/profiles/fitted.json"; then
	ok "FitEq fits a measurement to a target into a device profile"
else
	not_ok "FitEq fits a measurement to a target into a device profile" "$got"
fi
got=$(call FitEq sss meas.csv "" fitted2 2>&1)
if grep -qF 'measurement: "meas.csv" is not an absolute file name' <<<"$got"; then
	ok "a relative file name is refused by argument: $got"
else
	not_ok "a relative file name is refused by argument" "$got"
fi

# ---- the headphone jack: a card's Route -------------------------------------------------

mkfifo "$tmp/route-in"
"$route_device" builtin-sink <"$tmp/route-in" >"$tmp/route.log" 2>&1 &
children+=($!)
exec 7>"$tmp/route-in"
jack_ok=1
jack_log=()
jack_step()
{
	local cmd=$1 want=$2 n
	n=$(signal_count ProfileApplied builtin-sink "$want")
	echo "$cmd" >&7
	if ! wait_signal $((n + 1)) ProfileApplied builtin-sink "$want"; then
		jack_ok=0
		jack_log+=("after '$cmd': no ProfileApplied(builtin-sink, '$want')")
	fi
}
if wait_node builtin-sink && sleep 0.3 && grep -q '"builtin-sink" "builtin-sink" "Built-in Audio Analog Stereo" "" ""' <<<"$(devices)"; then
	ok "a built-in card with the speaker route active: untouched"
else
	not_ok "a built-in card with the speaker route active: untouched" "$(devices)"
fi
jack_step headphones jack
got=$(devices)
grep -q '"builtin-sink" "Built-in Audio Analog Stereo" "jack" "iemstage.builtin-sink"' <<<"$got" || jack_ok=0
jack_step speaker ""
jack_step headphones jack
jack_step unplugged ""
if [ "$jack_ok" = 1 ] && [ -z "$(node_id iemstage.builtin-sink)" ]; then
	ok "jack: headphones route -> the jack profile applies; speaker -> undone; again; headphones unavailable -> undone"
else
	not_ok "jack: the route's profile applies and un-applies with the route" "${jack_log[@]}" "$got" \
		"$(cat "$tmp/route.log")"
fi
exec 7>&-

# ---- unknown device; Bluetooth; two IEMs ------------------------------------------------

plug card-1 "Built-in Audio" "device.bus = pci"
sleep 0.5
got=$(devices)
if grep -q '"card-1" "card-1" "Built-in Audio" "" ""' <<<"$got" && [ -z "$(node_id iemstage.card-1)" ]; then
	ok "an unknown device is left untouched (the shipped defaults)"
else
	not_ok "an unknown device is left untouched (the shipped defaults)" "$got"
fi

bt_round()
{
	local name=$1 n=$2
	plug "$name" "BT IEM" "api.bluez5.address = \"AA:BB:CC:DD:EE:FF\" device.api = bluez5"
	wait_signal "$n" ProfileApplied bluetooth:AA:BB:CC:DD:EE:FF bt-iem
}
ok_bt=1
bt_round bluez_output.AA_BB_CC_DD_EE_FF.1 1 || ok_bt=0
unplug bluez_output.AA_BB_CC_DD_EE_FF.1
bt_round bluez_output.AA_BB_CC_DD_EE_FF.headset-head-unit 2 || ok_bt=0
unplug bluez_output.AA_BB_CC_DD_EE_FF.headset-head-unit
bt_round bluez_output.AA_BB_CC_DD_EE_FF.1 3 || ok_bt=0
if [ "$ok_bt" = 1 ]; then
	ok "Bluetooth A2DP -> HFP -> A2DP: the profile applies to each new node (id bluetooth:AA:BB:CC:DD:EE:FF)"
else
	not_ok "Bluetooth A2DP -> HFP -> A2DP: the profile applies to each new node" "$(devices)" \
		"$(grep ProfileApplied "$tmp/signals.json")"
fi
got=$(devices)
if grep -q '"usb-iem" "iemstage.usb-iem-1"' <<<"$got" && grep -q '"bt-iem" "iemstage.bluez_output' <<<"$got"; then
	ok "two IEMs at once, each with its own profile and virtual sink"
else
	not_ok "two IEMs at once, each with its own profile and virtual sink" "$got"
fi

# ---- removal ----------------------------------------------------------------------------

unplug bluez_output.AA_BB_CC_DD_EE_FF.1
unplug usb-iem-1
if wait_signal 1 DeviceRemoved usb-iem-1 && wait_no_node iemstage.usb-iem-1; then
	ok "removal: DeviceRemoved, the virtual sink is gone"
else
	not_ok "removal: DeviceRemoved, the virtual sink is gone" "$(devices)"
fi
wait_until 5000 default_is "$before_default"
got=$(configured_default)
if [ "$got" = "$before_default" ]; then
	ok "the configured default is back as it was ('$before_default')"
else
	not_ok "the configured default is back as it was" "now '$got', before '$before_default'"
fi

# ---- apply latency ------------------------------------------------------------------------

# Each plug-in waits for its own ProfileApplied: one more than before it
# (the device has had usb-iem applied several times above, so a count
# from the start of the test is already met and would not wait at all).
n_cycles=20
broke=
log_from=$(wc -l <"$tmp/daemon.log")
for i in $(seq 1 "$n_cycles"); do
	applied=$(signal_count ProfileApplied usb-iem-1 usb-iem)
	plug usb-iem-1 "USB IEM" "device.bus = usb device.vendor.id = 0x2fc6" ||
		{ broke="plug-in $i: pw-cli create-node failed"; break; }
	wait_signal $((applied + 1)) ProfileApplied usb-iem-1 usb-iem ||
		{ broke="plug-in $i: no ProfileApplied within 5 s"; break; }
	unplug usb-iem-1 ||
		{ broke="plug-in $i: the sink usb-iem-1 could not be destroyed"; break; }
	wait_no_node iemstage.usb-iem-1 ||
		{ broke="plug-in $i: iemstage.usb-iem-1 still there 5 s after the unplug"; break; }
	[ "$(signal_count ProfileApplied usb-iem-1 usb-iem)" = $((applied + 1)) ] ||
		{ broke="plug-in $i: more than one ProfileApplied"; break; }
done
lat=$(tail -n +$((log_from + 1)) "$tmp/daemon.log" |
	sed -n 's/.*usb-iem-1: profile usb-iem applied \([0-9.]*\) ms after.*/\1/p' | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		printf "n=%d p50=%.1f p95=%.1f max=%.1f", NR, v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.999)], v[NR] }')
if [ -z "$broke" ] && [ -n "$lat" ] && [ "${lat%% *}" = "n=$n_cycles" ]; then
	ok "apply latency, sink in the registry to ProfileApplied, ms: $lat"
else
	not_ok "apply latency over $n_cycles plug-ins" "$lat" "$broke" "$(tail -n 15 "$tmp/daemon.log")" \
		"$(timeout 5 pw-cli ls Node 2>/dev/null | grep -F node.name)"
fi

# ---- idle cost ------------------------------------------------------------------------

# wakeups: context switches of all the daemon's threads; cpu: its ticks.
proc_sample()
{
	local sw=0 t
	for t in /proc/"$daemon_pid"/task/*/status; do
		sw=$((sw + $(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t")))
	done
	echo "$sw $(awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat")"
}
idle_figure()
{
	local a b
	a=$(proc_sample)
	sleep 10
	b=$(proc_sample)
	awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		printf "%.0f wake-ups/min, %.3f %% CPU", (y[1] - x[1]) * 6, (y[2] - x[2]) / hz / 10 * 100 }'
}

# ---- a hot-plug storm ----------------------------------------------------------------

# 200 sinks that come and go at once (pw-cli without object.linger: the
# node lives as long as the pw-cli that made it), then one that stays.
t0=$(now_ms)
for i in $(seq 1 200); do
	timeout 5 pw-cli create-node adapter "{ factory.name = support.null-audio-sink
		node.name = usb-iem-3 node.description = \"USB IEM 3\" media.class = Audio/Sink
		audio.position = [ FL FR ] device.bus = usb device.vendor.id = 0x2fc6 }" >/dev/null 2>&1
done
storm_ms=$(($(now_ms) - t0))
plug usb-iem-3 "USB IEM 3" "device.bus = usb device.vendor.id = 0x2fc6"
wait_node iemstage.usb-iem-3
sleep 1
sinks=$(timeout 5 pw-cli ls Node 2>/dev/null | grep -c 'node.name = "iemstage.usb-iem-3"')
applied=$(signal_count ProfileApplied usb-iem-3 usb-iem)
got=$(devices)
if [ "$sinks" = 1 ] && grep -q '"usb-iem-3" "usb-iem-3" "USB IEM 3" "usb-iem" "iemstage.usb-iem-3"' <<<"$got" &&
   [ "$applied" -le 201 ] && [ "$(grep -o '"usb-iem-3"' <<<"$got" | wc -l)" = 2 ]; then
	ok "hot-plug storm (200 add/remove in ${storm_ms} ms, then one that stays): one virtual sink, applied once per appearance ($applied signals)"
else
	not_ok "hot-plug storm: one virtual sink at the end, no double apply" \
		"virtual sinks: $sinks; ProfileApplied: $applied" "$got"
fi
unplug usb-iem-3
wait_no_node iemstage.usb-iem-3

# Idle: nothing applied, then one IEM applied (its module instance keeps a
# 1 s timer that publishes the limiter and xrun counters).
idle_none=$(idle_figure)
wakeups=${idle_none%% *}
if [ "$wakeups" -le 6 ]; then
	ok "idle with no IEM: $idle_none (nothing polls)"
else
	not_ok "idle with no IEM: at most 6 wake-ups a minute" "$idle_none"
fi
plug usb-iem-4 "USB IEM 4" "device.bus = usb device.vendor.id = 0x2fc6"
wait_node iemstage.usb-iem-4
idle_one=$(idle_figure)
if [ "${idle_one%% *}" -le 6 ]; then
	ok "idle with one IEM applied (no audio): $idle_one"
else
	not_ok "idle with one IEM applied (no audio): at most 6 wake-ups a minute" "$idle_one"
fi
unplug usb-iem-4
wait_no_node iemstage.usb-iem-4

# ---- PipeWire restarts ------------------------------------------------------------------

# A USB IEM that is there whenever PipeWire is (as hardware would be): a
# drop-in of the session's server, read at every start.
cat >"$dir/config/pipewire/pipewire.conf.d/60-usb-iem-2.conf" <<'CONF'
context.objects = [
    { factory = adapter
        args = {
            factory.name = support.null-audio-sink
            node.name = usb-iem-2
            node.description = "USB IEM 2"
            media.class = Audio/Sink
            audio.position = [ FL FR ]
            device.bus = usb
            device.vendor.id = 0x2fc6
        }
    }
]
CONF
n_restarts=20
restart_ok=0
slowest=0
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null; }
rss_before=
for i in $(seq 1 "$n_restarts"); do
	if ! out=$("$session" restart "$dir" 2>&1); then
		echo "# restart $i failed: $out"
		break
	fi
	t0=$(now_ms)
	wait_signal "$i" ProfileApplied usb-iem-2 usb-iem || break
	took=$(($(now_ms) - t0))
	[ "$took" -gt "$slowest" ] && slowest=$took
	[ "$took" -le 2000 ] && restart_ok=$((restart_ok + 1))
	# the first rounds settle allocations; growth is counted from the third
	[ "$i" = 3 ] && rss_before=$(rss)
done
if [ "$restart_ok" = "$n_restarts" ]; then
	ok "PipeWire killed and restarted $n_restarts times: the daemon reconnects and re-applies each time within 2 s (slowest ${slowest} ms after PipeWire is back)"
else
	not_ok "PipeWire killed and restarted $n_restarts times: re-applied within 2 s each time" \
		"$restart_ok of $n_restarts; slowest ${slowest} ms" "$(tail -5 "$tmp/daemon.log")"
fi
rss_after=$(rss)
if [ -n "$rss_before" ] && [ -n "$rss_after" ] && [ $((rss_after - rss_before)) -lt 1024 ]; then
	ok "its RSS over restarts 3 … $n_restarts: $rss_before kB -> $rss_after kB"
else
	not_ok "its RSS grows less than 1 MiB over the restarts" "$rss_before kB -> $rss_after kB"
fi
if timeout 2 busctl --user status org.iemstage1 >/dev/null 2>&1 && ! gone "$daemon_pid"; then
	ok "and still owns org.iemstage1"
else
	not_ok "and still owns org.iemstage1" "$(tail -5 "$tmp/daemon.log")"
fi

kill -TERM "$daemon_pid"
end=$(($(now_ms) + 5000))
while ! gone "$daemon_pid" && [ "$(now_ms)" -lt "$end" ]; do
	sleep 0.05
done
if gone "$daemon_pid"; then
	ok "SIGTERM stops iemstaged"
else
	not_ok "SIGTERM stops iemstaged" "$(tail -5 "$tmp/daemon.log")"
fi
tap_done
