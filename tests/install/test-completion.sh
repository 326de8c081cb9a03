#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The bash completion of iemstagectl (completions/iemstagectl), sourced
# into bash and driven as bash drives it (COMP_LINE, COMP_POINT and
# COMP_WORDS/COMP_CWORD split the way readline splits, ':' included):
# commands, options, parameter names and choices (from iemstage-render
# --list-params), targets (iemstage-fit --list-targets), files, and the
# device and profile ids of a running iemstaged in a private session
# (a USB IEM and a Bluetooth one, whose id has colons). Each case runs
# twice: with bash-completion's helpers (when installed) and without.
#
#   tests/install/test-completion.sh COMPLETION IEMSTAGECTL IEMSTAGED RENDER FIT MODULE_DIR SYSTEM_MODULEDIR

set -uo pipefail

usage="usage: $0 completion iemstagectl iemstaged iemstage-render iemstage-fit module-dir pipewire-moduledir"
completion=${1:?$usage}
ctl=${2:?$usage}
daemon=${3:?$usage}
render=${4:?$usage}
fit=${5:?$usage}
module_dir=${6:?$usage}
system_moduledir=${7:?$usage}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/iemstaged-session.sh"

abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
completion=$(abs "$completion")
iem_scratch_hook() { iem_daemon_stop; }
iem_scratch

# The programs as the completion finds them: on PATH.
mkdir -p "$tmp/bin" "$tmp/files"
ln -s "$(abs "$ctl")" "$tmp/bin/iemstagectl"
ln -s "$(abs "$render")" "$tmp/bin/iemstage-render"
ln -s "$(abs "$fit")" "$tmp/bin/iemstage-fit"
export PATH=$tmp/bin:$PATH
touch "$tmp/files/my-iem.csv" "$tmp/files/other.txt"

bash_completion=/usr/share/bash-completion/bash_completion
[ -f "$bash_completion" ] || bash_completion=""

# complete MODE LINE: the candidates for the end of LINE, one a line,
# sorted; MODE "bc" sources bash-completion first, "plain" does not.
complete_line()
{
	local mode=$1 line=$2
	bash --norc --noprofile -c '
		mode=$1 completion=$2 bc=$3 line=$4
		if [ "$mode" = bc ]; then . "$bc"; fi
		. "$completion"
		COMP_LINE=$line
		COMP_POINT=${#line}
		COMP_TYPE=9
		COMP_KEY=9
		# readline splits at blanks and at the characters of COMP_WORDBREAKS
		# it is given (":" and "=" are among its default ones)
		COMP_WORDS=()
		w=
		for ((i = 0; i < ${#line}; i++)); do
			c=${line:i:1}
			case "$c" in
			" ") [ -n "$w" ] && COMP_WORDS+=("$w"); w= ;;
			:) [ -n "$w" ] && COMP_WORDS+=("$w"); COMP_WORDS+=(:); w= ;;
			*) w+=$c ;;
			esac
		done
		COMP_WORDS+=("$w")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_iemstagectl iemstagectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete "$mode" "$completion" "$bash_completion" "$line" 2>&1 | sed '/^$/d' | sort
}

# expect LINE EXPECTED...: the candidates are exactly these (sorted here)
expect()
{
	local line=$1 mode want got
	shift
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
	for mode in plain bc; do
		if [ "$mode" = bc ] && [ -z "$bash_completion" ]; then
			skip "'$line' (with bash-completion)" "bash-completion is not installed"
			continue
		fi
		got=$(complete_line "$mode" "$line")
		if [ "$got" = "$want" ]; then
			ok "'$line' ($mode): $(echo $want | cut -c1-60)"
		else
			not_ok "'$line' ($mode)" "want: $(echo $want)" "got:  $(echo $got)"
		fi
	done
}

# expect_has LINE COUNT WORD...: COUNT candidates, these among them
expect_has()
{
	local line=$1 count=$2 mode got w missing
	shift 2
	for mode in plain bc; do
		[ "$mode" = bc ] && [ -z "$bash_completion" ] && continue
		got=$(complete_line "$mode" "$line")
		missing=
		for w in "$@"; do
			grep -qxF -- "$w" <<<"$got" || missing+=" $w"
		done
		if [ -z "$missing" ] && [ "$(grep -c . <<<"$got")" = "$count" ]; then
			ok "'$line' ($mode): $count candidates, $*"
		else
			not_ok "'$line' ($mode): $count candidates, $*" "missing:$missing" \
				"got $(grep -c . <<<"$got"): $(echo $got | cut -c1-300)"
		fi
	done
}

# ---- without a daemon -------------------------------------------------------

expect "iemstagectl " status devices profiles apply set get bypass enable disable \
	reload save import fit monitor
expect "iemstagectl st" status
expect "iemstagectl --" --json --system --help --version
expect "iemstagectl --json s" set save status
expect "iemstagectl --system re" reload
# no daemon: no device ids, and nothing wrong printed
expect "iemstagectl apply "
nparams=$("$render" --list-params | awk '$2 ~ /^(float|enum|bool|string)$/ && $1 !~ /^eq\.N\./' | wc -l)
expect_has "iemstagectl set dev " $((nparams + 1)) bypass stage.mode room.rt60 eq.
# the 32 bands' five settings, and eq.preamp
expect_has "iemstagectl get dev eq." 161 eq.preamp eq.1.type eq.32.channel eq.7.gain
expect "iemstagectl set dev eq.3.t" eq.3.type
expect "iemstagectl set dev stage.mode " off brir room crossfeed
expect "iemstagectl set dev stage.mode r" room
expect "iemstagectl set dev eq.12.type low" lowshelf lowpass
expect "iemstagectl set dev bypass " true false
expect "iemstagectl set dev crossfeed.preset c" cmoy custom
expect "iemstagectl --json set dev eq.2.channel " both left right
expect "iemstagectl bypass dev " on off
expect "iemstagectl bypass dev o" on off
expect "iemstagectl fit $tmp/files/my-iem.csv harman" harman-ie-2019 harman-ie-2019-nobass
expect "iemstagectl import $tmp/files/m" "$tmp/files/my-iem.csv"
expect "iemstagectl fit $tmp/files/" "$tmp/files/my-iem.csv" "$tmp/files/other.txt"
expect "iemstagectl set dev stage.brir $tmp/files/o" "$tmp/files/other.txt"
expect "iemstagectl reload "
expect "iemstagectl save dev "

# ---- with iemstaged: device and profile ids ----------------------------------

for p in pipewire wireplumber dbus-daemon busctl pw-cli timeout; do
	if ! command -v "$p" >/dev/null 2>&1; then
		skip "device and profile ids from iemstaged" "$p not found"
		tap_done
		exit
	fi
done
case "${IEM_SANITIZE:-none}" in
none | '') ;;
*)
	skip "device and profile ids from iemstaged" "built with -Db_sanitize=$IEM_SANITIZE; the daemon hosts the module, pipewire's own modules are not"
	tap_done
	exit
	;;
