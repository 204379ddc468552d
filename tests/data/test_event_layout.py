"""Events in Tonic's layout: structured arrays of any field order, width and polarity coding go
through the readers, the framing and tf.data unchanged; round trips through files; the
event-level perturbations as pure functions."""

import numpy as np
import pytest

from keras_trt.data import (
    EVENT_DTYPE,
    add_noise_events,
    as_events,
    events_to_frames,
    from_arrays,
    make_events,
    read_atis_bin,
    reverse_events,
    scale_time,
    sensor_hw,
    slice_events,
    streams_to_frames,
)

pytestmark = pytest.mark.backend_independent

#: Dtypes Tonic's data sets use (NMNIST: int64 x, y, t, p; DVSGesture: int16 x, y, bool p, int64 t;
#: and a -1/1 polarity as some converters write).
TONIC_DTYPES = [
    np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")]),
    np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")]),
    np.dtype([("t", "<f8"), ("x", "<u2"), ("y", "<u2"), ("p", "<i1")]),
]


def tonic_array(fmt_events, dtype, minus_one=False):
    out = np.zeros(len(fmt_events["t"]), dtype)
    for k in "xyt":
        out[k] = fmt_events[k]
    p = np.asarray(fmt_events["p"]).astype(np.int64)
    out["p"] = (2 * p - 1) if minus_one else p
    return out


@pytest.mark.parametrize("dtype", TONIC_DTYPES)
@pytest.mark.parametrize("minus_one", [False, True])
def test_tonic_arrays_frame_as_the_columns_do(fmt, dtype, minus_one):
    if dtype["p"] == np.bool_ and minus_one:
        pytest.skip("a bool polarity has no -1")
    ev = fmt.random_events(300, 12, 16, seed=4)
    tonic = tonic_array(ev, dtype, minus_one)
    reference = fmt.loop_frames(ev, 5, 12, 16, "number")
    np.testing.assert_array_equal(events_to_frames(tonic, 5, (12, 16)), reference)
    np.testing.assert_array_equal(events_to_frames(tonic, 5, (16, 12, 2)), reference)  # Tonic's (W, H, P)
    got = as_events(tonic)
    assert got.dtype == EVENT_DTYPE
    for k in "xyt":
        np.testing.assert_array_equal(got[k], ev[k])
    np.testing.assert_array_equal(got["p"], ev["p"])


def test_round_trip_through_tonic_layout_and_an_atis_file(fmt, tmp_path):
    ev = fmt.random_events(200, 34, 34, seed=1, t0=0, max_dt=20)
    ours = make_events(ev["x"], ev["y"], ev["t"], ev["p"])
    tonic = tonic_array(ours, TONIC_DTYPES[0])
    np.testing.assert_array_equal(as_events(tonic), ours)
    path = fmt.write_atis_bin(tmp_path / "digit.bin", ours["x"], ours["y"], ours["p"], ours["t"])
    back = read_atis_bin(path)
    assert back.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back, ours)
    assert slice_events(back, 100, 300).dtype == EVENT_DTYPE


def test_as_events_copies_and_rejects_bad_input():
    ev = make_events([1], [2], [3], [1])
    copy = as_events(ev)
    copy["t"] = 99
    assert ev["t"][0] == 3
    with pytest.raises(ValueError, match="fields 't', 'x', 'y', 'p'"):
        as_events(np.zeros(3, [("x", int), ("t", int)]))
    with pytest.raises(ValueError, match="whole numbers"):
        make_events([0], [0], [1.5], [1])
    with pytest.raises(ValueError, match="Tonic"):
        sensor_hw((1, 2, 3, 4))


def test_fixed_window_frames_against_a_loop(fmt):
    ev = fmt.random_events(400, 6, 5, seed=9, t0=0, max_dt=30)
    start, end, frames = 500, 5500, 4
    got = events_to_frames(ev, frames, (6, 5), split_by="time", window=(start, end))
    want = np.zeros_like(got)
    for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"]):
        if start <= t < end:
            i = int((t - start) * frames // (end - start))
            want[i, y, x, int(p > 0)] += 1
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="split_by='time'"):
        events_to_frames(ev, 2, (6, 5), window=(0, 10))


