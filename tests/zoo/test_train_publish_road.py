"""The road from multi-device training to a published zoo model, end to end at small scale:

``python -m training.train <recipe> --devices 2`` (2 simulated devices) -> preset ->
``python -m training.publish`` to a local Hub (127.0.0.1, through HF_ENDPOINT) -> empty cache ->
``zoo.load("hf://org/name@rev")`` -> ``training.evaluate`` reproduces the stated accuracy; and the
card that publishing pinned loads by name from the Hub, checked against its sha256 pins.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_trt import distribute, zoo
from training import evaluate

ROOT = Path(__file__).resolve().parents[2]
RECIPE = "smlp-basicmotions-t20"
REPO = "org/smlp-basicmotions-t20"
BACKEND = keras.backend.backend()


def _python(args, extra_env):
    env = distribute.simulated_devices_env(2)
    env.update(KERAS_BACKEND=BACKEND, **extra_env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.mark.skipif(BACKEND != "jax", reason="the road runs once, on the JAX leg (CI time); TF's multi-device "
                    "training is checked by test_distribute, and torch has no data parallelism in keras 3.15.1")
def test_train_on_two_devices_publish_load_by_name_and_evaluate(isolated_registry, fake_hub, hf_env, tmp_path):
    # 1. Train the recipe data-parallel on 2 simulated devices; it writes its preset.
    run = tmp_path / "run"
    _python(["-m", "training.train", RECIPE, "--devices", "2", "--epochs", "12", "--output", str(run),
             "--verbose", "0"], {})
    preset = run / "preset"
    stated = json.loads((preset / "metadata.json").read_text())["metrics"]["accuracy"]
    assert stated == json.loads((run / "result.json").read_text())["test"]["accuracy"]
    assert stated > 0.25, "12 epochs should beat chance on 4 classes: the road should carry a trained model"

    # 2. Publish with the command line to the local Hub; publishing pins the card.
    card_dir = isolated_registry / RECIPE
    card_dir.mkdir()
    card = json.loads((ROOT / "zoo" / RECIPE / "card.json").read_text())
    card.update(hub=None, files={}, published=False, metrics={})
    (card_dir / "card.json").write_text(json.dumps(card))
    hub_env = dict(HF_ENDPOINT=fake_hub.url, HF_HOME=str(tmp_path / "publisher-hf"),
                   HF_HUB_CACHE=str(tmp_path / "publisher-hf" / "hub"), HF_TOKEN="test-token",
                   HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    _python(["-m", "training.publish", str(card_dir), "--repo", REPO, "--preset", str(preset)], hub_env)
    commit = fake_hub.repos[REPO]["refs"]["main"]
    pinned = json.loads((card_dir / "card.json").read_text())
    assert pinned["hub"] == {"repo": REPO, "revision": commit} and pinned["published"] is True
    assert pinned["metrics"]["accuracy"] == stated
    uploaded = fake_hub.files(REPO, commit)
    assert {n: hashlib.sha256(b).hexdigest() for n, b in uploaded.items()} == pinned["files"]
    for name in ("config.json", "model.weights.h5"):
        assert uploaded[name] == (preset / name).read_bytes()  # the trained preset, byte for byte
    assert ("POST", f"/api/models/{REPO}/preupload/main") in fake_hub.requests

    # 3. From an empty cache: load by Hub handle and evaluate; the stated accuracy reproduces.
    assert not hf_env.repo_cache(REPO).exists()
    handle = f"hf://{REPO}@{commit}"
    measured, stated_on_hub = evaluate.evaluate(handle, "basic_motions", batch_size=40)
    assert stated_on_hub == stated
    assert measured["accuracy"] == pytest.approx(stated, abs=1e-6)
    x = np.asarray(keras.random.normal((4, 20, 6), seed=0))
    from_handle = keras.ops.convert_to_numpy(zoo.load(handle).predict(x, verbose=0))

    # 4. The registered card (no local weights) loads by name from the Hub, checked against its pins.
    assert zoo.info(RECIPE, show=False)["weights"] == "hub"
    shutil.rmtree(hf_env.cache)
    by_name = keras.ops.convert_to_numpy(zoo.load(RECIPE).predict(x, verbose=0))
    np.testing.assert_array_equal(by_name, from_handle)
    measured_by_name, _ = evaluate.evaluate(RECIPE, "basic_motions", batch_size=40)
    assert measured_by_name["accuracy"] == pytest.approx(stated, abs=1e-6)
    # A Hub whose weights no longer match the pinned sha256 is refused.
    shutil.rmtree(hf_env.cache)
    fake_hub.corrupt[(REPO, "model.weights.h5")] = uploaded["model.weights.h5"][:-8] + b"\0" * 8
    with pytest.raises(zoo.IntegrityError):
        zoo.load(RECIPE)
