#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compares one D-Bus interface in two introspection XML documents.

    introspect-diff.py INTERFACE EXPECTED.xml ACTUAL.xml

Members are compared by what a client sees: a property's type, access and
annotations; a method's arguments in order (name, type, direction, "in"
when absent) and annotations; a signal's arguments (name, type) and
annotations. The order of members, whitespace and comments do not count.
Prints one line per member that differs ("- " as in EXPECTED, "+ " as in
ACTUAL); exit status 0 when the interfaces are the same, 1 when not, 2 when
a document cannot be read or lacks the interface.
"""
import sys
import xml.etree.ElementTree as ET


def annotations(elem):
    return tuple(sorted((a.get("name", ""), a.get("value", "")) for a in elem.findall("annotation")))


def describe(elem):
    kind, name = elem.tag, elem.get("name", "")
    if kind == "property":
        text = "property %s %s %s" % (name, elem.get("type"), elem.get("access"))
    else:
        args = []
        for a in elem.findall("arg"):
            arg = "%s %s" % (a.get("type"), a.get("name", ""))
            if kind == "method":
                arg = "%s %s" % (a.get("direction", "in"), arg)
            args.append(arg)
        text = "%s %s(%s)" % (kind, name, ", ".join(args))
    notes = annotations(elem)
    if notes:
        text += " [%s]" % ", ".join("%s=%s" % n for n in notes)
    return (kind, name), text


def members(path, interface):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        sys.exit(2)
    for iface in root.iter("interface"):
        if iface.get("name") == interface:
            out = {}
            for elem in iface:
                if elem.tag in ("property", "method", "signal"):
                    key, text = describe(elem)
                    out[key] = text
            return out
    print("%s: no interface %s" % (path, interface), file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    interface, expected_path, actual_path = sys.argv[1:]
    expected = members(expected_path, interface)
    actual = members(actual_path, interface)
    differ = False
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) == actual.get(key):
            continue
        differ = True
        if key in expected:
            print("- " + expected[key])
        if key in actual:
            print("+ " + actual[key])
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