esac

if ! iem_session_start "$dir" >"$tmp/session.out" 2>&1; then
	not_ok "a private PipeWire session starts" "$(cat "$tmp/session.out")"
	tap_done
	exit 1
fi
export PIPEWIRE_MODULE_DIR=$module_dir:$system_moduledir
export IEMSTAGE_PROFILE_PATH=$tmp/profiles
mkdir -p "$tmp/profiles"
cat >"$tmp/profiles/usb-iem.json" <<'JSON'
{ "iemstage": 1, "kind": "device", "name": "USB IEM",
  "match": [ { "device.bus": "usb", "device.vendor.id": "0x2fc6" } ] }
JSON
cat >"$tmp/profiles/bt-iem.json" <<'JSON'
{ "iemstage": 1, "kind": "device", "name": "BT IEM",
  "match": [ { "api.bluez5.address": "AA:BB:CC:*" } ] }
JSON
cp "$top/config/profiles/defaults.json" "$top/config/profiles/studio.json" "$tmp/profiles/"
chmod 644 "$tmp"/profiles/*.json

if ! iem_daemon_start "$(abs "$daemon")" "$tmp/daemon.log"; then
	not_ok "iemstaged owns org.iemstage1" "$(cat "$tmp/daemon.log")"
	tap_done
	exit 1
fi
plug usb-iem-1 "USB IEM" "device.bus = usb device.vendor.id = 0x2fc6"
plug bluez_output.AA_BB_CC_DD_EE_FF.1 "BT IEM" \
	"api.bluez5.address = \"AA:BB:CC:DD:EE:FF\" device.api = bluez5"
has_devices() { [ "$("$ctl" devices 2>/dev/null | grep -cE '^(usb-iem-1|bluetooth:AA:BB:CC:DD:EE:FF) ')" = 2 ]; }
if wait_until 5000 has_devices; then
	ok "iemstaged sees both IEMs"
else
	not_ok "iemstaged sees both IEMs" "$("$ctl" devices 2>&1)" "$(tail -5 "$tmp/daemon.log")"
fi

# (iem-test-sink: the session's own null sink, the graph's driver)
expect "iemstagectl apply " usb-iem-1 bluetooth:AA:BB:CC:DD:EE:FF iem-test-sink
expect "iemstagectl set u" usb-iem-1
expect "iemstagectl bypass b" bluetooth:AA:BB:CC:DD:EE:FF
# after a colon bash replaces only what follows it
expect "iemstagectl get bluetooth:AA:BB:" CC:DD:EE:FF
expect "iemstagectl apply usb-iem-1 " bt-iem defaults studio usb-iem
expect "iemstagectl apply bluetooth:AA:BB:CC:DD:EE:FF s" studio
expect "iemstagectl --json apply usb-iem-1 u" usb-iem
# --system asks the system bus's daemon, which is not this one
expect "iemstagectl --system apply "

tap_done
