"""Preset folders: save, load, head replacement, freezing, integrity, safety, atomic writes."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import yaml

from zoo_helpers import make_model, predict
from keras_trt import zoo
from keras_trt.zoo import card as zoo_card
from keras_trt.zoo.integrity import sha256_file


def _rewrite_config(folder, config):
    """Replace config.json and fix its hash in metadata.json (a consistent but hostile preset)."""
    (folder / "config.json").write_text(json.dumps(config))
    meta = json.loads((folder / "metadata.json").read_text())
    meta["files"]["config.json"] = sha256_file(folder / "config.json")
    (folder / "metadata.json").write_text(json.dumps(meta))


def _rewrite_meta(folder, **changes):
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(changes)
    (folder / "metadata.json").write_text(json.dumps(meta))


# ----------------------------------------------------------------------------- round trip


def test_save_and_load_gives_identical_predictions(tmp_path, tiny_model, x_batch):
    out = zoo.save_preset(tiny_model, tmp_path / "tiny", dataset="toy", timesteps=4, metrics={"accuracy": 0.91})
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    for handle in (out, str(out)):
        loaded = zoo.load(handle)
        np.testing.assert_allclose(predict(loaded, x_batch), predict(tiny_model, x_batch), rtol=0, atol=0)
    # nothing left behind next to the preset
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_metadata_records_versions_backend_and_hashes(tmp_path, tiny_model):
    out = zoo.save_preset(
        tiny_model, tmp_path / "p", dataset="toy", timesteps=4, metrics={"accuracy": np.float32(0.9)},
        architecture="mlp", build={"hidden": 16},
    )
    meta = zoo.read_metadata(out)
    assert meta["format_version"] == zoo.FORMAT_VERSION
    assert meta["backend"] == keras.backend.backend()
    assert meta["keras_version"] == keras.__version__
    assert meta["keras_trt_version"]
    assert (meta["dataset"], meta["timesteps"], meta["num_classes"], meta["input_shape"]) == ("toy", 4, 3, [8])
    assert meta["metrics"] == {"accuracy": 0.9}
    assert meta["total_parameters"] == tiny_model.count_params()
    assert meta["parameters"] == sum(int(np.prod(w.shape)) for w in tiny_model.trainable_weights)
    assert meta["extra"] == {"architecture": "mlp", "build": {"hidden": 16}}
    assert set(meta["files"]) == {"config.json", "model.weights.h5", "README.md"}
    for name, digest in meta["files"].items():
        assert sha256_file(out / name) == digest


def test_model_card_front_matter_is_valid_hub_metadata(tmp_path, tiny_model):
    out = zoo.save_preset(tiny_model, tmp_path / "p", dataset="mnist", timesteps=4, metrics={"accuracy": 0.97},
                          description="A tiny test network.")
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])  # read independently of huggingface_hub
    assert front["library_name"] == "keras"
    assert {"spiking-neural-network", "keras-trt"} <= set(front["tags"])
    assert front["datasets"] == ["mnist"]
    assert front["license"] == "apache-2.0"
    result = front["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "mnist"
    assert result["metrics"][0] == {"type": "accuracy", "value": 0.97, "name": "accuracy"}
    assert "A tiny test network." in text
    # huggingface_hub itself parses the card and its evaluation results
    from huggingface_hub import ModelCard

    card = ModelCard(text)
    assert card.data.library_name == "keras"
    assert card.data.eval_results[0].metric_value == 0.97


def test_weights_false_builds_architecture_only(tmp_path, tiny_model, x_batch):
    hidden = tiny_model.get_layer("hidden")
    hidden.set_weights([w + 1.0 for w in hidden.get_weights()])  # "trained": differs from the initializers
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    os.remove(out / "model.weights.h5")  # not needed, not read
    model = zoo.load(out, weights=False)
    assert [w.shape for w in model.weights] == [w.shape for w in tiny_model.weights]
    assert not np.allclose(predict(model, x_batch), predict(tiny_model, x_batch))
    with pytest.raises(zoo.PresetFormatError, match="model.weights.h5"):
        zoo.load(out)


# ----------------------------------------------------------------------------- fine-tuning


def test_num_classes_replaces_head_and_keeps_backbone(tmp_path, tiny_model, x_batch):
    for layer in tiny_model.layers:  # "train": move every weight away from its initializer
        layer.set_weights([w + 1.0 for w in layer.get_weights()])
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    model = zoo.load(out, num_classes=5)
    fresh = zoo.load(out, num_classes=5, weights=False)
    assert model.output_shape == (None, 5)
    assert model.get_layer("classifier").kernel.shape == (16, 5)
    for a, b in zip(model.get_layer("hidden").get_weights(), tiny_model.get_layer("hidden").get_weights()):
        np.testing.assert_array_equal(a, b)  # backbone: the trained weights
    for a, b in zip(model.get_layer("classifier").get_weights(), fresh.get_layer("classifier").get_weights()):
        np.testing.assert_array_equal(a, b)  # head: freshly initialised, nothing copied
    assert model.get_layer("classifier").get_weights()[1].max() < 0.5  # not the trained (+1) bias
    # the same number of classes keeps the trained head
    same = zoo.load(out, num_classes=3)
    np.testing.assert_allclose(predict(same, x_batch), predict(tiny_model, x_batch), rtol=0, atol=0)
    # num_classes works without weights too
    assert zoo.load(out, weights=False, num_classes=7).output_shape == (None, 7)


def test_num_classes_with_layer_after_head(tmp_path, x_batch):
    inp = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inp)
    logits = keras.layers.Dense(3, name="classifier")(h)
    model = keras.Model(inp, keras.layers.Softmax(name="probs")(logits))
    out = zoo.save_preset(model, tmp_path / "p")
    new = zoo.load(out, num_classes=6)
    assert new.output_shape == (None, 6)
    np.testing.assert_allclose(predict(new, x_batch).sum(-1), 1.0, rtol=1e-5)


def test_freeze_backbone(tmp_path, tiny_model, x_batch):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    model = zoo.load(out, num_classes=4, freeze_backbone=True)
    trainable = {w.path for w in model.trainable_weights}
    assert trainable == {"classifier/kernel", "classifier/bias"}
    hidden_before = [w.copy() for w in model.get_layer("hidden").get_weights()]
    head_before = model.get_layer("classifier").get_weights()[0].copy()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    model.fit(x_batch, np.array([0, 1, 2, 3]), epochs=1, verbose=0)
    for a, b in zip(model.get_layer("hidden").get_weights(), hidden_before):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(model.get_layer("classifier").get_weights()[0], head_before)


def test_num_classes_needs_a_classifier_layer(tmp_path):
    inp = keras.Input((8,))
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(inp))
    out = zoo.save_preset(model, tmp_path / "p")
    with pytest.raises(ValueError, match="classifier"):
        zoo.load(out, num_classes=5)
    with pytest.raises(ValueError, match="classifier"):
        zoo.load(out, freeze_backbone=True)
    with pytest.raises(ValueError, match="positive integer"):
        zoo.load(out, num_classes=0)


# ----------------------------------------------------------------------------- integrity / format


def test_tampered_local_file_is_rejected_and_kept(tmp_path, tiny_model):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    data = bytearray((out / "model.weights.h5").read_bytes())
    data[-10] ^= 0xFF
    (out / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(zoo.IntegrityError, match="model.weights.h5") as err:
        zoo.load(out)
    assert "sha256" in str(err.value) and "Fix" in str(err.value)
    assert (out / "model.weights.h5").exists()  # a local folder is never modified
    zoo.load(out, weights=False)  # the architecture alone is still usable


def test_missing_listed_file_is_named(tmp_path, tiny_model):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    os.remove(out / "README.md")
    with pytest.raises(zoo.PresetFormatError, match="README.md"):
        zoo.load(out)


@pytest.mark.parametrize(
    "version, pattern",
    [(zoo.FORMAT_VERSION + 1, "newer than the version"), (None, "format_version"), ("1", "unknown preset format_version"), (0, "unknown")],
)
def test_format_version_checked(tmp_path, tiny_model, version, pattern):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    _rewrite_meta(out, format_version=version)
    with pytest.raises(zoo.PresetFormatError, match=pattern) as err:
        zoo.load(out)
    if version == zoo.FORMAT_VERSION + 1:
        assert "pip install -U keras-trt" in str(err.value)


def test_not_a_preset_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.PresetFormatError, match="metadata.json is missing"):
        zoo.load(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(zoo.PresetFormatError, match="is a file"):
        zoo.load(str(tmp_path / "file.txt"))


# ----------------------------------------------------------------------------- safety


def test_lambda_layer_is_refused(tmp_path, tiny_model):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    inp = keras.Input((8,))
    evil = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2, name="double")(inp))
    _rewrite_config(out, keras.saving.serialize_keras_object(evil))
    with pytest.raises(zoo.UnsafeConfigError, match="Lambda"):
        zoo.load(out)
    # and save_preset refuses to write a preset nobody could load
    with pytest.raises(zoo.UnsafeConfigError, match="Lambda"):
        zoo.save_preset(evil, tmp_path / "evil")
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    "patch, name",
    [
        ({"module": "os", "class_name": "system", "registered_name": None}, "system"),
        ({"module": "mypkg.layers", "class_name": "Evil", "registered_name": "mypkg>Evil"}, "Evil"),
        ({"module": "keras.layers", "class_name": "NoSuchLayer", "registered_name": None}, "NoSuchLayer"),
        ({"module": None, "class_name": "Sneaky", "registered_name": "Sneaky"}, "Sneaky"),
        ({"module": None, "class_name": "Bare", "registered_name": None}, "Bare"),
        ({"module": "keras_trt.layers", "class_name": "Ghost", "registered_name": "keras_trt>Ghost"}, "Ghost"),
    ],
)
def test_unregistered_classes_are_refused(tmp_path, tiny_model, patch, name):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    config = json.loads((out / "config.json").read_text())
    config["config"]["layers"][1].update(patch)
    _rewrite_config(out, config)
    with pytest.raises(zoo.UnsafeConfigError, match=name) as err:
        zoo.load(out)
    assert "register_keras_serializable" in str(err.value)


def test_foreign_function_reference_is_refused(tmp_path, tiny_model):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    config = json.loads((out / "config.json").read_text())
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "function"
    }
    _rewrite_config(out, config)
    with pytest.raises(zoo.UnsafeConfigError, match="system"):
        zoo.load(out)
    config["config"]["layers"][1]["config"]["activation"] = {
        "module": "keras.models", "class_name": "function", "config": "load_model", "registered_name": "function"
    }
    _rewrite_config(out, config)
    with pytest.raises(zoo.UnsafeConfigError, match="load_model"):
        zoo.load(out)


def test_registered_custom_layer_is_accepted(tmp_path, x_batch):
    @keras.saving.register_keras_serializable(package="zoo_tests")
    class Scale(keras.layers.Layer):
        def call(self, t):
            return t * 2.0

    try:
        inp = keras.Input((8,))
        h = Scale(name="scale")(inp)
        model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(h))
        out = zoo.save_preset(model, tmp_path / "p")
        np.testing.assert_allclose(predict(zoo.load(out), x_batch), predict(model, x_batch), atol=0)
    finally:
        keras.saving.get_custom_objects().pop("zoo_tests>Scale", None)
    with pytest.raises(zoo.UnsafeConfigError, match="Scale"):  # unregistered now
        zoo.load(out)


def test_spiking_model_with_keras_trt_layers_round_trips(tmp_path):
    """keras_trt's registered layers (and the surrogate sub-config they decode) pass the safety check."""
    import keras_trt

    inp = keras.Input((8,))
    h = keras_trt.layers.RepeatTime(4)(inp)
    h = keras_trt.layers.TimeFolded(keras.layers.Dense(16), name="fc1")(h)
    h = keras_trt.layers.LIF(tau=2.0, surrogate="atan", name="lif1")(h)
    h = keras_trt.layers.FiringRate(name="rate")(h)
    model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(h))
    x = np.random.default_rng(1).uniform(0, 3, size=(4, 8)).astype("float32")
    out = zoo.save_preset(model, tmp_path / "snn", timesteps=4)
    np.testing.assert_allclose(predict(zoo.load(out), x), predict(model, x), atol=0)
    tuned = zoo.load(out, num_classes=6, freeze_backbone=True)
    assert tuned.output_shape == (None, 6)
    np.testing.assert_array_equal(tuned.get_layer("fc1").get_weights()[0], model.get_layer("fc1").get_weights()[0])


