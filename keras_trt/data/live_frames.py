"""Frames from an event camera as its events arrive: the live form of fixed-bin framing.

A sensor delivers events in packets of any size, in time order. :class:`LiveFrames` keeps the
open frame, counts each packet's events into it, and returns every frame that a packet (or the
clock, ``now=``) closes. The frames equal :func:`~keras_trt.data.events_to_frames` with
``split_by="time"`` and ``window=(start, start + T * bin_us)``: bin ``i`` counts the events with
``start + i * bin_us <= t < start + (i + 1) * bin_us``, channel 1 ON, channel 0 OFF. Fed one by
one to :class:`keras_trt.streaming.Stream`, a model trained on such frames decides while the
recording goes on (``docs/tutorials/events.py`` classifies emulated digits that way).
"""

from __future__ import annotations

import warnings

import numpy as np

from keras_trt.data.events import as_events, make_events, sensor_hw


class LiveFrames:
    """Cuts a live event stream into fixed-duration two-channel count frames ``[H, W, 2]``.

    Args:
        sensor_size: ``(H, W)`` or Tonic's ``(W, H, 2)``.
        bin_us: the frame duration in microseconds (N-MNIST-like data here: 30,000).
        start: the time of the first frame's start, microseconds (default 0).
        late: what to do with an event older than the open frame (a packet out of order):
            ``"drop"`` (default; counted in :attr:`dropped`, warned once) or ``"error"``.

    :meth:`push` returns the frames closed so far as ``[k, H, W, 2]`` float32 (``k`` may be 0);
    :meth:`flush` returns the open frame as it stands; :meth:`reset` starts a new recording.

    >>> import numpy as np
    >>> from keras_trt.data import LiveFrames, make_events
    >>> live = LiveFrames(sensor_size=(1, 2), bin_us=10)
    >>> live.push(make_events(x=[0, 1], y=[0, 0], t=[3, 8], p=[1, 0])).shape   # bin [0, 10) still open
    (0, 1, 2, 2)
    >>> done = live.push(make_events(x=[1], y=[0], t=[25], p=[1]))              # closes [0, 10), [10, 20)
    >>> done.shape, done[0, 0].tolist(), live.frames_closed
    ((2, 1, 2, 2), [[0.0, 1.0], [1.0, 0.0]], 2)
    >>> live.push(now=30)[0, 0].tolist()                                         # the clock closes [20, 30)
    [[0.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, sensor_size, bin_us, start=0, late="drop"):
        self.h, self.w = sensor_hw(sensor_size)
        try:
            whole = float(bin_us).is_integer() and int(bin_us) >= 1
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ValueError(f"bin_us must be a positive whole number of microseconds, got {bin_us!r}.")
        if late not in ("drop", "error"):
            raise ValueError(f"late must be 'drop' or 'error', got {late!r}.")
        self.bin_us, self.late = int(bin_us), late
        self.reset(start)

    def reset(self, start=0):
        """Forgets the open frame and starts the first frame at ``start`` (a new recording)."""
        self.start = int(start)
        self.frames_closed = 0
        self.dropped = 0
        self._warned = False
        self._open = np.zeros((self.h, self.w, 2), np.float32)

    @property
    def open_until(self):
        """The end (exclusive, microseconds) of the open frame."""
        return self.start + (self.frames_closed + 1) * self.bin_us

    def push(self, events=None, now=None):
        """Counts a packet of events; returns the frames it closes, ``[k, H, W, 2]`` float32.

        Args:
            events: an event array (:func:`~keras_trt.data.as_events`: Tonic's layout or a dict of
                columns), sorted or not; None or empty for none.
            now: the sensor clock in microseconds, if known: frames that end at or before it
                close even when no event has come since (a still scene gives empty frames).
        """
        events = make_events([], [], [], []) if events is None else as_events(events)
        closed = []
        if events.size:
            t = events["t"].astype(np.int64)
            x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
            if x.min() < 0 or y.min() < 0 or x.max() >= self.w or y.max() >= self.h:
                raise ValueError(
                    f"events fall outside sensor_size=(H={self.h}, W={self.w}): x in [{x.min()}, {x.max()}], "
                    f"y in [{y.min()}, {y.max()}]; build LiveFrames with the sensor's (H, W)."
                )
            frame = (t - self.start) // self.bin_us  # absolute frame index of each event
            channel = events["p"].astype(np.int64) > 0
            late = frame < self.frames_closed
            if late.any():
                first = int(t[late].min())
                message = (
                    f"{int(late.sum())} event(s) older than the open frame (from t={first} us; the open frame "
                    f"starts at {self.open_until - self.bin_us} us): packets must arrive in time order"
                )
                if self.late == "error":
                    raise ValueError(message + "; pass late='drop' to count and skip them.")
                if not self._warned:
                    warnings.warn(message + "; they are dropped (LiveFrames.dropped counts them).", stacklevel=2)
                    self._warned = True
                self.dropped += int(late.sum())
                keep = ~late
                frame, x, y, channel = frame[keep], x[keep], y[keep], channel[keep]
            last = int(frame.max()) if frame.size else self.frames_closed
            span = last - self.frames_closed + 1  # the open frame and the ones this packet reaches
            counts = np.bincount(
                (((frame - self.frames_closed) * self.h + y) * self.w + x) * 2 + channel,
                minlength=span * self.h * self.w * 2,
            ).reshape(span, self.h, self.w, 2).astype(np.float32)
            counts[0] += self._open
            closed.extend(counts[:-1])
            self._open = counts[-1]
            self.frames_closed += span - 1
        if now is not None:
            while self.open_until <= int(now):
                closed.append(self._open)
                self._open = np.zeros((self.h, self.w, 2), np.float32)
                self.frames_closed += 1
        if not closed:
            return np.zeros((0, self.h, self.w, 2), np.float32)
        return np.stack(closed)

    def flush(self):
        """The open frame as it stands, ``[H, W, 2]`` (a copy; it stays open)."""
        return self._open.copy()


__all__ = ["LiveFrames"]
