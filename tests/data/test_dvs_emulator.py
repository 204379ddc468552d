"""The DVS emulator on hand-made scenes, against a per-pixel loop reference and by the physics of
moving edges; saccade rendering against scipy.ndimage; determinism."""

import numpy as np
import pytest
from scipy import ndimage

from keras_trt.data import (
    EVENT_DTYPE,
    DVSParams,
    emulate_digits,
    emulate_dvs,
    render_saccades,
    saccade_offsets,
)
from keras_trt.data.dvs_emulator import NMNIST_SACCADES, thresholds

pytestmark = pytest.mark.backend_independent

CLEAN = DVSParams(contrast_on=0.3, contrast_off=0.3, mismatch=0.0, refractory_us=0, shot_noise_hz=0.0)


def reference_pixel(logs, dt, c_on, c_off, refractory):
    """One pixel, event by event: the model of the module docstring written as a plain loop."""
    ref, last, out = logs[0], -np.inf, []
    for s in range(1, len(logs)):
        l0, l1, t0 = logs[s - 1], logs[s], (s - 1) * dt
        while True:
            if l1 - ref >= c_on:
                sign, c, p = 1, c_on, 1
            elif ref - l1 >= c_off:
                sign, c, p = -1, c_off, 0
            else:
                break
            level = ref + sign * c
            frac = (level - l0) / (l1 - l0) if l1 != l0 else 0.0
            t = t0 + dt * min(max(frac, 0.0), 1.0)
            if refractory:
                t = max(t, last + refractory)
                if t >= t0 + dt:
                    break  # still refractory at the end of the step: fires later
            out.append((min(int(np.floor(t)), t0 + dt - 1), p))
            ref, last = level, t
            if refractory:
                break  # at most one event per step (time_step <= refractory)
    return out


def moving_bar(direction=1, steps=61, width=3, h=4, w=24, background=0.1):
    """A bright vertical bar moving ``direction`` (+1 right, -1 left) by 10 pixels, sub-pixel."""
    img = np.zeros((1, h, width))
    img[0] = 1.0
    start = 5.0 if direction > 0 else 15.0
    offsets = np.stack([start + direction * np.linspace(0, 10, steps), np.zeros(steps)], 1)
    return render_saccades(img, offsets, (h, w), background), offsets


@pytest.mark.parametrize("refractory, dt", [(0, 1000), (2000, 1000), (3000, 3000)])
def test_every_pixel_matches_the_loop_reference(refractory, dt):
    video, _ = moving_bar()
    params = DVSParams(0.3, 0.25, mismatch=0.0, refractory_us=refractory, shot_noise_hz=0.0)
    ev = emulate_dvs(video, dt, params)[0]
    logs = np.log(video[0].astype(np.float32)).astype(np.float64)
    for y in range(video.shape[2]):
        for x in range(video.shape[3]):
            want = reference_pixel(logs[:, y, x], dt, 0.3, 0.25, refractory)
            mine = ev[(ev["x"] == x) & (ev["y"] == y)]
            assert [(int(t), int(p)) for t, p in zip(mine["t"], mine["p"])] == want, (x, y)


@pytest.mark.parametrize("direction", [1, -1])
def test_a_moving_bright_bar_makes_on_events_at_its_leading_edge_and_off_at_its_trailing(direction):
    video, offsets = moving_bar(direction)
    ev = emulate_dvs(video, 1000, CLEAN)[0]
    on, off = ev[ev["p"] == 1], ev[ev["p"] == 0]
    assert len(on) > 50 and len(off) > 50
    step = ev["t"] // 1000  # the video step during which each event fired
    left = offsets[:, 0]  # the bar spans [left, left + 3) at each step
    lead = left + 3 if direction > 0 else left  # the edge that moves into the dark
    trail = left if direction > 0 else left + 3
    # Each event's pixel is within one pixel of the edge that passed it (pixel centres at x+0.5).
    for events, edge in ((on, lead), (off, trail)):
        pos = np.interp(events["t"] / 1000, np.arange(len(edge)), edge)
        assert np.all(np.abs(events["x"] + 0.5 - pos) <= 1.5)
    # Polarity is on the side the bar moves to: ON right of OFF when moving right, left otherwise.
    assert direction * (on["x"].mean() - off["x"].mean()) > 1.5
    assert step.max() < video.shape[1]
    # Every pixel fully crossed by the leading edge rises by log(1 / 0.1) = 2.30: floor(2.30 / 0.3) = 7 ON.
    crossed = range(9, 15)
    for x in crossed:
        assert np.sum(on["x"] == x) == 7 * video.shape[2]


