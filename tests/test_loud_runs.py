"""Runs that fail loudly: locked run folders, resumes that never log an epoch twice, CLI flags,
presets whose metadata contradicts the model, an unimported custom surrogate, uneven batches
under data parallelism."""

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import distribute, zoo
from training import compare, run_lock, train
from training import recipe as recipes

from backend_utils import BACKEND

HERE = Path(__file__).resolve().parent
one_backend = pytest.mark.skipif(BACKEND != "jax", reason="backend-independent run-folder logic")


def _tiny():
    return recipes.get("scnn-digits-t4").replace(batch_size=512, build=dict(widths=(2, 4)))


def _epochs(log):
    with open(log) as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


@pytest.mark.backend_independent
def test_a_second_process_on_a_run_folder_stops(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tmp_path.mkdir(exist_ok=True)
        (tmp_path / run_lock.LOCK_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": other.pid}))
        with pytest.raises(SystemExit, match=f"is being trained by process {other.pid}"):
            train.train(_tiny(), output=tmp_path, epochs=1, verbose=0, save_preset=False)
        assert not (tmp_path / "checkpoint").exists()
    finally:
        other.kill()


@one_backend
def test_full_disk_at_a_checkpoint_then_resume_logs_each_epoch_once(tmp_path, monkeypatch):
    real_save = keras.Model.save

    def full_disk(self, path, *a, **k):
        if "epoch2" in os.environ.get("_LOUD_FAIL", "") and Path(path).name == "model.tmp.keras":
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, path, *a, **k)

    class FailSecond(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            os.environ["_LOUD_FAIL"] = "epoch2" if epoch == 1 else ""

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(train.CheckpointWriteError, match="after epoch 2 .*No space left.*after epoch 1 is kept"):
        train.train(_tiny(), output=tmp_path, epochs=3, verbose=0, save_preset=False,
                    extra_callbacks=[FailSecond()])
    assert _epochs(tmp_path / "log.csv") == [0, 1]  # epoch 1's row was logged before its checkpoint failed
    assert not (tmp_path / "checkpoint" / "model.tmp.keras").exists()
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["epoch"] == 1
    os.environ["_LOUD_FAIL"] = ""
    result = train.train(_tiny(), output=tmp_path, epochs=3, verbose=0, save_preset=False)
    assert _epochs(tmp_path / "log.csv") == [0, 1, 2]
    assert len(result["epoch_seconds"]) == 3
    assert not (tmp_path / run_lock.LOCK_FILE).exists()
    # A model file that is not the one its state was written with is refused, naming --restart.
    os.utime(tmp_path / "checkpoint" / "model.keras", ns=(1, 1))
    with pytest.raises(SystemExit, match="inconsistent.*--restart"):
        train.train(_tiny(), output=tmp_path, epochs=3, verbose=0, save_preset=False)


@pytest.mark.backend_independent
@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--epochs", "2.5"), ("--seeds", "0"), ("--jobs", "-1")])
def test_compare_cli_validates_flags_like_argparse(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        compare.main(["smlp-basicmotions-t20", flag, value])
    assert exit_.value.code == 2
    assert f"argument {flag}: must be a whole number >= " in capsys.readouterr().err


@pytest.mark.backend_independent
def test_train_and_evaluate_clis_validate_flags(capsys):
    from training import evaluate

    for main, argv, text in ((train._parse, ["x", "--devices", "0"], "--devices: must be a whole number >= 1"),
                             (train._parse, ["x", "--verbose", "3"], "--verbose: invalid choice"),
                             (evaluate.main, ["p", "d", "--batch-size", "1.5"], "--batch-size: must be a whole number")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2 and text in capsys.readouterr().err


def test_save_preset_refuses_metadata_that_contradicts_the_model(tmp_path):
    model = keras_trt.models.build("smlp", input_shape=(20, 6), hidden=(8,), num_classes=4)
    for kwargs, text in ((dict(timesteps=7), "timesteps=7 contradicts the model, whose T is 20"),
                         (dict(num_classes=5), "num_classes=5 contradicts the model, whose classifier is 4"),
                         (dict(input_shape=[20, 3]), r"input_shape=\[20, 3\] contradicts")):
        with pytest.raises(ValueError, match=text):
            zoo.save_preset(model, tmp_path / "p", **kwargs)
        assert not (tmp_path / "p").exists()
    zoo.save_preset(model, tmp_path / "p")
    assert json.loads((tmp_path / "p" / "metadata.json").read_text())["timesteps"] == 20


def test_unimported_custom_surrogate_is_named_on_the_first_line(tmp_path):
    from keras_trt import surrogates

    class FastSigmoid(surrogates.Surrogate):
        def primitive(self, x):
            return keras.ops.sigmoid(4 * x)

    FastSigmoid.__module__ = "mysur"  # a module the loading process has not imported
    keras.saving.register_keras_serializable(package="my_project")(FastSigmoid)
    x = keras.Input((4, 3))
    h = keras.layers.GlobalAveragePooling1D()(keras_trt.layers.LIF(surrogate=FastSigmoid())(x))
    keras_trt.TRTModel(x, keras.layers.Dense(2, name="classifier")(h)).save(tmp_path / "m.keras")
    # As in a fresh process that did not import mysur: the class is not registered.
    del keras.saving.get_custom_objects()["my_project>FastSigmoid"]
    with pytest.raises(ValueError) as err:
        keras.saving.load_model(tmp_path / "m.keras")
    assert str(err.value).splitlines()[0].startswith(
        "Unknown surrogate class 'my_project>FastSigmoid' (defined in module 'mysur'): import mysur before loading")


@pytest.mark.skipif(BACKEND == "torch", reason="keras 3.15.1 has no data parallelism in fit on torch")
def test_uneven_last_batches_on_two_devices_equal_one_device(tmp_path):
    script = HERE / "_uneven_batches.py"
    env = distribute.simulated_devices_env(2)
    env.update(KERAS_BACKEND=BACKEND, PYTHONPATH=str(HERE.parent))
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(out["many_eval"], out["one_eval"], rtol=1e-5)
    np.testing.assert_allclose(out["many_pred"], out["one_pred"], rtol=1e-5, atol=1e-6)
    assert out["pred_rows"] == 41 and out["second_fit_finite"]
    assert "do not split across 2 devices. Use 44 or 46 samples" in out["error"] or BACKEND == "tensorflow"
    assert "global batch size 7 does not split evenly across 2 devices" in out["batch_error"]
