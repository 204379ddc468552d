"""training/: resume after an interruption, the quickstart, recipes, and the zoo's stated accuracy."""

import json
import pathlib

import keras
import numpy as np
import pytest

from training import quickstart, train
from training import recipe as recipes

ZOO = pathlib.Path(__file__).resolve().parents[1] / "zoo"


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated interruption after the first epoch")


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    recipe = recipes.get("scnn-digits-t4").replace(batch_size=256, augment=True, build=dict(widths=(8, 16)))
    kw = dict(epochs=2, seed=3, verbose=0, save_preset=False)
    straight = train.train(recipe, output=tmp_path / "straight", **kw)

    with pytest.raises(KeyboardInterrupt):
        train.train(recipe, output=tmp_path / "resumed", extra_callbacks=[_Interrupt()], **kw)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1
    resumed = train.train(recipe, output=tmp_path / "resumed", **kw)

    a = keras.saving.load_model(tmp_path / "straight" / "checkpoint" / "model.keras")
    b = keras.saving.load_model(tmp_path / "resumed" / "checkpoint" / "model.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    for va, vb in zip(a.optimizer.variables, b.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(va), keras.ops.convert_to_numpy(vb))
    assert resumed["test"] == straight["test"]
    log = (tmp_path / "resumed" / "log.csv").read_text().strip().splitlines()
    assert len(log) == 3  # header + one row per epoch, across the two sessions


def test_resume_refuses_a_different_run(tmp_path):
    recipe = recipes.get("scnn-digits-t4").replace(batch_size=512, build=dict(widths=(4, 8)))
    train.train(recipe, output=tmp_path, epochs=1, verbose=0, save_preset=False)
    with pytest.raises(SystemExit, match="different run"):
        train.train(recipe, output=tmp_path, epochs=1, seed=1, verbose=0, save_preset=False)


def test_bfloat16_run_computes_in_bfloat16_and_resumes_only_as_bfloat16(tmp_path):
    recipe = recipes.get("scnn-digits-t4").replace(batch_size=256, build=dict(widths=(8, 16)))
    kw = dict(epochs=1, verbose=0, save_preset=False)
    result = train.train(recipe, output=tmp_path, precision="mixed_bfloat16", **kw)
    assert result["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    model = keras.saving.load_model(tmp_path / "checkpoint" / "model.keras")
    conv = next(l for l in model._flatten_layers() if isinstance(l, keras.layers.Conv2D))
    assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
    assert keras.backend.standardize_dtype(model.predict(np.zeros((2, 8, 8, 1)), verbose=0).dtype) in (
        "bfloat16", "float32")
    with pytest.raises(SystemExit, match="different run"):
        train.train(recipe, output=tmp_path, **kw)  # a float32 run over a bfloat16 checkpoint
    with pytest.raises(ValueError, match="precision"):
        train.train(recipe, output=tmp_path / "x", precision="float16", **kw)


@pytest.mark.backend_independent
def test_unknown_recipe_suggests_names():
    with pytest.raises(SystemExit, match="scnn-digits-t4"):
        recipes.get("scnn-digit-t4")


@pytest.mark.backend_independent
def test_every_recipe_names_a_registered_architecture():
    import keras_trt

    names = recipes.available()
    assert {"sresnet34-imagenet-t2", "scnn-digits-t4"} <= set(names)
    for name in names:
        assert recipes.get(name).architecture in keras_trt.models.list_architectures(), name


def test_quickstart_trains_both_arms():
    results = quickstart.main(["--epochs", "1", "--seeds", "0", "--verbose", "0", "--timesteps", "2"])
    assert set(results) == {"TRT", "plain SNN"}
    for runs in results.values():
        (accuracy, seconds), = runs
        assert 0.0 <= accuracy <= 1.0 and seconds > 0


@pytest.mark.backend_independent  # recipe handling; the variants themselves: tests/test_cheap_trt.py
def test_a_recipes_cheaper_default_is_what_train_trains(tmp_path):
    """A recipe's ``cheap`` variant is its TRT run (recorded as such, in the preset too);
    ``full_trt`` trains full TRT, and a checkpoint of one does not resume as the other."""
    recipe = recipes.get("scnn-digits-t4").replace(batch_size=512, build=dict(widths=(4, 8)),
                                                    cheap="at=input,frac=0.5")
    kw = dict(epochs=1, verbose=0)
    cheap = train.train(recipe, output=tmp_path / "cheap", **kw)
    assert cheap["variant"] == "at=input,frac=0.5"
    model = keras.saving.load_model(tmp_path / "cheap" / "checkpoint" / "model.keras")
    names = [layer.name for layer in model.layers]
    reversal = next(layer for layer in model.layers if type(layer).__name__ == "TemporalReversal")
    # At the input: before the stem's convolution, where full TRT has it after the stem's neuron.
    assert names.index(reversal.name) < min(i for i, n in enumerate(names) if "conv" in n)
    assert model.trt_config.batch_fraction == 0.5
    card = json.loads((tmp_path / "cheap" / "preset" / "metadata.json").read_text())
    assert "cheaper TRT" in json.dumps(card)

    full = train.train(recipe, output=tmp_path / "full", full_trt=True, save_preset=False, **kw)
    assert "variant" not in full
    model = keras.saving.load_model(tmp_path / "full" / "checkpoint" / "model.keras")
    names = [layer.name for layer in model.layers]
    reversal = next(layer for layer in model.layers if type(layer).__name__ == "TemporalReversal")
    assert names.index(reversal.name) > min(i for i, n in enumerate(names) if "conv" in n)
    with pytest.raises(SystemExit, match="different run"):
        train.train(recipe, output=tmp_path / "full", save_preset=False, epochs=2, verbose=0)


@pytest.mark.backend_independent
def test_full_trt_flag_is_refused_where_it_changes_nothing(capsys):
    with pytest.raises(SystemExit, match="trains full TRT already"):
        train.main(["scnn-digits-t4", "--full-trt"])
    with pytest.raises(SystemExit, match="exclude each other"):
        train.main(["spointnet-mnistpoints-t2", "--full-trt", "--no-trt"])