def test_no_motion_gives_only_noise_events():
    video, _ = moving_bar()
    still = np.repeat(video[:, :1], 200, axis=1)  # the first frame, held
    assert emulate_dvs(still, 1000, CLEAN)[0].size == 0
    params = DVSParams(mismatch=0.03, shot_noise_hz=50.0)
    ev = emulate_dvs(still, 1000, params, seed=3)[0]
    expected = 50.0 * still.shape[2] * still.shape[3] * 0.199  # rate x pixels x seconds
    assert abs(len(ev) - expected) < 5 * np.sqrt(expected)
    assert 0.3 < ev["p"].mean() < 0.7 and np.all(np.diff(ev["t"]) >= 0)


def test_refractory_period_spaces_a_pixels_events():
    video, _ = moving_bar(steps=31)  # fast: an edge crosses a pixel in 3 ms
    free = emulate_dvs(video, 500, DVSParams(0.1, 0.1, mismatch=0.0, refractory_us=0, shot_noise_hz=0.0))[0]
    params = DVSParams(0.1, 0.1, mismatch=0.0, refractory_us=2000, shot_noise_hz=0.0, time_step_us=500)
    ev = emulate_dvs(video, 500, params)[0]
    assert 0 < len(ev) < len(free)
    for x in range(24):
        for y in range(4):
            t = ev["t"][(ev["x"] == x) & (ev["y"] == y)]
            assert np.all(np.diff(t) >= 2000 - 1)  # floor of the timestamps: within 1 us
    with pytest.raises(ValueError, match="refractory"):
        emulate_dvs(video, 3000, params)


def test_thresholds_follow_mean_and_mismatch():
    params = DVSParams(0.4, 0.2, mismatch=0.05)
    on, off = thresholds((100, 100), params, seed=0)
    assert abs(on.mean() - 0.4) < 0.002 and abs(off.mean() - 0.2) < 0.002
    assert abs(on.std() - 0.05) < 0.002 and abs(off.std() - 0.05) < 0.002
    np.testing.assert_array_equal(on, thresholds((100, 100), params, seed=0)[0])
    # Larger thresholds give fewer events, in proportion to 1 / C for a fixed contrast.
    video, _ = moving_bar()
    n = [len(emulate_dvs(video, 1000, DVSParams(c, c, mismatch=0.0, refractory_us=0, shot_noise_hz=0.0))[0])
         for c in (0.2, 0.4)]
    assert 1.6 < n[0] / n[1] < 2.4


def test_emulation_is_deterministic_for_a_seed_and_per_sample():
    from keras_trt.data import load_mnist5k

    (x, _), _ = load_mnist5k()
    imgs = x[:6, ..., 0]
    a, b = emulate_digits(imgs, seed=1), emulate_digits(imgs, seed=1)
    for ea, eb in zip(a, b):
        assert ea.dtype == EVENT_DTYPE
        np.testing.assert_array_equal(ea, eb)
    assert any(len(ea) != len(ec) or np.any(ea != ec) for ea, ec in zip(a, emulate_digits(imgs, seed=2)))
    alone = emulate_digits(imgs[[4]], seed=1, sample_ids=[4])[0]  # made on its own: the same stream
    np.testing.assert_array_equal(alone, a[4])
    for ev in a:
        assert ev["t"].min() >= 0 and ev["t"].max() < 300_000
        assert ev["x"].max() < 34 and ev["y"].max() < 34
        assert 0.35 < ev["p"].mean() < 0.65  # the digit comes back to where it started: ON ~ OFF


def test_render_matches_scipy_shift():
    rng = np.random.default_rng(0)
    img = rng.uniform(size=(2, 8, 8))
    offsets = [(0.0, 0.0), (1.25, 0.5), (3.0, 2.75), (0.6, 3.9)]
    video = render_saccades(img, offsets, (12, 12), background=0.0)
    for s, (dx, dy) in enumerate(offsets):
        canvas = np.zeros((2, 12, 12))
        canvas[:, :8, :8] = img
        want = ndimage.shift(canvas, (0, dy, dx), order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(video[:, s], want, atol=1e-6)


def test_saccade_path_is_n_mnist_triangle():
    path = saccade_offsets(100)
    assert path.shape == (301, 2)
    np.testing.assert_array_equal(path[[0, 100, 200, 300]], np.asarray(NMNIST_SACCADES))
    speeds = np.linalg.norm(np.diff(path, axis=0), axis=1)
    np.testing.assert_allclose(speeds[:100], speeds[0])  # constant speed within a saccade
    assert path.min() >= 0 and path.max() <= 6  # a 28x28 digit stays on the 34x34 sensor


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="> 0"):
        emulate_dvs(np.zeros((1, 3, 2, 2)), 1000)
    with pytest.raises(ValueError, match="B, S, H, W"):
        emulate_dvs(np.ones((3, 2, 2)), 1000)
    with pytest.raises(ValueError, match="contrast_on"):
        DVSParams(contrast_on=0.0)
