"""Event-level perturbations: pure functions from an event array to a new one (NumPy).

Each takes any event array :func:`~keras_trt.data.as_events` accepts (Tonic's layout, a dict)
and returns a new :data:`~keras_trt.data.EVENT_DTYPE` array sorted by time; the input is left
unchanged. They are what the robustness probes of event recipes apply before the frames are
integrated (``training.probes``):

* :func:`reverse_events` — the stream played backwards: ``t' = start + end - 1 - t`` over a
  window ``[start, end)``, and ON and OFF swapped (a pixel that brightened going forwards
  darkens going backwards). This is what the sensor would have recorded of the reversed motion;
  reversing the order of the frames only (TRT's input reversal) keeps the polarities.
* :func:`scale_time` — the stream re-timed: ``t' = origin + round((t - origin) * factor)``;
  ``factor=0.5`` plays it twice as fast, ``factor=2`` at half speed.
* :func:`add_noise_events` — uniform noise events (position, time, polarity) added.

    >>> from keras_trt.data import make_events, reverse_events, scale_time
    >>> ev = make_events(x=[0, 1], y=[0, 0], t=[10, 40], p=[1, 0])
    >>> reverse_events(ev, window=(0, 50))[["t", "p"]].tolist()
    [(9, 1), (39, 0)]
    >>> scale_time(ev, 0.5)["t"].tolist()
    [5, 20]
"""

from __future__ import annotations

import numpy as np

from keras_trt.data.events import EVENT_DTYPE, as_events, sensor_hw


def _sorted(ev):
    return ev[np.argsort(ev["t"], kind="stable")]


def reverse_events(events, window=None, flip_polarity: bool = True) -> np.ndarray:
    """The stream played backwards over ``window=(start, end)`` (default: its own span,
    ``(t.min(), t.max() + 1)``): ``t' = start + end - 1 - t``; ON and OFF swapped unless
    ``flip_polarity=False``. Events outside the window are dropped.

    Reversing twice gives the stream back (up to the order of events with equal timestamps).

    >>> from keras_trt.data import make_events, reverse_events
    >>> ev = make_events(x=[0, 1], y=[0, 0], t=[0, 30], p=[1, 1])
    >>> reverse_events(ev)[["x", "t", "p"]].tolist()  # its own span [0, 31): x=1 now comes first
    [(1, 0, 0), (0, 30, 0)]
    """
    ev = as_events(events)
    if window is None:
        if ev.size == 0:
            return ev
        start, end = int(ev["t"].min()), int(ev["t"].max()) + 1
    else:
        start, end = (int(v) for v in window)
        if end <= start:
            raise ValueError(f"window must have end > start, got {window!r}.")
        ev = ev[(ev["t"] >= start) & (ev["t"] < end)]
    ev["t"] = start + end - 1 - ev["t"]
    if flip_polarity:
        ev["p"] = 1 - ev["p"]
    return _sorted(ev)


def scale_time(events, factor: float, origin: int = 0) -> np.ndarray:
    """Timestamps stretched by ``factor`` about ``origin``: ``t' = origin + round((t - origin) * factor)``.

    ``factor < 1`` plays the stream faster (0.5: twice the speed), ``factor > 1`` slower.

    >>> from keras_trt.data import make_events, scale_time
    >>> scale_time(make_events(x=[0, 0], y=[0, 0], t=[100, 300], p=[1, 0]), 2.0, origin=100)["t"].tolist()
    [100, 500]
    """
    factor = float(factor)
    if not factor > 0:
        raise ValueError(f"factor must be > 0 (0.5 plays twice as fast, 2 at half speed), got {factor}.")
    ev = as_events(events)
    ev["t"] = origin + np.round((ev["t"] - origin) * factor).astype(np.int64)
    return _sorted(ev)


def add_noise_events(events, sensor_size, *, count: int | None = None, rate_hz: float | None = None,
                     window=None, seed=0) -> np.ndarray:
    """The stream with noise events added: uniform over the sensor's pixels, over the time
    ``window=(start, end)`` (default the stream's span) and over both polarities.

    Give either ``count`` (how many) or ``rate_hz`` (per pixel: ``rate_hz * H * W * duration``
    on average, Poisson). ``seed`` is anything ``numpy.random.default_rng`` takes.

    >>> from keras_trt.data import add_noise_events, make_events
    >>> ev = make_events(x=[0], y=[0], t=[100], p=[1])
    >>> len(add_noise_events(ev, (4, 4), count=5, window=(0, 200)))
    6
    """
    if (count is None) == (rate_hz is None):
        raise ValueError("give exactly one of count= (noise events) or rate_hz= (per pixel and second).")
    ev = as_events(events)
    h, w = sensor_hw(sensor_size)
    if window is None:
        if ev.size == 0:
            raise ValueError("an empty stream has no span: pass window=(start, end) in microseconds.")
        window = (int(ev["t"].min()), int(ev["t"].max()) + 1)
    start, end = (int(v) for v in window)
    if end <= start:
        raise ValueError(f"window must have end > start, got {window!r}.")
    rng = np.random.default_rng(seed)
    if count is None:
        if rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0, got {rate_hz}.")
        count = rng.poisson(rate_hz * h * w * (end - start) * 1e-6)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}.")
    noise = np.empty(int(count), EVENT_DTYPE)
    noise["x"], noise["y"] = rng.integers(0, w, count), rng.integers(0, h, count)
    noise["t"], noise["p"] = rng.integers(start, end, count), rng.integers(0, 2, count)
    return _sorted(np.concatenate([ev, noise]))
