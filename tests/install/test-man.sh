#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The man pages: each renders without a warning (groff -man -ww, and
# man --warnings when man-db is there), and each program's page names
# every option its --help prints (and, for iemstagectl, every command;
# for iemstage-render, every parameter of --list-params), so the pages
# cannot drift from the programs.
#
#   tests/install/test-man.sh MANDIR PROGRAM...
#
# MANDIR holds the configured pages (build/man); each PROGRAM's page is
# MANDIR/NAME.1, or NAME.8 for iemstaged.

set -uo pipefail

usage="usage: $0 man-dir program..."
mandir=${1:?$usage}
shift
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib/tap.sh"

# the page's text with roff's escapes for '-' and fonts taken out
plain() { sed -e 's/\\-/-/g; s/\\f[BIRP]//g; s/\\c//g; s/\\&//g' "$1"; }

# ---- rendering -------------------------------------------------------------

pages=(iemstaged.8 iemstagectl.1 iemstage.profile.5 iemstage-render.1
	iemstage-analyze.1 iemstage-fit.1)
for page in "${pages[@]}"; do
	f=$mandir/$page
	if [ ! -f "$f" ]; then
		not_ok "$page exists" "not in $mandir"
		continue
	fi
	if ! command -v groff >/dev/null 2>&1; then
		skip "$page renders without warnings (groff -ww)" "groff not found"
	else
		out=$(groff -man -ww -z "$f" 2>&1)
		if [ -z "$out" ]; then
			ok "$page renders without warnings (groff -man -ww)"
		else
			not_ok "$page renders without warnings (groff -man -ww)" "$out"
		fi
	fi
	if ! command -v man >/dev/null 2>&1 || ! man --help 2>&1 | grep -q -- --warnings; then
		skip "$page: man --warnings" "man-db's man not found"
	else
		out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		if [ -z "$out" ]; then
			ok "$page: man --warnings is silent"
		else
			not_ok "$page: man --warnings is silent" "$out"
		fi
	fi
	# the page's NAME line says what it documents (whatis / lexgrog)
	name=${page%.*}
	if [[ $(plain "$f" | sed -n '/^\.SH NAME/{n;p}') == "$name - "* ]]; then
		ok "$page: NAME is '$name - ...'"
	else
		not_ok "$page: NAME is '$name - ...'" "$(plain "$f" | sed -n '/^\.SH NAME/{n;p}')"
	fi
done

# ---- every option of --help in the page -------------------------------------

for prog in "$@"; do
	name=$(basename "$prog")
	case "$name" in
	iemstaged) page=$mandir/$name.8 ;;
	*) page=$mandir/$name.1 ;;
	esac
	if ! help=$("$prog" --help 2>&1); then
		not_ok "$name --help exits 0" "$help"
		continue
	fi
	mapfile -t opts < <(grep -oE '(^|[][ |,])--?[A-Za-z][A-Za-z0-9-]*' <<<"$help" |
		sed 's/^[][ |,]//' | sort -u)
	if [ "${#opts[@]}" -lt 2 ]; then
		not_ok "$name --help lists options" "$help"
		continue
	fi
	# (grep -q on a pipe would stop its writer early: pipefail)
	text=$(plain "$page")
	missing=()
	for o in "${opts[@]}"; do
		grep -qE -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|\$)" <<<"$text" || missing+=("$o")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		ok "$name: its page names all ${#opts[@]} options of --help"
	else
		not_ok "$name: its page names every option of --help" "missing: ${missing[*]}"
	fi

	case "$name" in
	iemstagectl)
		mapfile -t cmds < <(sed -n '/^Commands:/,/^$/p' <<<"$help" | sed -n 's/^  \([a-z]\+\).*/\1/p')
		missing=()
		for c in "${cmds[@]}"; do
			grep -qE "^\.BI? \"?$c( |\"|\$)" <<<"$text" || missing+=("$c")
		done
		if [ "${#cmds[@]}" -ge 10 ] && [ "${#missing[@]}" -eq 0 ]; then
			ok "iemstagectl: its page has all ${#cmds[@]} commands of --help"
		else
			not_ok "iemstagectl: its page has every command of --help" \
				"commands: ${cmds[*]}" "missing: ${missing[*]}"
		fi
		;;
	iemstage-render)
		mapfile -t params < <("$prog" --list-params | sed '1d; /^eq\.N\.\* /d' | awk '{print $1}')
		missing=()
		for p in "${params[@]}"; do
			grep -qF -- "$p" <<<"${text// /}" || missing+=("$p")
		done
		if [ "${#params[@]}" -ge 20 ] && [ "${#missing[@]}" -eq 0 ]; then
			ok "iemstage-render: its page names all ${#params[@]} parameters of --list-params"
		else
			not_ok "iemstage-render: its page names every parameter of --list-params" \
				"missing: ${missing[*]}"
		fi
		;;
	esac
done

tap_done
