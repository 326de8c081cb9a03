#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The JSON Schema of the profile format, checked with a real validator:
the schema is valid draft 2020-12, every shipped profile and example
conforms, and profiles the loader refuses for their shape are refused by
the schema too. TAP output."""
import json
import pathlib
import sys

n = 0
failed = 0


def report(good, what, detail=None):
    global n, failed
    n += 1
    print(f"{'ok' if good else 'not ok'} {n} - {what}")
    if not good:
        failed += 1
        if detail:
            for line in str(detail).splitlines():
                print(f"# {line}")


def main():
    schema_path, *dirs = sys.argv[1:]
    try:
        import jsonschema
    except ImportError:
        print("1..0 # SKIP python3-jsonschema is not installed")
        return 0
    schema = json.loads(pathlib.Path(schema_path).read_text())
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        report(True, "the schema is a valid draft 2020-12 schema")
    except jsonschema.SchemaError as e:
        report(False, "the schema is a valid draft 2020-12 schema", e)
        return 1
    v = jsonschema.Draft202012Validator(schema)

    files = sorted(f for d in dirs for f in pathlib.Path(d).glob("*.json"))
    report(len(files) >= 5, f"{len(files)} shipped profiles and examples found")
    for f in files:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in v.iter_errors(json.loads(f.read_text()))]
        report(not errors, f"{f.parent.name}/{f.name} conforms to the schema", "\n".join(errors))

    bad = {
        "unknown member": {"iemstage": 1, "kind": "device", "listenning": "x"},
        "wrong version": {"iemstage": 2, "kind": "device"},
        "band without type": {"iemstage": 1, "kind": "device", "eq": {"bands": [{"freq": 100}]}},
        "gain out of range": {"iemstage": 1, "kind": "device",
                              "eq": {"bands": [{"type": "peaking", "gain": 45}]}},
        "eq in a preset": {"iemstage": 1, "kind": "listening", "eq": {}},
        "empty match rule": {"iemstage": 1, "kind": "device", "match": [{}]},
        "bands and import": {"iemstage": 1, "kind": "device", "eq": {"bands": [], "import": "x"}},
        "bad listening id": {"iemstage": 1, "kind": "device", "listening": "my preset!"},
        "process in a device profile": {"iemstage": 1, "kind": "device", "process": True},
        "unknown stage key": {"iemstage": 1, "kind": "listening", "stage": {"angel": 30}},
    }
    for what, doc in bad.items():
        report(not v.is_valid(doc), f"the schema refuses: {what}")
    print(f"1..{n}")
    return 1 if failed else 0


sys.exit(main())
