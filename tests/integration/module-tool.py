#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Signals and pw-dump readers for tests/integration/test-module-render.sh
(standard library only).

  module-tool.py gen DIR                 the test signals and a BRIR (float WAV)
  module-tool.py id NAME                 pw-dump on stdin: the node's id
  module-tool.py info NAME KEY           pw-dump on stdin: an info property
  module-tool.py props NAME              pw-dump on stdin: iemstage's Props, "name value" lines
  module-tool.py plan NAME BRIR SET EXP  pw-dump on stdin: from the node's PropInfo,
                                         set-param bodies (SET, one per line: pw-cli takes
                                         1 KiB) giving every parameter a valid value that is
                                         not its default, and the values to read back (EXP,
                                         JSON; EXP.N: those of line N)
  module-tool.py defaults NAME SET EXP   the same with every default
  module-tool.py check NAME EXP          pw-dump on stdin: the Props against EXP; prints
                                         "N checked" or each mismatch (exit 1)
  module-tool.py latency NAME PORTS DIR  pw-dump on stdin: the Latency of direction DIR
                                         (Input, Output) that the node's PORTS (input,
                                         output; its monitor ports left out) report:
                                         "quantum A-B rate C-D ns E-F" when they all
                                         report the same (exit 1 when they differ, or
                                         none does)
"""
import json
import math
import random
import sys

from wavtool import write_f32


def fade(i, n, ramp):
    """The gain at frame i of n with raised-cosine ends of ramp frames."""
    if i < ramp:
        return 0.5 - 0.5 * math.cos(math.pi * i / ramp)
    if i >= n - ramp:
        return 0.5 - 0.5 * math.cos(math.pi * (n - 1 - i) / ramp)
    return 1.0


def noise(seconds, rate, rms_db, seed):
    """Gaussian noise at rms_db dBFS with 5 ms raised-cosine ends."""
    rnd = random.Random(seed)
    n = int(seconds * rate)
    a = 10 ** (rms_db / 20)
    ramp = int(0.005 * rate)
    return [fade(i, n, ramp) * a * rnd.gauss(0, 1) for i in range(n)]


def stereo_noise(path, seconds, rate, silence=0.7, lead=0.5):
    """lead seconds of silence, the noise, silence seconds of silence: the
    start-up of pw-play is in the first, a stage's tail in the last."""
    left = noise(seconds, rate, -30, 1)
    right = noise(seconds, rate, -30, 2)
    frames = [(0.0, 0.0)] * int(lead * rate) + list(zip(left, right))
    frames += [(0.0, 0.0)] * int(silence * rate)
    write_f32(path, 2, frames, rate)


def sine(path, seconds, freq=200.0, rate=48000, db=-12.0):
    a = 10 ** (db / 20)
    n = int(seconds * rate)
    ramp = int(0.02 * rate)
    frames = []
    for i in range(n):
        s = fade(i, n, ramp) * a * math.sin(2 * math.pi * freq * i / rate)
        frames.append((s, s))
    frames += [(0.0, 0.0)] * int(0.3 * rate)
    write_f32(path, 2, frames, rate)


def brir(path, rate=48000, taps=1200):
    """4 channels (LL, LR, RL, RR): a direct impulse each (the cross paths
    later and lower) and a decaying noise tail."""
    rnd = random.Random(3)
    frames = [[0.0] * 4 for _ in range(taps)]
    for ch, (at, g) in enumerate(((0, 0.8), (14, 0.4), (14, 0.4), (0, 0.8))):
        frames[at][ch] += g
        for i in range(at + 1, taps):
            frames[i][ch] += 0.05 * g * math.exp(-(i - at) / 250.0) * rnd.gauss(0, 1)
    write_f32(path, 4, frames, rate)


def gen(d):
    stereo_noise(d + "/noise.wav", 1.0, 48000)
    stereo_noise(d + "/long.wav", 5.0, 48000)
    stereo_noise(d + "/lead.wav", 1.0, 48000, lead=2.0)
    stereo_noise(d + "/noise44.wav", 1.0, 44100)
    sine(d + "/sine200.wav", 4.5)
    brir(d + "/brir4.wav")


def node(dump, name):
    for o in dump:
        p = (o.get("info") or {}).get("props") or {}
        if o.get("type") == "PipeWire:Interface:Node" and p.get("node.name") == name:
            return o
    sys.exit(f"no node {name}")


OURS = ("eq.", "stage.", "output.", "room.", "crossfeed.", "hrtf.")


def ours(o):
    """iemstage's PropInfo (the node also lists audioconvert's)."""
    return [x for x in o["info"]["params"].get("PropInfo", [])
            if x.get("params") and (x.get("name") == "bypass" or
                                    str(x.get("name")).startswith(OURS))]


