"""Event streams in the field's layout, event-camera file readers and event-to-frame integration.

Events are a NumPy structured array with fields ``x``, ``y``, ``t``, ``p`` (Tonic's layout;
:data:`EVENT_DTYPE` here: ``x``, ``y`` int16 pixel coordinates, ``t`` int64 microseconds, ``p``
uint8 polarity, 1 = ON / brighter, 0 = OFF), plus a sensor size. :func:`as_events` takes any such
array (Tonic's, with the fields in any order and of any integer widths, ``p`` as bool, 0/1 or
-1/1) or a dict of equal-length columns and returns this layout, so arrays prepared with Tonic
feed :func:`events_to_frames` and the tf.data pipelines with no conversion code.

* :func:`read_aedat3` — AEDAT 3.1 (DVS128 Gesture), with
  :func:`read_dvs_gesture_labels` / :func:`dvs_gesture_samples` for the
  ``*_labels.csv`` files that cut a recording into labelled samples;
* :func:`read_aedat2` — jAER AEDAT 2.0 with DVS128 addresses (CIFAR10-DVS);
* :func:`read_atis_bin` — the 5-byte ATIS format of N-MNIST / N-Caltech101.

The readers return :data:`EVENT_DTYPE` arrays; ``events["t"]``, ``events["x"]``, ... give the
columns, as the dicts of earlier versions did. :func:`events_to_frames` integrates events into T
two-channel count frames [T, H, W, 2] (SpikingJelly's ``integrate_events_by_fixed_frames_number``
semantics, or fixed time bins over a ``window``) and :func:`downsample` area-pools frames to a
smaller size. A sensor size is ``(H, W)``; Tonic's ``sensor_size`` ``(W, H, 2)`` is accepted too
(a 3-tuple is read as Tonic's).
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np

from keras_trt.data._common import DataFormatError, require_file

DVS128_SIZE = (128, 128)
NCALTECH101_SIZE = (180, 240)
NMNIST_SIZE = (34, 34)

DVS_GESTURE_CLASS_NAMES = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)

_POLARITY_EVENT = 1
_AEDAT3_PACKET_HEADER = struct.Struct("<hhiiiiii")  # 28 bytes


#: The event layout of keras-trt: Tonic's fields ``x``, ``y``, ``t``, ``p`` (t in microseconds,
#: p 1 = ON, 0 = OFF).
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "u1")])
_FIELDS = ("x", "y", "t", "p")


def make_events(x, y, t, p) -> np.ndarray:
    """An :data:`EVENT_DTYPE` structured array from four equal-length columns (``p > 0`` is ON).

    Example:
        >>> from keras_trt.data import make_events
        >>> ev = make_events(x=[0, 3], y=[1, 2], t=[10, 20], p=[1, -1])
        >>> ev["p"].tolist(), ev.dtype.names
        ([1, 0], ('x', 'y', 't', 'p'))
    """
    cols = [np.asarray(c).reshape(-1) if np.ndim(c) == 0 else np.asarray(c) for c in (x, y, t, p)]
    if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1:
        raise ValueError(f"x, y, t, p must be 1-D and of equal length, got shapes {[c.shape for c in cols]}.")
    for name, c in zip(_FIELDS, cols):
        if c.size and not (np.issubdtype(c.dtype, np.integer) or c.dtype == bool):
            if not np.all(np.equal(np.mod(c, 1), 0)):
                raise ValueError(f"event field {name!r} must hold whole numbers, got {c.dtype} with fractions "
                                 "(timestamps are integer microseconds: round them first).")
    out = np.empty(cols[0].shape[0], EVENT_DTYPE)
    out["x"], out["y"], out["t"] = cols[0], cols[1], cols[2]
    out["p"] = cols[3] > 0  # bool, 0/1 and -1/1 polarities alike
    return out


def as_events(events) -> np.ndarray:
    """Any event stream as an :data:`EVENT_DTYPE` array (a copy; the input is not changed).

    Accepts a structured array with fields ``x``, ``y``, ``t``, ``p`` in any order and of any
    integer widths (Tonic's arrays, whatever data set made them; extra fields are dropped) or a
    dict of equal-length columns. Polarity ``p > 0`` is ON (1), anything else OFF (0), so bool,
    0/1 and -1/1 polarities all work. Timestamps stay as they are (microseconds).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import as_events
        >>> tonic_like = np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
        >>> tonic_like["p"] = [True, False, True]
        >>> as_events(tonic_like)["p"].tolist()
        [1, 0, 1]
    """
    names = getattr(getattr(events, "dtype", None), "names", None)
    try:
        if names is not None:
            missing = [k for k in _FIELDS if k not in names]
            if missing:
                raise KeyError(missing)
            if events.ndim != 1:
                raise ValueError(f"a structured event array must be 1-D, got shape {events.shape}.")
        cols = [np.asarray(events[k]) for k in _FIELDS]
    except (KeyError, IndexError, TypeError):
        raise ValueError(
            "events must be a structured array (Tonic's layout) or a dict with fields 't', 'x', 'y', 'p', "
            "as returned by make_events / read_aedat3 / read_aedat2 / read_atis_bin."
        ) from None
    return make_events(*cols)


def sensor_hw(sensor_size) -> tuple:
    """``(H, W)`` of a sensor size given as keras-trt's ``(H, W)`` or Tonic's ``(W, H, P)``.

    Example:
        >>> from keras_trt.data.events import sensor_hw
        >>> sensor_hw((128, 96)), sensor_hw((34, 30, 2))  # Tonic's sensor_size is (W, H, polarities)
        ((128, 96), (30, 34))
    """
    try:
        size = tuple(int(v) for v in sensor_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) == 3:
        size = (size[1], size[0])
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"sensor_size must be (H, W) or Tonic's (W, H, P), got {sensor_size!r}.")
    return size


def _events(t, x, y, p) -> np.ndarray:
    return make_events(x, y, t, p)


def _empty_events() -> np.ndarray:
    return np.empty(0, EVENT_DTYPE)


# ----------------------------------------------------------------------------- AEDAT 3.1


def read_aedat3(path, drop_invalid: bool = True) -> np.ndarray:
    """Read the polarity events of an AEDAT 3.1 file (e.g. a DVS128 Gesture recording).

    Layout: ASCII header lines starting with ``#`` (the first is
    ``#!AER-DAT3.1``, the last ``#!END-HEADER``), then packets. Each packet
    has a 28-byte little-endian header (eventType int16, eventSource int16,
    eventSize int32, eventTSOffset int32, eventTSOverflow int32,
    eventCapacity int32, eventNumber int32, eventValid int32) followed by
    ``eventCapacity * eventSize`` bytes. Polarity events (type 1) are 8 bytes:
    uint32 data (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) and
    uint32 timestamp, extended to 64 bits as ``timestamp | overflow << 31``.
    Other event types are skipped; events whose valid bit is 0 are dropped
    unless ``drop_invalid=False`` (SpikingJelly's reader keeps them; the
    DVS128 Gesture files hold only valid events).

    Raises ``FileNotFoundError`` for a missing file and :class:`DataFormatError`
    for a non-AEDAT-3 header or a truncated / inconsistent packet.

    Example:
        >>> from keras_trt.data import read_aedat3
        >>> ev = read_aedat3("DvsGesture/user01_fluorescent.aedat")  # doctest: +SKIP
        >>> ev.dtype.names, ev["t"].dtype  # doctest: +SKIP
        (('x', 'y', 't', 'p'), dtype('int64'))
    """
    path = require_file(path, "AEDAT 3.1 file", "Pass the path of a .aedat recording (e.g. DvsGesture/user01_fluorescent.aedat).")
    data = path.read_bytes()
    if not data.startswith(b"#!AER-DAT3"):
        first = data[:20]
        hint = " It looks like an AEDAT 2.0 (jAER) file: use read_aedat2." if data.startswith(b"#!AER-DAT2") else ""
        raise DataFormatError(f"{path}: not an AEDAT 3.x file (starts with {first!r}, expected b'#!AER-DAT3').{hint}")
    end = data.find(b"#!END-HEADER")
    if end < 0:
        raise DataFormatError(f"{path}: AEDAT 3 header has no '#!END-HEADER' line (file truncated or corrupt).")
    pos = data.find(b"\n", end)
    if pos < 0:
        raise DataFormatError(f"{path}: AEDAT 3 header line '#!END-HEADER' is not terminated.")
    pos += 1
    n = len(data)
    chunks = []
    while pos < n:
        if n - pos < _AEDAT3_PACKET_HEADER.size:
            raise DataFormatError(
                f"{path}: truncated AEDAT 3 packet header at byte {pos} ({n - pos} of 28 bytes left)."
            )
        etype, _src, esize, tsoff, tsovf, cap, number, _valid = _AEDAT3_PACKET_HEADER.unpack_from(data, pos)
        pos += _AEDAT3_PACKET_HEADER.size
        if esize <= 0 or cap < 0 or number < 0 or number > cap or tsovf < 0:
            raise DataFormatError(
                f"{path}: corrupt AEDAT 3 packet header at byte {pos - 28} "
                f"(eventSize={esize}, eventCapacity={cap}, eventNumber={number}, eventTSOverflow={tsovf})."
            )
        length = cap * esize
        if pos + length > n:
            raise DataFormatError(
                f"{path}: truncated AEDAT 3 packet at byte {pos}: needs {length} bytes, {n - pos} left."
            )
        if etype == _POLARITY_EVENT:
            if esize != 8 or tsoff != 4:
                raise DataFormatError(
                    f"{path}: polarity packet with eventSize={esize}, eventTSOffset={tsoff} "
                    "(AEDAT 3.1 polarity events are 8 bytes with the timestamp at offset 4)."
                )
            words = np.frombuffer(data, dtype="<u4", count=2 * number, offset=pos).reshape(number, 2)
            chunks.append((words, tsovf))
        pos += length
    if not chunks:
        return _empty_events()
    addr = np.concatenate([w[:, 0] for w, _ in chunks]).astype(np.int64)
    t = np.concatenate([w[:, 1].astype(np.int64) | (np.int64(ovf) << 31) for w, ovf in chunks])
    if drop_invalid:
        keep = (addr & 1) == 1
        addr, t = addr[keep], t[keep]
    return _events(t, (addr >> 17) & 0x7FFF, (addr >> 2) & 0x7FFF, (addr >> 1) & 1)


def read_dvs_gesture_labels(path):
    """Read a DVS128 Gesture ``*_labels.csv`` file: ``(labels, start_us, end_us)``.

    The file has a header line ``class,startTime_usec,endTime_usec`` then one
    row per gesture. Classes 1..11 in the file become labels 0..10 (int32,
    indices into ``DVS_GESTURE_CLASS_NAMES``); times are int64 microseconds.

    Example:
        >>> from keras_trt.data import read_dvs_gesture_labels
        >>> labels, start, end = read_dvs_gesture_labels("DvsGesture/user01_fluorescent_labels.csv")  # doctest: +SKIP
    """
    path = require_file(path, "DVS128 Gesture labels file", "Each <name>.aedat needs its <name>_labels.csv beside it.")
    rows = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            cells = [c.strip() for c in row if c.strip()]
            if len(cells) == 1 and ("\t" in cells[0] or " " in cells[0]):
                cells = cells[0].split()
            if not cells:
                continue
            try:
                rows.append([int(c) for c in cells])
            except ValueError:
                if i == 0:
                    continue  # the header line
                raise DataFormatError(f"{path}:{i + 1}: expected 'class,startTime_usec,endTime_usec', got {row!r}.") from None
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3) if rows and all(len(r) == 3 for r in rows) else None
    if arr is None:
        raise DataFormatError(f"{path}: every row must have 3 integers (class,startTime_usec,endTime_usec).")
    if arr.size and (arr[:, 0].min() < 1 or arr[:, 0].max() > len(DVS_GESTURE_CLASS_NAMES)):
        raise DataFormatError(f"{path}: classes must be 1..{len(DVS_GESTURE_CLASS_NAMES)}, got {sorted(set(arr[:, 0]))}.")
    return (arr[:, 0] - 1).astype(np.int32), arr[:, 1], arr[:, 2]


def slice_events(events, start: int, end: int) -> np.ndarray:
    """The events with ``start <= t < end`` (an :data:`EVENT_DTYPE` array).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import slice_events
        >>> ev = {k: np.arange(5) for k in "txyp"}
        >>> slice_events(ev, 1, 3)["t"].tolist()
        [1, 2]
    """
    events = as_events(events)
    return events[(events["t"] >= start) & (events["t"] < end)]


def dvs_gesture_samples(aedat_path, labels_path=None, drop_invalid: bool = True):
    """Cut one DVS128 Gesture recording into labelled samples.

    Reads ``aedat_path`` (:func:`read_aedat3`) and its labels file (default:
    ``<stem>_labels.csv`` beside it) and returns a list of ``(label, events)``,
    one per row, with the events ``startTime_usec <= t < endTime_usec`` (as
    SpikingJelly does).

    Example:
        >>> from keras_trt.data import dvs_gesture_samples
        >>> samples = dvs_gesture_samples("DvsGesture/user01_fluorescent.aedat")  # doctest: +SKIP
        >>> label, events = samples[0]  # doctest: +SKIP
    """
    aedat_path = Path(aedat_path)
    if labels_path is None:
        labels_path = aedat_path.with_name(aedat_path.stem + "_labels.csv")
    labels, start, end = read_dvs_gesture_labels(labels_path)
    events = read_aedat3(aedat_path, drop_invalid=drop_invalid)
    return [(int(c), slice_events(events, s, e)) for c, s, e in zip(labels, start, end)]


# ----------------------------------------------------------------------------- AEDAT 2.0


def read_aedat2(path, orientation: str = "spikingjelly") -> np.ndarray:
    """Read a jAER AEDAT 2.0 file with DVS128 addresses (the CIFAR10-DVS format).

    Layout: ASCII header lines starting with ``#`` (``#!AER-DAT2.0`` first),
    then big-endian 8-byte events: uint32 address, uint32 timestamp (us). The
    DVS128 address gives ``x_raw = (addr >> 1) & 0x7F``,
    ``y_raw = (addr >> 8) & 0x7F`` and ``p_raw = addr & 1``.

    ``orientation="spikingjelly"`` (default) returns SpikingJelly's CIFAR10-DVS
    convention, under which the objects appear upright:
    ``x = 127 - y_raw``, ``y = 127 - x_raw``, ``p = 1 - p_raw``.
    ``orientation="raw"`` returns the address fields unchanged.

    Raises ``FileNotFoundError`` for a missing file and :class:`DataFormatError`
    for an empty file, another AEDAT version or a byte count that is not a whole
    number of events.

    Example:
        >>> from keras_trt.data import read_aedat2
        >>> ev = read_aedat2("CIFAR10-DVS/airplane/cifar10_airplane_0.aedat")  # doctest: +SKIP
        >>> int(ev["x"].max()) <= 127  # doctest: +SKIP
        True
    """
    if orientation not in ("spikingjelly", "raw"):
        raise ValueError(f"orientation must be 'spikingjelly' or 'raw', got {orientation!r}.")
    path = require_file(path, "AEDAT 2.0 file", "Pass the path of a .aedat file (e.g. CIFAR10-DVS/airplane/cifar10_airplane_0.aedat).")
    data = path.read_bytes()
    if not data:
        raise DataFormatError(
            f"{path}: the file is empty (0 bytes), so it is not an AEDAT 2.0 recording (an "
            "interrupted download or extraction?). Download or extract it again."
        )
    if data.startswith(b"#!AER-DAT") and not data.startswith(b"#!AER-DAT2"):
        hint = " Use read_aedat3 for AEDAT 3.x files." if data.startswith(b"#!AER-DAT3") else ""
        raise DataFormatError(f"{path}: not an AEDAT 2.0 file (starts with {data[:14]!r}).{hint}")
    pos = 0
    while data.startswith(b"#", pos):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise DataFormatError(f"{path}: unterminated header line at byte {pos} (file truncated?).")
        pos = nl + 1
    body = len(data) - pos
    if body % 8:
        raise DataFormatError(
            f"{path}: {body} bytes of events is not a multiple of 8 (file truncated or corrupt)."
        )
    words = np.frombuffer(data, dtype=">u4", offset=pos).reshape(-1, 2)
    addr = words[:, 0].astype(np.int64)
    t = words[:, 1].astype(np.int64)
    x_raw, y_raw, p_raw = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F, addr & 1
    if orientation == "raw":
        return _events(t, x_raw, y_raw, p_raw)
    return _events(t, 127 - y_raw, 127 - x_raw, 1 - p_raw)


# ----------------------------------------------------------------------------- ATIS .bin


def read_atis_bin(path, handle_overflow: bool = True) -> np.ndarray:
    """Read an N-MNIST / N-Caltech101 ``.bin`` file (5 bytes per event).

    Byte 0 is x, byte 1 is y, then 24 big-endian bits: bit 23 polarity and
    bits 22-0 the timestamp in microseconds. With ``handle_overflow`` events
    with ``y == 240`` are treated as timestamp-overflow markers, as in the
    data set authors' reader: each adds 2**13 us to the timestamps after it
    and is removed (the released files contain none).

    Raises ``FileNotFoundError`` for a missing file and :class:`DataFormatError`
    when the size is not a multiple of 5.

    Example:
        >>> from keras_trt.data import read_atis_bin
        >>> ev = read_atis_bin("Caltech101/airplanes/image_0001.bin")  # doctest: +SKIP
    """
    path = require_file(path, "ATIS .bin file", "Pass the path of an N-MNIST / N-Caltech101 .bin file.")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise DataFormatError(f"{path}: {raw.size} bytes is not a multiple of 5 (file truncated or corrupt).")
    raw = raw.reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    p = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    if handle_overflow:
        marker = y == 240
        if marker.any():
            t = t + np.cumsum(marker) * (1 << 13)
            keep = ~marker
            t, x, y, p = t[keep], x[keep], y[keep], p[keep]
    return _events(t, x, y, p)


# ----------------------------------------------------------------------------- framing


def _segments(t: np.ndarray, frames: int, split_by: str) -> np.ndarray:
    """Frame index of each event (events sorted by t for 'time')."""
    n = t.size
    if split_by == "number":
        di = n // frames
        if di == 0:
            return np.full(n, frames - 1, np.int64)
        return np.minimum(np.arange(n) // di, frames - 1)
    dt = (int(t[-1]) - int(t[0])) // frames
    dt = max(dt, 1)
    return np.minimum((t - t[0]) // dt, frames - 1)


def events_to_frames(events, frames: int, sensor_size=DVS128_SIZE, split_by: str = "number",
                     window=None) -> np.ndarray:
    """Integrate events into ``frames`` two-channel count frames -> [T, H, W, 2] float32.

    Channel ``c`` of frame ``i`` at pixel (y, x) counts the events of segment
    ``i`` with that position and polarity ``c`` (channel 1: ``p > 0``, ON; channel 0: OFF; so
    bool, 0/1 and -1/1 polarities alike). Segments follow SpikingJelly's
    ``integrate_events_by_fixed_frames_number``:

    * ``split_by="number"``: with N events and ``d = N // T``, segment i holds
      events ``[i*d, (i+1)*d)`` and the last one runs to N;
    * ``split_by="time"``: with ``dt = (t[-1] - t[0]) // T``, segment i holds
      events with ``t0 + i*dt <= t < t0 + (i+1)*dt``, the last one everything
      after ``t0 + (T-1)*dt``. Events are first sorted by time (stably).
      Where SpikingJelly raises on an empty segment, an empty frame is
      returned here; a duration shorter than T us uses ``dt = 1``.

    With ``window=(start, end)`` (microseconds) the bins are fixed instead, as a sensor streaming
    in real time cuts them: segment i holds the events with
    ``start + i*(end-start)/T <= t < start + (i+1)*(end-start)/T`` and events outside the window
    are dropped. Then the frames keep the stream's timing: a stream played faster fills fewer
    frames, a slower one is cut at ``end`` (``split_by`` must be ``"time"``).

    Args:
        events: an event array (:func:`as_events`: Tonic's layout, any field order) or a dict
            with ``t``, ``x``, ``y``, ``p``.
        frames: the number of frames T.
        sensor_size: ``(H, W)`` or Tonic's ``(W, H, P)``; every event must satisfy
            ``0 <= y < H``, ``0 <= x < W``.
        split_by: ``"number"`` or ``"time"``.
        window: ``(start, end)`` in microseconds for fixed time bins, or None.

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import events_to_frames
        >>> ev = {"t": np.arange(4), "x": np.array([0, 1, 1, 0]), "y": np.zeros(4, int), "p": np.array([0, 1, 1, 1])}
        >>> f = events_to_frames(ev, 2, sensor_size=(1, 2))
        >>> f.shape, f[1, 0, 1].tolist()
        ((2, 1, 2, 2), [0.0, 1.0])
        >>> events_to_frames(ev, 2, sensor_size=(1, 2), split_by="time", window=(0, 8)).sum(axis=(1, 2, 3)).tolist()
        [4.0, 0.0]
    """
    events = as_events(events)
    if split_by not in ("number", "time"):
        raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}.")
    frames = int(frames)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}.")
    h, w = sensor_hw(sensor_size)
    if window is not None:
        if split_by != "time":
            raise ValueError("window= gives fixed time bins: pass split_by='time' with it.")
        try:
            start, end = (int(v) for v in window)
        except (TypeError, ValueError):
            raise ValueError(f"window must be (start, end) in microseconds, got {window!r}.") from None
        if end <= start:
            raise ValueError(f"window must have end > start, got {window!r}.")
        events = events[(events["t"] >= start) & (events["t"] < end)]
    out = np.zeros((frames, h, w, 2), np.float32)
    if events.size == 0:
        return out
    t, c = events["t"], events["p"].astype(np.int64)
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    if x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h:
        raise ValueError(
            f"events fall outside sensor_size=(H={h}, W={w}): x in [{x.min()}, {x.max()}], "
            f"y in [{y.min()}, {y.max()}]; pass the sensor's (H, W) (DVS128: (128, 128), "
            "N-Caltech101: (180, 240), N-MNIST: (34, 34)) or Tonic's sensor_size (W, H, 2)."
        )
    if window is not None:
        # Integer arithmetic: bin i covers [start + i*span/T, start + (i+1)*span/T).
        seg = ((t - start) * frames) // (end - start)
    else:
        if split_by == "time" and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, x, y, c = t[order], x[order], y[order], c[order]
        seg = _segments(t, frames, split_by)
    flat = ((seg * h + y) * w + x) * 2 + c
    out[...] = np.bincount(flat, minlength=frames * h * w * 2).reshape(frames, h, w, 2)
    return out


def streams_to_frames(streams, frames: int, sensor_size, split_by: str = "number", window=None) -> np.ndarray:
    """:func:`events_to_frames` of every stream of a list -> [N, T, H, W, 2] float32.

    The batch feeds ``model.fit`` or :func:`~keras_trt.data.from_arrays` (tf.data) as it is.

    Example:
        >>> from keras_trt.data import make_events, streams_to_frames
        >>> streams = [make_events([0], [0], [5], [1]), make_events([1, 1], [0, 0], [1, 9], [0, 0])]
        >>> streams_to_frames(streams, 2, (1, 2), split_by="time", window=(0, 10))[:, :, 0].sum(axis=1).tolist()
        [[[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [2.0, 0.0]]]
    """
    h, w = sensor_hw(sensor_size)
    out = np.zeros((len(streams), int(frames), h, w, 2), np.float32)
    for i, events in enumerate(streams):
        out[i] = events_to_frames(events, frames, (h, w), split_by, window)
    return out


def _overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """A[o, i] = length of [i, i+1) inside output bin o (bins of n_in / n_out input pixels)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo = np.maximum(np.arange(n_in)[None, :], edges[:-1, None])
    hi = np.minimum(np.arange(n_in)[None, :] + 1, edges[1:, None])
    return np.clip(hi - lo, 0.0, None)


def downsample(frames: np.ndarray, size, reduce: str = "sum") -> np.ndarray:
    """Area-pool frames [..., H, W, C] to [..., h, w, C].

    Output pixel (o, q) covers input rows ``[o*H/h, (o+1)*H/h)`` and columns
    ``[q*W/w, (q+1)*W/w)``; each input pixel contributes in proportion to the
    part of it inside that area. ``reduce="sum"`` keeps event counts
    (the total is preserved; for integer factors it is a plain block sum,
    e.g. 128 -> 64 sums 2x2 blocks, 128 -> 48 bins of 8/3 pixels);
    ``reduce="mean"`` divides by the bin area (like OpenCV's INTER_AREA).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import downsample
        >>> downsample(np.ones((4, 4, 1)), (2, 2))[..., 0].tolist()
        [[4.0, 4.0], [4.0, 4.0]]
    """
    frames = np.asarray(frames)
    if frames.ndim < 3:
        raise ValueError(f"frames must be [..., H, W, C], got shape {frames.shape}.")
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}.")
    if np.isscalar(size):
        size = (size, size)
    h_out, w_out = (int(v) for v in size)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"size must be positive (h, w), got {size!r}.")
    h_in, w_in = frames.shape[-3], frames.shape[-2]
    a_h = _overlap_matrix(h_in, h_out)
    a_w = _overlap_matrix(w_in, w_out)
    out = np.einsum("...hwc,oh,qw->...oqc", frames.astype(np.float64), a_h, a_w, optimize=True)
    if reduce == "mean":
        out /= (h_in / h_out) * (w_in / w_out)
    return out.astype(np.float32)
