"""Loading presets through huggingface_hub: a local fake Hub server and pre-populated caches."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from zoo_helpers import make_model, predict
from keras_trt import zoo

pytestmark = pytest.mark.backend_independent


REPO = "keras-trt-tests/tiny-snn"


@pytest.fixture
def published(tmp_path, fake_hub):
    """A tiny preset saved locally and committed to the fake Hub; returns (model, folder, commit)."""
    model = make_model()
    folder = zoo.save_preset(model, tmp_path / "tiny", dataset="toy", timesteps=4, metrics={"accuracy": 0.5})
    commit = fake_hub.upload_folder(REPO, folder)
    return model, folder, commit


def _cached_files(hf_env, repo=REPO):
    root = hf_env.repo_cache(repo)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()) if root.exists() else []


# ----------------------------------------------------------------------------- downloads


def test_load_from_hub_by_handle(published, fake_hub, hf_env, x_batch):
    model, _, commit = published
    expected = predict(model, x_batch)
    for handle, revision in ((f"hf://{REPO}", None), (f"hf://{REPO}@main", None), (f"hf://{REPO}@{commit}", None), (f"hf://{REPO}", commit)):
        loaded = zoo.load(handle, revision=revision)
        np.testing.assert_allclose(predict(loaded, x_batch), expected, rtol=0, atol=0)
    snapshot = hf_env.repo_cache(REPO) / "snapshots" / commit
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    assert not any("README.md" in p for p in fake_hub.paths_requested())  # only what loading needs
    assert (hf_env.repo_cache(REPO) / "refs" / "main").read_text() == commit
    with pytest.raises(ValueError, match="Two different revisions"):
        zoo.load(f"hf://{REPO}@main", revision=commit)


def test_weights_false_does_not_download_weights(published, fake_hub):
    zoo.load(f"hf://{REPO}", weights=False)
    assert not any("model.weights.h5" in p for p in fake_hub.paths_requested())


def test_num_classes_and_freeze_through_hub(published):
    model = zoo.load(f"hf://{REPO}", num_classes=7, freeze_backbone=True)
    assert model.output_shape == (None, 7)
    assert {w.path for w in model.trainable_weights} == {"classifier/kernel", "classifier/bias"}


def test_offline_after_one_download(published, fake_hub, hf_env, x_batch):
    model, _, _ = published
    zoo.load(f"hf://{REPO}")
    fake_hub.stop()
    hf_env.set_offline(True)
    n = len(fake_hub.requests)
    loaded = zoo.load(f"hf://{REPO}")
    np.testing.assert_allclose(predict(loaded, x_batch), predict(model, x_batch), atol=0)
    assert len(fake_hub.requests) == n


def test_offline_from_hand_made_cache(tmp_path, hf_env, x_batch):
    """Lay out the HF cache by hand (refs/, blobs/, snapshots/ with symlinks), then load with HF_HUB_OFFLINE=1."""
    model = make_model(seed=3)
    folder = zoo.save_preset(model, tmp_path / "p")
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = hf_env.repo_cache("org/hand-made")
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "blobs").mkdir()
    (root / "snapshots" / commit).mkdir(parents=True)
    for f in folder.iterdir():
        data = f.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, root / "snapshots" / commit), root / "snapshots" / commit / f.name)
    hf_env.set_offline(True)
    for handle in ("hf://org/hand-made", f"hf://org/hand-made@{commit}"):
        np.testing.assert_allclose(predict(zoo.load(handle), x_batch), predict(model, x_batch), atol=0)


def test_offline_without_cache_says_how_to_fix(hf_env):
    hf_env.set_offline(True)
    with pytest.raises(zoo.HubOfflineError) as err:
        zoo.load(f"hf://{REPO}@v1")
    message = str(err.value)
    assert isinstance(err.value, ConnectionError)
    assert "HF_HUB_OFFLINE" in message
    assert f"hf download {REPO} --revision v1" in message
    assert f"huggingface-cli download {REPO} --revision v1" in message
    assert "local path" in message
    assert str(hf_env.cache) in message


# ----------------------------------------------------------------------------- bad content


def test_corrupted_download_is_rejected_and_purged(published, fake_hub, hf_env, x_batch):
    model, folder, commit = published
    good = (folder / "model.weights.h5").read_bytes()
    bad = bytearray(good)
    bad[-10] ^= 0xFF
    fake_hub.corrupt[(REPO, "model.weights.h5")] = bytes(bad)
    with pytest.raises(zoo.IntegrityError, match="model.weights.h5") as err:
        zoo.load(f"hf://{REPO}")
    assert "removed from the Hugging Face cache" in str(err.value)
    cached = _cached_files(hf_env)
    assert f"snapshots/{commit}/model.weights.h5" not in cached
    assert f"blobs/{hashlib.sha256(bytes(bad)).hexdigest()}" not in cached
    assert f"snapshots/{commit}/config.json" in cached  # good files stay cached
    # offline, the corrupted file is not served again from the cache
    hf_env.set_offline(True)
    with pytest.raises(zoo.HubOfflineError, match="model.weights.h5"):
        zoo.load(f"hf://{REPO}")
    # once the Hub serves the right bytes, loading downloads them afresh and works
    hf_env.set_offline(False)
    del fake_hub.corrupt[(REPO, "model.weights.h5")]
    np.testing.assert_allclose(predict(zoo.load(f"hf://{REPO}"), x_batch), predict(model, x_batch), atol=0)


def test_missing_file_on_hub_names_file_and_repo(tmp_path, fake_hub):
    folder = zoo.save_preset(make_model(), tmp_path / "p")
    fake_hub.upload_folder("org/incomplete", folder, skip={"model.weights.h5"})
    with pytest.raises(zoo.HubFileNotFoundError) as err:
        zoo.load("hf://org/incomplete")
    assert "model.weights.h5" in str(err.value) and "org/incomplete" in str(err.value)
    zoo.load("hf://org/incomplete", weights=False)  # the architecture alone is there


def test_repo_and_revision_not_found(published):
    with pytest.raises(zoo.HubError, match="org/does-not-exist"):
        zoo.load("hf://org/does-not-exist")
    with pytest.raises(zoo.HubError, match="no revision 'v9'"):
        zoo.load(f"hf://{REPO}@v9")


def test_invalid_handles():
    for handle in ("hf://", "hf://org/repo@", "hf://a/b/c"):
        with pytest.raises(ValueError, match="hf://org/repo"):
            zoo.load(handle)


# ----------------------------------------------------------------------------- registered names


def _register_hub(name, commit, folder, **extra):
    pins = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.iterdir()}
    return zoo.register({"name": name, "architecture": "mlp", "dataset": "toy", "timesteps": 4,
                         "hub": {"repo": REPO, "revision": commit}, "files": pins, "published": True, **extra})


def test_registered_hub_entry(published, x_batch):
    model, folder, commit = published
    _register_hub("tiny-snn", commit, folder)
    np.testing.assert_allclose(predict(zoo.load("tiny-snn"), x_batch), predict(model, x_batch), atol=0)
    assert zoo.load("tiny-snn", weights=False, num_classes=2).output_shape == (None, 2)
    with pytest.raises(ValueError, match="pins the revision"):
        zoo.load("tiny-snn", revision="main")


def test_registry_pin_catches_a_consistently_tampered_repo(published, fake_hub, hf_env):
    """An attacker who rewrites metadata.json to match tampered weights is caught by the card's pin."""
    model, folder, commit = published
    _register_hub("tiny-snn", commit, folder)
    evil = make_model(seed=42)
    evil_folder = zoo.save_preset(evil, folder.parent / "evil")
    for name in ("metadata.json", "model.weights.h5", "config.json"):
        fake_hub.corrupt[(REPO, name)] = (evil_folder / name).read_bytes()
    with pytest.raises(zoo.IntegrityError, match="metadata.json") as err:
        zoo.load("tiny-snn")
    assert "registry card" in str(err.value)
    assert f"snapshots/{commit}/metadata.json" not in _cached_files(hf_env)
    # the same repo loaded by handle (no pin) is only checked against its own metadata.json
    zoo.load(f"hf://{REPO}@{commit}")


def test_unknown_name_suggests_close_matches(published):
    _, folder, commit = published
    _register_hub("lif-mlp-mnist", commit, folder)
    _register_hub("lif-convnet-cifar10", commit, folder)
    with pytest.raises(zoo.UnknownModelError) as err:
        zoo.load("lif-mlp-mnst")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert "'lif-mlp-mnist'" in str(err.value)
    with pytest.raises(KeyError, match="lif-convnet-cifar10"):
        zoo.info("lif-convnet-cifar")
    with pytest.raises(zoo.UnknownModelError, match="hf://org/model"):
        zoo.load("org/model")  # looks like a Hub repo without hf://