def props(o):
    """The last Props object's params, as a dict."""
    out = {}
    for obj in o["info"]["params"].get("Props", []):
        lst = obj.get("params") or []
        for k in range(0, len(lst) - 1, 2):
            out[lst[k]] = lst[k + 1]
    return out


def value_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(float(v))


def plan(o, brir_path, defaults):
    pairs = {}
    for info in ours(o):
        name, t = info["name"], info["type"]
        if isinstance(t, bool):
            v = t if defaults else not t
        elif isinstance(t, dict):
            lo, hi, d = t["min"], t["max"], t["default"]
            v = d
            if not defaults:
                v = round(lo + 0.37 * (hi - lo), 4)
                if abs(v - d) < 1e-6:
                    v = round(lo + 0.61 * (hi - lo), 4)
            elif name == "eq.preamp":
                v = "auto"
        else:
            labels = info.get("labels") or []
            choices = labels[0::2]
            v = t
            if not defaults:
                if name == "stage.mode":
                    v = "brir"
                elif name == "stage.brir":
                    v = brir_path
                elif name == "stage.hrtf":
                    v = "model"
                else:
                    v = [c for c in choices if c != t][0]
        pairs[name] = v
    return pairs


def check(o, expected):
    got = props(o)
    bad = []
    for k, want in expected.items():
        g = got.get(k)
        if isinstance(want, float) and isinstance(g, (int, float)) and not isinstance(g, bool):
            same = abs(g - want) <= 1e-5 * max(1.0, abs(want))
        else:
            same = g == want
        if not same:
            bad.append(f"{k}: set {want!r}, read {g!r}")
    return bad


def latency(dump, o, ports, direction):
    """The one Latency of direction the node's ports report, as text."""
    seen = {}
    for p in dump:
        info = p.get("info") or {}
        pp = info.get("props") or {}
        if (p.get("type") != "PipeWire:Interface:Port" or info.get("direction") != ports or
                str(pp.get("node.id")) != str(o["id"]) or pp.get("port.monitor")):
            continue
        got = [x for x in (info.get("params") or {}).get("Latency", [])
               if x.get("direction") == direction]
        seen[pp.get("port.name")] = ("quantum %g-%g rate %d-%d ns %d-%d" % (
            got[0]["minQuantum"], got[0]["maxQuantum"], got[0]["minRate"], got[0]["maxRate"],
            got[0]["minNs"], got[0]["maxNs"]) if got else "none")
    values = set(seen.values())
    if len(values) != 1 or "none" in values:
        sys.exit("; ".join(f"{k}: {v}" for k, v in sorted(seen.items())) or "no ports")
    return values.pop()


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
        return
    dump = json.load(sys.stdin)
    o = node(dump, sys.argv[2])
    if cmd == "id":
        print(o["id"])
    elif cmd == "info":
        v = o["info"]["props"].get(sys.argv[3])
        if v is None:
            sys.exit(f"{sys.argv[2]}: no {sys.argv[3]}")
        print(v)
    elif cmd == "props":
        for k, v in props(o).items():
            if k == "bypass" or k.startswith(OURS):
                print(k, value_text(v))
    elif cmd in ("plan", "defaults"):
        if cmd == "plan":
            brir_path, set_path, exp_path = sys.argv[3:6]
        else:
            brir_path, (set_path, exp_path) = "", sys.argv[3:5]
        pairs = plan(o, brir_path, cmd == "defaults")
        # pw-cli set-param (0.3.65) builds its pod in 1 KiB and sends an
        # empty one past that: one body per line, each pod under 800 bytes
        def pod_size(x):
            return 8 + (len(x.encode()) + 1 + 7) // 8 * 8
        bodies, cur, size = [], [], 0
        for k, v in pairs.items():
            n = pod_size(k) + (pod_size(v) if isinstance(v, str) else 16)
            if cur and size + n > 800:
                bodies.append(cur)
                cur, size = [], 0
            cur.append((f"{json.dumps(k)} {value_text(v)}", k))
            size += n
        if cur:
            bodies.append(cur)
        with open(set_path, "w") as f:
            for b in bodies:
                f.write("{ params = [ " + " ".join(t for t, _ in b) + " ] }\n")
        for i, b in enumerate(bodies):
            with open(f"{exp_path}.{i + 1}", "w") as f:
                json.dump({k: pairs[k] for _, k in b}, f)
        with open(exp_path, "w") as f:
            json.dump(pairs, f)
        print(len(pairs))
    elif cmd == "check":
        with open(sys.argv[3]) as f:
            expected = json.load(f)
        bad = check(o, expected)
        if bad:
            print("\n".join(bad))
            sys.exit(1)
        print(f"{len(expected)} checked")
    elif cmd == "latency":
        print(latency(dump, o, sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
