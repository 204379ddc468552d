"""A DVS (dynamic vision sensor, event camera) emulator: intensity video in, events out (NumPy).

The pixel model is the one of ESIM (Rebecq, Gehrig, Scaramuzza, "ESIM: an Open Event Camera
Simulator", CoRL 2018) and v2e (Hu, Liu, Delbruck, "v2e: From Video Frames to Realistic DVS
Events", CVPR Workshops 2021), reduced to the parts that shape what a classifier sees:

* **log intensity and a reference**: each pixel holds a reference level ``ref`` of its log
  intensity ``L = log(I)``, set to the first frame's. Between two video frames ``L`` is taken to
  change linearly (ESIM's interpolation).
* **contrast thresholds with mismatch**: an ON event fires when ``L - ref`` reaches the pixel's
  ON threshold ``C_on(x, y)``, an OFF event when ``ref - L`` reaches ``C_off(x, y)``; each firing
  moves ``ref`` by that threshold (so a change of ``k`` thresholds gives ``k`` events). The
  thresholds are drawn once per sensor, ``N(C, sigma)`` per pixel and polarity, clipped at 0.01
  (v2e's ``sigma_thres``). The event's timestamp is when the interpolated ``L`` crossed the level
  (ESIM), rounded down to a microsecond.
* **refractory period**: after an event a pixel cannot fire for ``refractory_us``; the change
  keeps accumulating and fires when the period ends (so the pixel's rate is capped at
  ``1 / refractory``, as in v2e). It needs ``time_step_us <= refractory_us``, which makes at most
  one event per pixel and video step.
* **shot noise**: independent of the signal, every pixel emits noise events as a Poisson process
  of ``shot_noise_hz`` per pixel (ON and OFF equally likely, times uniform); they do not move the
  reference (a choice; v2e's noise model is richer).

Not modelled: the photoreceptor's finite bandwidth (v2e's low-pass), leak events, hot pixels,
per-pixel timestamp jitter. The sensor sees a noiseless, linearly interpolated video.

:func:`emulate_dvs` runs the model on a batch of videos at once (vectorised over samples and
pixels; one Python step per video frame). :func:`render_saccades` makes such a video the way
N-MNIST was recorded (Orchard, Jayawant, Cohen, Thakor, "Converting Static Image Datasets to
Spiking Neuromorphic Datasets Using Saccades", Front. Neurosci. 2015): a static image on a
screen, the sensor moved in three saccades along a triangle, 100 ms each, on a 34x34 sensor that
keeps a 28x28 digit in view.

    >>> import numpy as np
    >>> from keras_trt.data import DVSParams, emulate_dvs
    >>> video = np.ones((1, 3, 1, 2)); video[0, 1:, 0, 1] = np.exp(0.65)  # pixel x=1 brightens
    >>> ev = emulate_dvs(video, 1000, DVSParams(0.3, 0.3, mismatch=0.0, shot_noise_hz=0.0, refractory_us=0))[0]
    >>> ev[["x", "t", "p"]].tolist()  # two ON events, when L = 0.3 and L = 0.6 (of 0.65)
    [(1, 461, 1), (1, 923, 1)]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_trt.data.events import EVENT_DTYPE, NMNIST_SIZE


@dataclasses.dataclass(frozen=True)
class DVSParams:
    """The emulated sensor (see the module docstring for the model).

    Attributes:
        contrast_on, contrast_off: mean ON / OFF thresholds, in log intensity (v2e's default
            is 0.2; real DVS pixels 0.1-0.5).
        mismatch: standard deviation of the per-pixel thresholds around those means (absolute,
            v2e's ``sigma_thres``, default 0.03).
        refractory_us: refractory period in microseconds (0: none).
        shot_noise_hz: noise events per pixel and second (ON and OFF together).
        time_step_us: the video's frame interval in microseconds (``emulate_dvs`` may be given
            its own).

    >>> from keras_trt.data import DVSParams
    >>> DVSParams(contrast_on=0.2, shot_noise_hz=0.0).contrast_off
    0.4
    """

    contrast_on: float = 0.4
    contrast_off: float = 0.4
    mismatch: float = 0.03
    refractory_us: int = 1000
    shot_noise_hz: float = 1.0
    time_step_us: int = 1000

    def __post_init__(self):
        for name in ("contrast_on", "contrast_off"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DVSParams.{name} must be > 0 (a log-intensity step), got {getattr(self, name)}.")
        for name in ("mismatch", "refractory_us", "shot_noise_hz"):
            if getattr(self, name) < 0:
                raise ValueError(f"DVSParams.{name} must be >= 0, got {getattr(self, name)}.")
        if not self.time_step_us >= 1:
            raise ValueError(f"DVSParams.time_step_us must be >= 1, got {self.time_step_us}.")


def thresholds(shape, params: DVSParams, seed: int):
    """The sensor's per-pixel ``(C_on, C_off)`` maps of ``shape`` (H, W): fixed by ``seed``."""
    rng = np.random.default_rng([int(seed), 0])
    on = rng.normal(params.contrast_on, params.mismatch, shape) if params.mismatch else np.full(shape, params.contrast_on)
    off = rng.normal(params.contrast_off, params.mismatch, shape) if params.mismatch else np.full(shape, params.contrast_off)
    return np.maximum(on, 0.01), np.maximum(off, 0.01)


