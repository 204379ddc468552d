"""The zoo as a user meets it: `zoo.load` then `fit`, load-compile-fit, backbone and head apart.

Every test takes a user's steps in a user's order on the shipped `smlp-basicmotions-t20` (a real
registered preset, offline), on whichever backend the suite runs under.
"""

import json
import pathlib

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import zoo
from keras_trt.data import bin_time, load_basic_motions
from keras_trt.models import heads

from backend_utils import to_numpy

NAME = "smlp-basicmotions-t20"
ZOO = pathlib.Path(__file__).resolve().parents[1] / "zoo"


@pytest.fixture(scope="module")
def motions():
    (x, y), (xt, yt), names = load_basic_motions()
    vigorous = [names.index("badminton"), names.index("running")]
    binary = lambda labels: np.isin(labels, vigorous).astype("int32")  # noqa: E731
    return (bin_time(x, 20), y, binary(y)), (bin_time(xt, 20), yt, binary(yt))


def _state(model, names):
    return {n: [to_numpy(w).copy() for w in model.get_layer(n).weights] for n in names}


def _backbone_names(model):
    return [l.name for l in model.layers if l.weights and l.name != heads.CLASSIFIER]


def test_load_then_fit_trains_the_new_head_and_nothing_else(motions, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (x, _, y2), _ = motions
    keras.utils.set_random_seed(0)
    model = zoo.load(NAME, num_classes=2, freeze_backbone=True)  # no compile: load() did it
    backbone = _backbone_names(model)
    before = _state(model, backbone + [heads.CLASSIFIER])
    history = model.fit(x, y2, epochs=3, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses  # it learns (the preset's finished schedule had lr 0)
    after = _state(model, backbone + [heads.CLASSIFIER])
    for name in backbone:  # kernels and BN moving statistics alike
        for b, a in zip(before[name], after[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.allclose(after[heads.CLASSIFIER][0], before[heads.CLASSIFIER][0])


def test_nothing_of_the_original_training_run_comes_with_the_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.load(NAME)
    assert int(to_numpy(model.optimizer.iterations)) == 0
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(to_numpy(model.optimizer.learning_rate)) == pytest.approx(zoo.loader.FINETUNE_LEARNING_RATE)
    assert model.trt_config == keras_trt.TRTConfig()  # the defaults, not the recipe's run
    assert getattr(zoo.load(NAME, compile=False), "optimizer", None) is None
    assert "compile_config" not in json.loads((ZOO / NAME / "config.json").read_text())


def test_load_compile_fit(motions, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (x, y, _), (xt, yt, _) = motions
    keras.utils.set_random_seed(1)
    model = zoo.load(NAME)
    stated = json.loads((ZOO / NAME / "card.json").read_text())["metrics"]["accuracy"]
    assert model.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"] == pytest.approx(stated, abs=1e-3)
    model.compile(keras.optimizers.SGD(1e-2), metrics=["accuracy"], trt=None)
    kernel = to_numpy(model.get_layer("fc1").layer.kernel).copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(to_numpy(model.get_layer("fc1").layer.kernel), kernel)  # the whole model trains


def test_include_top_false_gives_the_spike_features(motions, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, (xt, _, _) = motions
    full = zoo.load(NAME, compile=False)
    features = zoo.load(NAME, include_top=False)
    assert features.output_shape == (None, 20, 64)
    spikes = to_numpy(features.predict(xt[:8], verbose=0))
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    # The head on these features is the full model: classifier(mean over T of the spikes).
    w, b = (to_numpy(v) for v in full.get_layer("classifier").weights)
    np.testing.assert_allclose(spikes.mean(axis=1) @ w + b, to_numpy(full.predict(xt[:8], verbose=0)),
                               rtol=1e-5, atol=1e-5)
    frozen = zoo.load(NAME, include_top=False, freeze_backbone=True)
    assert frozen.trainable_weights == []


def test_a_new_head_on_the_backbone_with_the_builders():
    # The same split at build time: a backbone from the registry and the standard head on top.
    backbone = keras_trt.models.build("smlp", include_top=False, input_shape=(6, 5), hidden=(8, 8))
    assert backbone.output_shape == (None, 6, 8)
    model = keras_trt.TRTModel(backbone.inputs, heads.classifier_head(backbone.output, 3))
    model.compile("adam", trt=keras_trt.TRTConfig())
    x = np.random.default_rng(0).normal(size=(8, 6, 5)).astype("float32")
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)


def test_replace_head_keeps_weight_free_layers_after_the_classifier():
    inp = keras.Input((4,))
    h = keras.layers.Dense(5, name="hidden")(inp)
    model = keras.Model(inp, keras.layers.Softmax(name="probs")(keras.layers.Dense(3, name="classifier")(h)))
    new = heads.replace_head(model, 6)
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(to_numpy(new(x)).sum(-1), 1.0, rtol=1e-6)
    assert new.get_layer("hidden") is model.get_layer("hidden")


def test_bad_requests_name_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="empty handle"):
        zoo.load("")
    with pytest.raises(ValueError, match="include_top=False"):
        zoo.load(NAME, include_top=False, num_classes=3)
    with pytest.raises(TypeError, match="compile must be True or False"):
        zoo.load(NAME, compile="yes")
    inp = keras.Input((4,))
    no_head = keras.Model(inp, keras.layers.Dense(3, name="logits")(inp))
    with pytest.raises(ValueError, match="named 'classifier'"):
        heads.freeze_backbone(no_head)
    with pytest.raises(ValueError, match="named 'classifier'"):
        heads.backbone(no_head)


def test_the_zoo_transformer_fine_tunes_after_load(monkeypatch):
    """spikformer-mnist-t2 with a new head (even / odd digits): a few TRT steps on the frozen
    backbone move the loss down; its backbone is the pooled token features [B, T, D]."""
    from keras_trt.data import load_mnist5k

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (x, y), _ = load_mnist5k()
    x, parity = x[:256], (y[:256] % 2).astype("int32")
    keras.utils.set_random_seed(0)
    model = zoo.load("spikformer-mnist-t2", num_classes=2, freeze_backbone=True)
    model.jit_compile = False
    assert {w.path for w in model.trainable_weights} == {"classifier/kernel", "classifier/bias"}
    losses = model.fit(x, parity, epochs=3, batch_size=64, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    assert zoo.load("spikformer-mnist-t2", include_top=False).output_shape == (None, 2, 64)
