"""training.estimate: the extrapolation from the two measured batches, checked by hand."""

import pytest

from training import estimate

pytestmark = pytest.mark.backend_independent


def test_extrapolation_by_hand():
    gib = 2**30
    measured = {"per_batch": {1: dict(bytes=3 * gib, flops=10e9, bytes_accessed=2e9),
                              2: dict(bytes=5 * gib, flops=20e9, bytes_accessed=4e9)}}
    out = estimate.extrapolate(measured, global_batch=64, devices=4, train_images=1000,
                               peak_tflops=100.0, bandwidth_gbs=1000.0, efficiency=0.5)
    assert out["per_device_batch"] == 16
    assert out["memory_fixed_gib"] == pytest.approx(1.0)      # 3 GiB - 1 x 2 GiB
    assert out["memory_per_image_gib"] == pytest.approx(2.0)
    assert out["memory_per_device_gib"] == pytest.approx(1.0 + 16 * 2.0)
    # per image: 10e9 / 100e12 s + 2e9 / 1000e9 s = 0.1 ms + 2 ms, / 0.5 -> 4.2 ms; 250 images per device
    assert out["seconds_per_epoch"] == pytest.approx(250 * 4.2e-3)
