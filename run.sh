#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds iemstage, renders the demo, and runs iemstaged, the daemon that
# applies profiles to IEMs as they appear.
#
#   ./run.sh                                  build, demo, daemon
#   ./run.sh --set eq.preamp=-3               same, with extra settings for the demo
#
# The demo: a short stereo piece made by iemstage-render itself, written once
# as it is and once through the example correction EQ and the "studio"
# listening preset (two speakers in a small room). Every argument goes to
# that render step, after the profile and the EQ file, so --set NAME=VALUE
# overrides them.
#
# The daemon: on your PipeWire session when one is running (your profiles
# from ~/.config/iemstage/profiles, the shipped presets from config/);
# otherwise in a private headless session (build/run-session: its own bus,
# pipewire and wireplumber) with a simulated USB IEM and a profile for it,
# so that it can be tried with busctl. Ctrl-C stops it (and the private
# session). Without a terminal on stdin it stops after showing its state.
#
# Missing Debian packages are installed first (with sudo when not root); the
# build lives in build/.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
top=$PWD

build-aux/setup.sh deps
build-aux/setup.sh build build

render=build/dsp/tools/iemstage-render
demo=build/demo
eq=config/eq/demo-ParametricEQ.txt

mkdir -p "$demo"
echo
"$render" --demo-piece "$demo/demo-dry.wav"
echo
"$render" "$demo/demo-dry.wav" "$demo/demo-processed.wav" \
	--profile config/profiles/studio.json --eq "$eq" "$@"

cat <<EOF

The demo is rendered (paths relative to $PWD):

  $demo/demo-dry.wav         the demo piece as generated
  $demo/demo-processed.wav   the same through $eq and the studio preset${*:+, with $*}

Listen to them one after the other, on the IEMs:

  pw-play $demo/demo-dry.wav; pw-play $demo/demo-processed.wav

EOF

# ---- the daemon ------------------------------------------------------------

daemon=build/daemon/iemstaged
if [ ! -x "$daemon" ]; then
	echo "iemstaged was not built (it needs libsystemd and libpipewire); stopping here."
	exit 0
fi
# The uninstalled module, then PipeWire's own.
system_moduledir=$(pkg-config --variable=moduledir libpipewire-0.3)
export PIPEWIRE_MODULE_DIR=$top/build/module:$system_moduledir
export PATH=$top/build/daemon:$PATH

interactive=0
[ -t 0 ] && interactive=1

if timeout 2 pw-cli info 0 >/dev/null 2>&1 && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}${XDG_RUNTIME_DIR:-}" ]; then
	profiles=${XDG_CONFIG_HOME:-$HOME/.config}/iemstage/profiles
	export IEMSTAGE_PROFILE_PATH=$profiles:/etc/iemstage/profiles:$top/config/profiles
	cat <<-EOF
	A PipeWire session is running: iemstaged starts on it. It applies the device
	profiles in $profiles (see the README's
	Profiles section, and config/examples/) to the IEMs they match; outputs no
	profile matches stay untouched. In another terminal:

	  busctl --user call org.iemstage1 /org/iemstage1 org.iemstage1.Manager ListDevices
	  build/daemon/iemstagectl status

	EOF
	if [ "$interactive" = 1 ]; then
		echo "Ctrl-C stops it."
		exec "$daemon"
	fi
	timeout 3 "$daemon" || true
	exit 0
fi

# No PipeWire here: a private one, with a simulated IEM.
session=build/run-session
build-aux/pw-session.sh stop "$session" >/dev/null 2>&1 || true
rm -rf "$session"
mkdir -p "$session/config/pipewire/pipewire.conf.d" "$session/profiles"
cat >"$session/config/pipewire/pipewire.conf.d/60-simulated-iem.conf" <<'EOF'
# Written by run.sh: a sink with the properties of an IEM on a USB DAC.
context.objects = [
    { factory = adapter
        args = {
            factory.name = support.null-audio-sink
            node.name = simulated-usb-iem
            node.description = "Simulated USB IEM"
            media.class = Audio/Sink
            audio.position = [ FL FR ]
            device.bus = usb
            device.vendor.id = 0x2fc6
            device.product.id = 0xf06a
        }
    }
]
EOF
cp "$eq" "$session/profiles/demo-ParametricEQ.txt"
cat >"$session/profiles/simulated-iem.json" <<'EOF'
{
	"iemstage": 1,
	"kind": "device",
	"name": "Simulated USB IEM",
	"match": [ { "device.bus": "usb", "device.vendor.id": "0x2fc6" } ],
	"listening": "studio",
	"eq": { "import": "demo-ParametricEQ.txt" }
}
EOF
chmod 644 "$session"/profiles/*
export IEMSTAGE_PROFILE_PATH=$top/$session/profiles:$top/config/profiles

echo "No PipeWire session is running: starting a private one in $session."
eval "$(build-aux/pw-session.sh start "$session")"

cleanup()
{
	[ -n "${daemon_pid:-}" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	build-aux/pw-session.sh stop "$session" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$daemon" >"$session/iemstaged.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 100); do
	busctl --user call org.iemstage1 /org/iemstage1 org.iemstage1.Manager ListDevices 2>/dev/null |
		grep -q '"simulated-iem" "iemstage.simulated-usb-iem"' && break
	sleep 0.05
done

cat <<EOF

iemstaged runs on the private session (log: $session/iemstaged.log) and has
applied simulated-iem.json to the simulated IEM: its virtual sink
"IEM Stage (Simulated USB IEM)" is the default sink. From another terminal:

  cd $top
  eval "\$(build-aux/pw-session.sh env $session)"
  busctl --user call org.iemstage1 /org/iemstage1 org.iemstage1.Manager ListDevices
  busctl --user call -- org.iemstage1 /org/iemstage1 org.iemstage1.Manager SetParameter ssv simulated-usb-iem stage.angle d 40
  busctl --user call org.iemstage1 /org/iemstage1 org.iemstage1.Manager GetParameters s simulated-usb-iem
  busctl --user monitor org.iemstage1
  build/daemon/iemstagectl status             # the same, as commands
  build/daemon/iemstagectl set simulated-usb-iem stage.mode crossfeed
  build/daemon/iemstagectl monitor
  pw-play $demo/demo-dry.wav      # plays through the chain into the simulated IEM

Devices now:
EOF
busctl --user call org.iemstage1 /org/iemstage1 org.iemstage1.Manager ListDevices || true
if [ "$interactive" = 1 ]; then
	echo
	echo "Ctrl-C stops the daemon and the private session."
	wait "$daemon_pid" || true
fi
