#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds iemstage and renders the demo: a short stereo piece made by
# iemstage-render itself, written once as it is and once through the
# example correction EQ in config/eq/demo-ParametricEQ.txt.
#
#   ./run.sh                                  build, render the demo
#   ./run.sh --set eq.preamp=-3               same, with extra settings
#   ./run.sh --set output.gain=-6 --set eq.1.gain=6
#
# Every argument goes to the render step as it is, after the EQ file, so
# --set NAME=VALUE overrides the file ('build/dsp/tools/iemstage-render
# --list-params' lists the names). Missing Debian packages are installed
# first (with sudo when not root); the build lives in build/.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

build-aux/setup.sh deps
build-aux/setup.sh build build

render=build/dsp/tools/iemstage-render
demo=build/demo
eq=config/eq/demo-ParametricEQ.txt

mkdir -p "$demo"
echo
"$render" --demo-piece "$demo/demo-dry.wav"
echo
"$render" "$demo/demo-dry.wav" "$demo/demo-processed.wav" --eq "$eq" "$@"

cat <<EOF

Done: iemstage is built in build/ and the demo is rendered (paths relative
to $PWD):

  $demo/demo-dry.wav         the demo piece as generated
  $demo/demo-processed.wav   the same through $eq${*:+ and $*}

Listen to them one after the other, on the IEMs:

  pw-play $demo/demo-dry.wav; pw-play $demo/demo-processed.wav

(pw-play needs PipeWire running; otherwise aplay or any audio player plays
them just as well.)
EOF
