#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The D-Bus introspection XML in config/dbus is well-formed (xmllint) and
# names the interface its file name says. That it matches the running
# daemon is tests/integration/test-ctl.sh's business.
#
#   tests/daemon/test-dbus-xml.sh

set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

files=("$top"/config/dbus/*.xml)
if [ ! -e "${files[0]}" ]; then
	echo "1..0 # SKIP no XML in config/dbus"
	exit 0
fi
for f in "${files[@]}"; do
	name=config/dbus/$(basename "$f")
	if ! command -v xmllint >/dev/null 2>&1; then
		skip "$name is well-formed" "xmllint not found (package libxml2-utils)"
	elif out=$(xmllint --noout --nonet "$f" 2>&1); then
		ok "$name is well-formed (xmllint)"
	else
		not_ok "$name is well-formed (xmllint)" "$out"
	fi
	iface=$(basename "$f" .xml)
	if grep -q "<interface name=\"$iface\">" "$f"; then
		ok "$name describes $iface"
	else
		not_ok "$name describes $iface" "$(grep -o '<interface name="[^"]*"' "$f")"
	fi
done
tap_done