def test_streams_feed_tf_data_as_frames(fmt):
    streams = [tonic_array(fmt.random_events(50, 8, 8, seed=s), TONIC_DTYPES[1]) for s in range(5)]
    x = streams_to_frames(streams, 3, (8, 8, 2), split_by="number")
    ds = from_arrays(x, np.arange(5), batch_size=2)
    xb, yb = next(iter(ds))
    assert tuple(xb.shape) == (2, 3, 8, 8, 2) and float(np.asarray(xb).sum()) == 100.0


# ----------------------------------------------------------------------------- perturbations


def test_reversed_stream_gives_time_reversed_frames_with_polarities_swapped(fmt):
    ev = as_events(fmt.random_events(500, 6, 7, seed=2, t0=0, max_dt=40))
    window, frames = (0, 20_000), 10  # 2 ms bins: reversal maps bin i onto bin T-1-i exactly
    before = events_to_frames(ev, frames, (6, 7), "time", window)
    after = events_to_frames(reverse_events(ev, window), frames, (6, 7), "time", window)
    np.testing.assert_array_equal(after, before[::-1, ..., ::-1])
    kept = reverse_events(ev, window, flip_polarity=False)
    np.testing.assert_array_equal(events_to_frames(kept, frames, (6, 7), "time", window), before[::-1])
    twice = reverse_events(reverse_events(ev, window), window)
    order = np.lexsort((ev["p"], ev["y"], ev["x"], ev["t"]))
    order2 = np.lexsort((twice["p"], twice["y"], twice["x"], twice["t"]))
    np.testing.assert_array_equal(twice[order2], ev[order])
    assert np.all(np.diff(reverse_events(ev)["t"]) >= 0)


def test_scale_time_speeds_up_and_slows_down(fmt):
    ev = as_events(fmt.random_events(300, 4, 4, seed=5, t0=0, max_dt=60))
    fast, slow = scale_time(ev, 0.5), scale_time(ev, 2.0)
    np.testing.assert_array_equal(slow["t"], 2 * ev["t"])
    np.testing.assert_array_equal(np.sort(fast["t"]), np.sort(np.round(ev["t"] * 0.5).astype(np.int64)))
    np.testing.assert_array_equal(scale_time(slow, 0.5), ev)
    np.testing.assert_array_equal(scale_time(ev, 2.0, origin=100)["t"], 100 + 2 * (ev["t"] - 100))
    # In a fixed window, twice the speed fills the first half of the frames.
    end = int(ev["t"].max()) + 1
    f = events_to_frames(fast, 4, (4, 4), "time", (0, end))
    assert f[2:].sum() <= 1 and f.sum() == len(ev)
    with pytest.raises(ValueError, match="factor"):
        scale_time(ev, 0)


def test_noise_events_are_added_uniformly_and_deterministically(fmt):
    ev = as_events(fmt.random_events(100, 10, 12, seed=6, t0=0))
    noisy = add_noise_events(ev, (10, 12), count=5000, window=(0, 10_000), seed=1)
    assert len(noisy) == 5100 and np.all(np.diff(noisy["t"]) >= 0)
    np.testing.assert_array_equal(noisy, add_noise_events(ev, (10, 12), count=5000, window=(0, 10_000), seed=1))
    # The originals are all still there.
    key = lambda e: set(zip(e["x"].tolist(), e["y"].tolist(), e["t"].tolist(), e["p"].tolist()))  # noqa: E731
    assert key(ev) <= key(noisy)
    counts = np.bincount(noisy["y"].astype(int) * 12 + noisy["x"], minlength=120)
    assert counts.min() > 15 and counts.max() < 75  # about 5000 / 120 = 42 per pixel
    assert noisy["t"].max() < 10_000 and 0.45 < noisy["p"].mean() < 0.55
    by_rate = add_noise_events(ev, (10, 12), rate_hz=1000.0, window=(0, 100_000), seed=0)
    assert abs(len(by_rate) - 100 - 12_000) < 5 * np.sqrt(12_000)
    with pytest.raises(ValueError, match="exactly one"):
        add_noise_events(ev, (10, 12))


def test_perturbations_leave_their_input_alone(fmt):
    ev = as_events(fmt.random_events(50, 4, 4, seed=7))
    before = ev.copy()
    reverse_events(ev), scale_time(ev, 2.0), add_noise_events(ev, (4, 4), count=3)
    np.testing.assert_array_equal(ev, before)
