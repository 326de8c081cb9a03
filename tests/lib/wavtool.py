#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""WAV helpers for the shell tests (standard library only).

  wavtool.py sine OUT SECONDS            a stereo 1 kHz sine, -12 dBFS, 16-bit 48 kHz
  wavtool.py level PLAYED RECORDED       steady-state level of each channel re PLAYED:
                                         "L R seconds"
  wavtool.py onset RECORDED RENDERED     the recording against an offline render, both
                                         aligned on their first sample above -60 dBFS:
                                         "diff_db first_ms" over the first 0.5 s, the
                                         largest difference in dB re the render's peak
  wavtool.py split IN A B                a 4-channel recording: channels 1-2 into A,
                                         3-4 into B (32-bit float WAV)
"""
import math
import struct
import sys


def write16(path, channels, frames, rate=48000):
    data = b"".join(struct.pack("<%dh" % channels, *f) for f in frames)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
                                      rate * channels * 2, channels * 2, 16))
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def write_f32(path, channels, frames, rate=48000):
    """frames: a list of per-frame tuples of floats; 32-bit float WAV."""
    data = b"".join(struct.pack("<%df" % channels, *f) for f in frames)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 50 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHHH", 18, 3, channels, rate,
                                      rate * channels * 4, channels * 4, 32, 0))
        f.write(b"fact" + struct.pack("<II", 4, len(frames)))
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def read_wav(path):
    """(rate, [channel samples as floats]) of 16-bit PCM or 32-bit float."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        sys.exit(f"{path}: not a WAV file")
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        chunk = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", chunk[:8])
            bits = struct.unpack("<H", chunk[14:16])[0]
            if tag == 0xFFFE:
                tag = struct.unpack("<H", chunk[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            # pw-record leaves the size at its maximum until it closes
            body = raw[pos + 8:] if size in (0, 0xFFFFFFFF) else chunk
        pos += 8 + size + (size & 1)
    if fmt is None or body is None:
        sys.exit(f"{path}: no fmt or data chunk")
    tag, channels, rate, bits = fmt
    if (tag, bits) == (3, 32):
        v = struct.unpack("<%df" % (len(body) // 4), body[:len(body) // 4 * 4])
    elif (tag, bits) == (1, 16):
        v = [x / 32768.0 for x in struct.unpack("<%dh" % (len(body) // 2), body[:len(body) // 2 * 2])]
    else:
        sys.exit(f"{path}: not 16-bit PCM or 32-bit float (format {fmt})")
    frames = len(v) // channels
    return rate, [v[c:frames * channels:channels] for c in range(channels)]


def sine(path, seconds, amplitude=0.25, freq=1000, rate=48000):
    frames = []
    for i in range(int(seconds * rate)):
        s = round(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate))
        frames.append((s, s))
    write16(path, 2, frames)


def level(played, recorded):
    """Whole 1 kHz periods from 0.1 s after the first sample above -60 dBFS
    to 0.1 s before the last, re the played file's RMS."""
    _, a = read_wav(played)
    rate, b = read_wav(recorded)
    out = []
    for c in range(2):
        on = [i for i, x in enumerate(b[c]) if abs(x) > 1e-3]
        if not on:
            sys.exit(f"channel {c}: no signal in {len(b[c])} frames")
        start, end = on[0] + rate // 10, on[-1] - rate // 10
        n = (end - start) // 48 * 48
        if n < rate // 2:
            sys.exit(f"channel {c}: {n} steady frames, fewer than 0.5 s")
        pa = sum(x * x for x in a[c][:len(a[c]) // 48 * 48]) / (len(a[c]) // 48 * 48)
        pb = sum(x * x for x in b[c][start:start + n]) / n
        out.append(10 * math.log10(pb / pa) if pb > 0 else -math.inf)
        out.append(n / rate)
    print("%.3f %.3f %.2f" % (out[0], out[2], min(out[1], out[3])))


def onset(recorded, rendered):
    rate, b = read_wav(recorded)
    _, r = read_wav(rendered)
    def first(ch):
        for i in range(len(ch[0])):
            if abs(ch[0][i]) > 1e-3 or abs(ch[1][i]) > 1e-3:
                return i
        return None
    fb, fr = first(b), first(r)
    if fb is None or fr is None:
        sys.exit("no signal")
    n = rate // 2
    peak = max(abs(x) for c in r for x in c[fr:fr + n])
    diff = 0.0
    for c in range(2):
        for i in range(n):
            x = b[c][fb + i] if fb + i < len(b[c]) else 0.0
            y = r[c][fr + i] if fr + i < len(r[c]) else 0.0
            diff = max(diff, abs(x - y))
    print("%.1f %.1f" % (20 * math.log10(diff / peak) if diff > 0 else -math.inf, fb * 1000 / rate))


def split(path, a, b):
    rate, ch = read_wav(path)
    if len(ch) != 4:
        sys.exit(f"{path}: {len(ch)} channels, not 4")
    write_f32(a, 2, list(zip(ch[0], ch[1])), rate)
    write_f32(b, 2, list(zip(ch[2], ch[3])), rate)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "sine":
        sine(sys.argv[2], float(sys.argv[3]))
    elif cmd == "level":
        level(sys.argv[2], sys.argv[3])
    elif cmd == "onset":
        onset(sys.argv[2], sys.argv[3])
    elif cmd == "split":
        split(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