def shot_noise(duration_us: int, sensor_size, rate_hz: float, rng) -> np.ndarray:
    """Poisson noise events over ``[0, duration_us)``: ``rate_hz`` per pixel, uniform in time,
    position and polarity (sorted by time)."""
    h, w = sensor_size
    n = rng.poisson(rate_hz * h * w * duration_us * 1e-6) if rate_hz > 0 else 0
    out = np.empty(n, EVENT_DTYPE)
    out["x"], out["y"] = rng.integers(0, w, n), rng.integers(0, h, n)
    out["t"], out["p"] = rng.integers(0, max(int(duration_us), 1), n), rng.integers(0, 2, n)
    return out[np.argsort(out["t"], kind="stable")]


def emulate_dvs(video, time_step_us=None, params: DVSParams = DVSParams(), seed: int = 0,
                sample_ids=None):
    """Events of a batch of intensity videos ``[B, S, H, W]`` (linear intensity, > 0).

    Frame ``s`` is seen at ``s * time_step_us`` microseconds; every sample goes through the same
    sensor (the threshold maps depend on ``seed`` only). Shot noise of sample ``i`` is drawn from
    ``seed`` and ``sample_ids[i]`` (default ``i``), so a sample's stream does not depend on the
    batch it was emulated in.

    Returns:
        a list of ``B`` :data:`~keras_trt.data.EVENT_DTYPE` arrays sorted by time, each
        within ``[0, (S - 1) * time_step_us)``.

    >>> import numpy as np
    >>> from keras_trt.data import DVSParams, emulate_dvs
    >>> dimming = np.exp(-np.linspace(0, 1, 11))[None, :, None, None]  # one pixel, log falls by 1
    >>> ev = emulate_dvs(dimming, 1000, DVSParams(mismatch=0.0, shot_noise_hz=0.0))[0]
    >>> ev["p"].tolist(), ev["t"].tolist()  # two OFF events of 0.4, when the log has fallen by 0.4 and 0.8
    ([0, 0], [4000, 8000])
    """
    video = np.asarray(video, np.float32)  # float32 halves the dense work; times are float64
    if video.ndim != 4:
        raise ValueError(f"video must be [B, S, H, W] intensities, got shape {video.shape}.")
    if video.shape[1] < 2:
        raise ValueError(f"video needs at least 2 frames to change, got {video.shape[1]}.")
    if not np.all(video > 0):
        raise ValueError("video intensities must be > 0 (their log is taken): add a floor such as 0.05.")
    dt = int(params.time_step_us if time_step_us is None else time_step_us)
    if dt < 1:
        raise ValueError(f"time_step_us must be >= 1, got {dt}.")
    refr = int(params.refractory_us)
    if refr and dt > refr:
        raise ValueError(
            f"time_step_us={dt} is longer than refractory_us={refr}: render the video at a step "
            "no longer than the refractory period (or set refractory_us=0)."
        )
    b, steps, h, w = video.shape
    ids = np.arange(b) if sample_ids is None else np.asarray(sample_ids)
    c_on, c_off = (c.astype(np.float32) for c in thresholds((h, w), params, seed))
    logv = np.log(video)
    ref = logv[:, 0].copy()
    last = np.full((b, h, w), -np.inf)  # time of each pixel's last event
    parts = []
    for s in range(1, steps):
        # Dense work per step: one difference and two comparisons; the rest touches only the
        # pixels that fire.
        d = logv[:, s] - ref
        bi, yi, xi = np.nonzero((d >= c_on) | (d <= -c_off))
        if bi.size == 0:
            continue
        dd = d[bi, yi, xi]
        on = dd > 0
        cc = np.where(on, c_on[yi, xi], c_off[yi, xi]).astype(np.float64)
        sign = np.where(on, 1.0, -1.0)
        base = ref[bi, yi, xi].astype(np.float64)  # references before this step's events
        if refr:  # the first crossing only, at level ref + c
            k = np.ones(bi.size)
        else:  # every crossing of the step, the k-th at level ref + k*c
            reps = np.floor(np.abs(dd) / cc).astype(np.int64)
            ref[bi, yi, xi] = base + sign * reps * cc
            bi, yi, xi, cc, sign, base, on = (np.repeat(a, reps) for a in (bi, yi, xi, cc, sign, base, on))
            k = np.arange(bi.size) - np.repeat(np.cumsum(reps) - reps, reps) + 1
        l0 = logv[bi, s - 1, yi, xi].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (base + sign * k * cc - l0) / (logv[bi, s, yi, xi] - l0)
        t0 = (s - 1) * dt
        t = t0 + dt * np.where(np.isfinite(frac), np.clip(frac, 0.0, 1.0), 0.0)
        if refr:  # a crossing during the refractory period fires when the period ends
            t = np.maximum(t, last[bi, yi, xi] + refr)
            fire = t < t0 + dt
            bi, yi, xi, cc, sign, base, on, t = (a[fire] for a in (bi, yi, xi, cc, sign, base, on, t))
            last[bi, yi, xi] = t
            ref[bi, yi, xi] = base + sign * cc
        ti = np.minimum(np.floor(t), t0 + dt - 1).astype(np.int64)  # a crossing at the step's end stays in it
        parts.append((bi, xi, yi, ti, on.astype(np.uint8)))
    duration = (steps - 1) * dt
    if parts:
        bi, xi, yi, ti, pi = (np.concatenate(col) for col in zip(*parts))
    else:
        bi = xi = yi = ti = np.zeros(0, np.int64)
        pi = np.zeros(0, np.uint8)
    order = np.lexsort((ti, bi))
    bi, xi, yi, ti, pi = bi[order], xi[order], yi[order], ti[order], pi[order]
    bounds = np.searchsorted(bi, np.arange(b + 1))
    out = []
    for i in range(b):
        lo, hi = bounds[i], bounds[i + 1]
        ev = np.empty(hi - lo, EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = xi[lo:hi], yi[lo:hi], ti[lo:hi], pi[lo:hi]
        if params.shot_noise_hz > 0:
            rng = np.random.default_rng([int(seed), 1, int(ids[i])])
            ev = np.concatenate([ev, shot_noise(duration, (h, w), params.shot_noise_hz, rng)])
            ev = ev[np.argsort(ev["t"], kind="stable")]
        out.append(ev)
    return out


#: N-MNIST's three saccades as image offsets (dx, dy) in pixels at their ends: an isosceles
#: triangle that starts and ends at (0, 0) (down-right, down-left, up), 100 ms each.
NMNIST_SACCADES = ((0.0, 0.0), (6.0, 3.0), (0.0, 6.0), (0.0, 0.0))
#: The duration of one saccade in microseconds.
SACCADE_US = 100_000


def saccade_offsets(steps_per_saccade: int, vertices=NMNIST_SACCADES) -> np.ndarray:
    """Image offsets ``[S, 2]`` (dx, dy) moving at constant speed along ``vertices``:
    ``steps_per_saccade`` steps per segment, ``S = steps * segments + 1`` (both ends included).

    >>> saccade_offsets(2, ((0, 0), (2, 0), (2, 2))).tolist()
    [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [2.0, 2.0]]
    """
    v = np.asarray(vertices, np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) < 2:
        raise ValueError(f"vertices must be [K >= 2, 2] (dx, dy) points, got shape {v.shape}.")
    n = int(steps_per_saccade)
    if n < 1:
        raise ValueError(f"steps_per_saccade must be >= 1, got {steps_per_saccade}.")
    f = np.arange(n) / n
    path = [a + f[:, None] * (b - a) for a, b in zip(v[:-1], v[1:])]
    return np.concatenate(path + [v[-1:]])


def render_saccades(images, offsets, sensor_size=NMNIST_SIZE, background: float = 0.1):
    """The video ``[B, S, H, W]`` a sensor sees of static images ``[B, h, w]`` (values in [0, 1])
    moved by ``offsets`` ``[S, 2]`` (dx, dy, sub-pixel: bilinear).

    The image's top-left corner sits at the sensor's pixel (dx, dy); outside it the screen shows
    ``background`` (returned as float32). Intensity is ``background + (1 - background) * image`` (a screen's black is
    not zero light, and the log of the intensity must exist).

    >>> import numpy as np
    >>> img = np.zeros((1, 1, 1)); img[0, 0, 0] = 1.0
    >>> render_saccades(img, [[0.5, 0.0]], sensor_size=(1, 2), background=0.0)[0, 0, 0].tolist()
    [0.5, 0.5]
    """
    images = np.asarray(images, np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be [B, h, w] (or [B, h, w, 1]), got shape {images.shape}.")
    if not 0.0 <= background < 1.0:
        raise ValueError(f"background must be in [0, 1), got {background}.")
    offsets = np.asarray(offsets, np.float64).reshape(-1, 2)
    h, w = (int(v) for v in sensor_size)
    bh, ih, iw = images.shape
    if np.abs(offsets).max() > 4 * max(h, w):
        raise ValueError(f"offsets of up to {np.abs(offsets).max():g} pixels move the image far off a {h}x{w} sensor.")
    # Element-wise bilinear interpolation from a zero-padded canvas (no BLAS: its threads slow
    # down small products badly when the process also runs TensorFlow).
    pad = int(np.ceil(np.abs(offsets).max())) + 2
    canvas = np.zeros((bh, max(h, ih) + 2 * pad + 1, max(w, iw) + 2 * pad + 1), np.float32)
    canvas[:, pad : pad + ih, pad : pad + iw] = images
    video = np.empty((bh, len(offsets), h, w), np.float32)
    for s, (dx, dy) in enumerate(offsets):
        # sensor pixel (r, c) shows the image at (r - dy, c - dx), i.e. canvas (r + pad - dy, c + pad - dx)
        oy, ox = pad - dy, pad - dx
        iy, ix = int(np.floor(oy)), int(np.floor(ox))
        fy, fx = np.float32(oy - iy), np.float32(ox - ix)
        a, b = canvas[:, iy : iy + h, ix : ix + w], canvas[:, iy : iy + h, ix + 1 : ix + 1 + w]
        c, d = canvas[:, iy + 1 : iy + 1 + h, ix : ix + w], canvas[:, iy + 1 : iy + 1 + h, ix + 1 : ix + 1 + w]
        video[:, s] = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d)
    return background + (1.0 - background) * video