# ----------------------------------------------------------------------------- writing


def test_refuses_to_overwrite_without_flag(tmp_path, tiny_model, x_batch):
    out = zoo.save_preset(tiny_model, tmp_path / "p")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        zoo.save_preset(make_model(seed=5), out)
    (out / "card.json").write_text('{"name": "p"}')  # a zoo card living next to the preset is kept
    other = make_model(seed=5)
    zoo.save_preset(other, out, overwrite=True)
    np.testing.assert_allclose(predict(zoo.load(out), x_batch), predict(other, x_batch), atol=0)
    assert (out / "card.json").read_text() == '{"name": "p"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    # an unrelated non-empty folder is never replaced
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="Refusing"):
        zoo.save_preset(other, tmp_path / "docs", overwrite=True)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"
    # an existing empty folder is fine
    (tmp_path / "empty").mkdir()
    zoo.save_preset(other, tmp_path / "empty")
    assert (tmp_path / "empty" / "metadata.json").exists()


def test_failed_save_leaves_nothing_half_written(tmp_path, tiny_model, monkeypatch, x_batch):
    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(tiny_model, "save_weights", boom)
    with pytest.raises(OSError, match="simulated"):
        zoo.save_preset(tiny_model, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []

    # replacing an existing preset: the old one survives intact
    old = make_model(seed=7)
    out = zoo.save_preset(old, tmp_path / "p")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OSError, match="simulated"):
        zoo.save_preset(tiny_model, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    np.testing.assert_allclose(predict(zoo.load(out), x_batch), predict(old, x_batch), atol=0)


def test_bad_metrics_fail_before_writing(tmp_path, tiny_model):
    with pytest.raises(TypeError, match="metrics"):
        zoo.save_preset(tiny_model, tmp_path / "p", metrics={"accuracy": "high"})
    with pytest.raises(TypeError, match="finite"):
        zoo.save_preset(tiny_model, tmp_path / "p", metrics={"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []
