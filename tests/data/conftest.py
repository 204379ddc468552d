"""Fixtures for the keras_trt.data tests.

``fmt``: writers for the real on-disk formats (byte by byte, from the format
specs), used to make small files with known content in ``tmp_path``.
``sj``: SpikingJelly's own reader / framing functions, taken from its source
files with ``ast`` and executed with numpy only (importing spikingjelly.datasets
pulls in torchvision, which may be broken or absent); skipped if not installed.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import logging
import math
import struct
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest

# ----------------------------------------------------------------------------- writers

AEDAT3_HEADER = (
    b"#!AER-DAT3.1\r\n"
    b"#Format: RAW\r\n"
    b"#Source 1: DVS128\r\n"
    b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n"
    b"#!END-HEADER\r\n"
)


def aedat3_packet(events, etype=1, overflow=0, size=8, tsoffset=4, capacity=None, source=1):
    """One AEDAT 3.1 packet. ``events``: (x, y, p, t, valid) tuples for polarity packets,
    raw ``size``-byte strings for other types."""
    number = len(events)
    capacity = number if capacity is None else capacity
    body = bytearray()
    if etype == 1 and all(isinstance(e, tuple) for e in events):
        for x, y, p, t, valid in events:
            body += struct.pack("<II", (x << 17) | (y << 2) | (p << 1) | valid, t)
    else:
        for raw in events:
            body += raw
    body += bytes((capacity - number) * size)
    header = struct.pack("<hhiiiiii", etype, source, size, tsoffset, overflow, capacity, number, number)
    return header + bytes(body)


def write_aedat3(path, packets, header=AEDAT3_HEADER):
    Path(path).write_bytes(header + b"".join(packets))
    return Path(path)


def write_gesture_labels(path, rows):
    text = "class,startTime_usec,endTime_usec\r\n" + "".join(f"{c},{s},{e}\r\n" for c, s, e in rows)
    Path(path).write_text(text)
    return Path(path)


AEDAT2_HEADER = (
    b"#!AER-DAT2.0\r\n"
    b"# This is a raw AE data file - do not edit\r\n"
    b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
    b"# Timestamps tick is 1 us\r\n"
)


def dvs128_address(x, y, p):
    return (y << 8) | (x << 1) | p


def write_aedat2(path, addresses, timestamps, header=AEDAT2_HEADER):
    body = b"".join(struct.pack(">II", a, t) for a, t in zip(addresses, timestamps))
    Path(path).write_bytes(header + body)
    return Path(path)


def write_atis_bin(path, x, y, p, t):
    out = bytearray()
    for xi, yi, pi, ti in zip(x, y, p, t):
        out += bytes([xi, yi, (pi << 7) | ((ti >> 16) & 0x7F), (ti >> 8) & 0xFF, ti & 0xFF])
    Path(path).write_bytes(bytes(out))
    return Path(path)


def write_off(path, vertices, faces, glued_header=False):
    lines = []
    if glued_header:
        lines.append(f"OFF{len(vertices)} {len(faces)} 0")
    else:
        lines += ["OFF", "# a comment", f"{len(vertices)} {len(faces)} 0"]
    lines += [" ".join(f"{v:g}" for v in vert) for vert in vertices]
    lines += [f"{len(f)} " + " ".join(str(i) for i in f) for f in faces]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


CUBE_VERTICES = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
CUBE_FACES = [  # quads (fan-triangulated by the reader)
    (0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3),
]


def random_events(n, h, w, seed, t0=1000, max_dt=50):
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.integers(1, max_dt, n))
    return {
        "t": t.astype(np.int64),
        "x": rng.integers(0, w, n).astype(np.int32),
        "y": rng.integers(0, h, n).astype(np.int32),
        "p": rng.integers(0, 2, n).astype(np.uint8),
    }


def loop_frames(events, frames, h, w, split_by):
    """Straightforward per-event loop with SpikingJelly's segment rule."""
    t, x, y, p = (np.asarray(events[k]) for k in "txyp")
    n = len(t)
    out = np.zeros((frames, h, w, 2), np.float64)
    if split_by == "number":
        d = n // frames
        bounds = [(i * d, (i + 1) * d if i < frames - 1 else n) for i in range(frames)]
    else:
        dt = (int(t[-1]) - int(t[0])) // frames
        bounds = []
        for i in range(frames):
            lo, hi = t[0] + dt * i, t[0] + dt * (i + 1)
            idx = [k for k in range(n) if lo <= t[k] < hi]
            bounds.append((idx[0], idx[-1] + 1 if i < frames - 1 else n))
    for i, (a, b) in enumerate(bounds):
        for k in range(a, b):
            out[i, y[k], x[k], 1 if p[k] else 0] += 1
    return out


def jpeg_bytes(seed, size=(40, 50)):
    import tensorflow as tf

    a = np.random.default_rng(seed).integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
    return tf.io.encode_jpeg(a, quality=95).numpy()


def tar_add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="session")
def fmt():
    return types.SimpleNamespace(
        aedat3_packet=aedat3_packet,
        write_aedat3=write_aedat3,
        write_gesture_labels=write_gesture_labels,
        dvs128_address=dvs128_address,
        write_aedat2=write_aedat2,
        write_atis_bin=write_atis_bin,
        write_off=write_off,
        CUBE_VERTICES=CUBE_VERTICES,
        CUBE_FACES=CUBE_FACES,
        random_events=random_events,
        loop_frames=loop_frames,
        jpeg_bytes=jpeg_bytes,
        tar_add=tar_add,
    )


# ----------------------------------------------------------------------------- SpikingJelly

_SJ_FUNCTIONS = {
    "utils.py": {
        "load_aedat_v3", "load_ATIS_bin", "integrate_events_segment_to_frame",
        "cal_fixed_frames_number_segment_index", "integrate_events_by_fixed_frames_number",
    },
    "cifar10_dvs.py": {"_read_bits", "_skip_header", "_load_raw_events", "_parse_raw_address", "_load_events",
                       "_load_origin_data"},
}


def _load_sj():
    spec = importlib.util.find_spec("spikingjelly")  # does not import the package
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(list(spec.submodule_search_locations)[0]) / "datasets"
    ns = {"np": np, "struct": struct, "math": math, "Path": Path, "logger": logging.getLogger("sj-ref")}
    exec("from typing import Callable, Optional, Tuple, Union", ns)
    for fname, wanted in _SJ_FUNCTIONS.items():
        path = base / fname
        if not path.is_file():
            return None
        tree = ast.parse(path.read_text())
        body = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in wanted:
                body.append(node)
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                if isinstance(node.value, (ast.Constant, ast.BinOp, ast.UnaryOp)):
                    body.append(node)  # module constants such as the address masks
        exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), ns)
        missing = wanted - set(ns)
        if missing:
            return None
    return types.SimpleNamespace(**{k: ns[k] for names in _SJ_FUNCTIONS.values() for k in names})


@pytest.fixture(scope="session")
def sj():
    ref = _load_sj()
    if ref is None:
        pytest.skip("spikingjelly (2.x source) not installed: no cross-check against its readers")
    return ref
