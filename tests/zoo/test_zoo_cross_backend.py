"""A preset saved under the current backend loads under the two others with the same logits (1e-5)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from zoo_helpers import make_model, predict
from keras_trt import zoo

_MODULE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

_SCRIPT = """
import sys
import numpy as np
import keras
from keras_trt import zoo

folder, x_path, out_path, backend = sys.argv[1:5]
assert keras.backend.backend() == backend, keras.backend.backend()
model = zoo.load(folder)
head = zoo.load(folder, num_classes=5)
x = np.load(x_path)
np.savez(out_path, logits=keras.ops.convert_to_numpy(model(x, training=False)),
         hidden=head.get_layer("hidden").get_weights()[0], backend=zoo.read_metadata(folder)["backend"])
"""


def test_preset_loads_identically_on_other_backends(tmp_path, x_batch):
    current = keras.backend.backend()
    others = [b for b in _MODULE if b != current and importlib.util.find_spec(_MODULE[b]) is not None]
    if not others:
        pytest.skip("no other Keras backend installed")
    model = make_model(seed=11)
    folder = zoo.save_preset(model, tmp_path / "preset", dataset="toy", timesteps=4)
    np.save(tmp_path / "x.npy", x_batch)
    expected = predict(model, x_batch)

    repo_root = str(Path(zoo.__file__).resolve().parents[2])
    env_base = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env_base["PYTHONPATH"] = os.pathsep.join([repo_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env_base.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    procs = {}
    for backend in others:  # run the backends in parallel: each pays its own import time
        env = dict(env_base, KERAS_BACKEND=backend)
        out = tmp_path / f"{backend}.npz"
        procs[backend] = (
            subprocess.Popen(
                [sys.executable, "-c", _SCRIPT, str(folder), str(tmp_path / "x.npy"), str(out), backend],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ),
            out,
        )
    for backend, (proc, out) in procs.items():
        try:
            log, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert proc.returncode == 0, f"loading under {backend} failed:\n{log[-3000:]}"
        result = np.load(out)
        assert str(result["backend"]) == current
        np.testing.assert_allclose(result["logits"], expected, rtol=0, atol=1e-5, err_msg=f"saved on {current}, loaded on {backend}")
        np.testing.assert_array_equal(result["hidden"], model.get_layer("hidden").get_weights()[0])
