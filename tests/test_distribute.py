"""Data parallelism (keras_trt.distribute, train --devices): N simulated devices equal one device.

The multi-device runs happen in subprocesses: JAX takes its CPU device count from the environment
when it starts, and TF's logical CPUs must be made before its runtime starts.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_trt import distribute

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BACKEND = keras.backend.backend()
needs_engine = pytest.mark.skipif(
    BACKEND == "torch", reason="keras 3.15.1 has no data parallelism in fit on torch (checked below)"
)


def _run(args, tmp_path, devices=2, timeout=600):
    env = distribute.simulated_devices_env(devices)
    env["KERAS_BACKEND"] = BACKEND
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@needs_engine
def test_two_devices_equal_one_device_for_a_trt_model_with_batch_norm(tmp_path):
    out = tmp_path / "runs.npz"
    proc = _run([str(HERE / "_data_parallel_equivalence.py"), "2", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = np.load(out)
    names = list(runs["names"])
    assert any("moving_mean" in n for n in names) and any("moving_variance" in n for n in names)
    for i, name in enumerate(names):
        one, many, start = runs[f"one_{i}"], runs[f"many_{i}"], runs[f"init_{i}"]
        np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-5, err_msg=name)
        if "conv2d_1/bias" not in name:  # (a bias before BN gets ~no gradient)
            assert np.abs(one - start).max() > 1e-2, f"{name} did not train: the check would be vacuous"
    keys = list(runs["keys"])
    assert {"loss", "task_loss", "reversed_loss", "consistency_loss", "star_loss"} <= set(keys)
    one_logs, many_logs = runs["one_logs"], runs["many_logs"]
    assert one_logs.shape[0] == 6  # every step of both epochs
    assert (one_logs[:, keys.index("consistency_loss")] > 1e-4).all()  # a live KL term
    np.testing.assert_allclose(many_logs, one_logs, rtol=1e-4, atol=0)
    # The total is the weighted sum of the logged components (all weights 1), as on one device.
    total = sum(many_logs[:, keys.index(k)] for k in ("task_loss", "reversed_loss", "consistency_loss", "star_loss"))
    np.testing.assert_allclose(many_logs[:, keys.index("loss")], total, rtol=1e-5)


@pytest.mark.backend_independent
def test_train_cli_refuses_an_uneven_batch_before_starting(tmp_path, capsys):
    from training import train

    with pytest.raises(SystemExit, match="global batch size 7 does not split evenly across 2 devices"):
        train.main(["smlp-basicmotions-t20", "--devices", "2", "--batch-size", "7",
                    "--output", str(tmp_path / "odd")])
    assert not (tmp_path / "odd").exists()  # nothing was written


@pytest.mark.backend_independent
def test_per_device_batch_refuses_what_does_not_split():
    assert distribute.per_device_batch(256, 8) == 32
    with pytest.raises(distribute.DistributeError, match="Use a multiple of 8 .*--batch-size 96 or 104"):
        distribute.per_device_batch(100, 8)
    with pytest.raises(distribute.DistributeError, match="must be >= 1"):
        distribute.per_device_batch(8, 0)


def test_one_device_is_plain_training_on_every_backend():
    with distribute.data_parallel(1, batch_size=7) as setup:
        assert setup.num_devices == 1 and setup.engine is None
        assert distribute.replicas_in_sync() == 1


@pytest.mark.skipif(BACKEND != "torch", reason="the torch backend's error")
def test_torch_says_what_is_missing():
    with pytest.raises(distribute.DistributeError, match=r"torch backend with keras 3\.15\.1.*DistributedDataParallel"):
        with distribute.data_parallel(2):
            pass


@needs_engine
def test_too_many_devices_names_the_fix():
    # In this process JAX/TF see one CPU device. (Listing TF's logical devices starts its runtime,
    # so that data_parallel cannot split the CPU into 64 for the rest of the session.)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.list_logical_devices()
    with pytest.raises(distribute.DistributeError, match="64 devices requested"):
        with distribute.data_parallel(64):
            pass


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's partial-batch limitation")
def test_jax_partial_last_batch_is_refused_before_training(monkeypatch):
    class Mesh:
        class devices:
            size = 2

    class FakeDistribution:
        device_mesh = Mesh

    monkeypatch.setattr(keras.distribution, "distribution", lambda: FakeDistribution())
    distribute.check_last_batch(40, 8)  # full batches
    distribute.check_last_batch(42, 8)  # last batch of 2 splits
    with pytest.raises(distribute.DistributeError, match="last batch holds 5"):
        distribute.check_last_batch(45, 8, "training")
