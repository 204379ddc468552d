"""LiveFrames: frames cut from packets as they arrive equal a per-event loop and the offline framing."""

import numpy as np
import pytest

from keras_trt.data import LiveFrames, events_to_frames, make_events

pytestmark = pytest.mark.backend_independent

H, W, BIN = 5, 7, 1000


def _stream(n=3000, duration=9500, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration, n))
    return make_events(rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n))


def _loop_frames(events, frames, start=0):
    """The reference: one event at a time into bin (t - start) // BIN."""
    out = np.zeros((frames, H, W, 2), np.float32)
    for e in events:
        i = (int(e["t"]) - start) // BIN
        if 0 <= i < frames:
            out[i, e["y"], e["x"], int(e["p"] > 0)] += 1
    return out


def _packets(events, seed):
    """Packets of random sizes, empty ones included, in time order."""
    cuts = np.sort(np.random.default_rng(seed).integers(0, len(events), 40))
    return np.split(events, cuts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_packets_give_the_frames_of_a_per_event_loop_and_of_events_to_frames(seed):
    events = _stream(seed=seed)
    live = LiveFrames((H, W), BIN)
    closed = [live.push(packet) for packet in _packets(events, seed)]
    closed.append(live.push(now=10 * BIN))  # the clock closes the last, partly filled frame
    frames = np.concatenate(closed)
    assert frames.shape == (10, H, W, 2) and live.frames_closed == 10
    np.testing.assert_array_equal(frames, _loop_frames(events, 10))
    offline = events_to_frames(events, 10, (H, W), split_by="time", window=(0, 10 * BIN))
    np.testing.assert_array_equal(frames, offline)


def test_a_frame_closes_only_when_a_later_event_or_the_clock_passes_its_end():
    live = LiveFrames((H, W), BIN, start=500)
    assert live.push(make_events([1], [2], [1499], [1])).shape[0] == 0  # [500, 1500) still open
    np.testing.assert_array_equal(live.flush()[2, 1], [0.0, 1.0])
    assert live.push(now=1499).shape[0] == 0
    first = live.push(now=1500)
    assert first.shape == (1, H, W, 2) and first.sum() == 1 and live.open_until == 2500
    silence = live.push(now=4600)  # a still scene: empty frames, one per bin
    assert silence.shape[0] == 3 and silence.sum() == 0 and live.frames_closed == 4
    live.reset(start=0)
    assert live.frames_closed == 0 and live.flush().sum() == 0 and live.open_until == BIN


def test_a_packet_that_skips_frames_returns_them_empty_in_order():
    live = LiveFrames((H, W), BIN)
    out = live.push(make_events([0, 1], [0, 0], [10, 3500], [0, 1]))
    assert out.shape[0] == 3
    assert out[0, 0, 0, 0] == 1 and out[1:].sum() == 0
    assert live.flush()[0, 1, 1] == 1


def test_late_events_are_dropped_with_a_warning_or_refused():
    live = LiveFrames((H, W), BIN)
    live.push(make_events([0], [0], [2500], [1]))  # frames 0 and 1 closed
    with pytest.warns(UserWarning, match="older than the open frame"):
        live.push(make_events([0, 1], [0, 0], [900, 2600], [1, 1]))
    assert live.dropped == 1 and live.flush().sum() == 2
    strict = LiveFrames((H, W), BIN, late="error")
    strict.push(make_events([0], [0], [2500], [1]))
    with pytest.raises(ValueError, match="time order.*late='drop'"):
        strict.push(make_events([0], [0], [10], [1]))


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="bin_us must be a positive whole number"):
        LiveFrames((H, W), 0)
    with pytest.raises(ValueError, match="bin_us must be a positive whole number"):
        LiveFrames((H, W), "30ms")
    with pytest.raises(ValueError, match="late must be"):
        LiveFrames((H, W), BIN, late="keep")
    with pytest.raises(ValueError, match=r"outside sensor_size=\(H=5, W=7\)"):
        LiveFrames((H, W), BIN).push(make_events([7], [0], [0], [1]))
    tonic = LiveFrames((W, H, 2), BIN)  # Tonic's (W, H, P) sensor size
    assert (tonic.h, tonic.w) == (H, W)
