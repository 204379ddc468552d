"""Cheaper TRT: the config fields, the paired count, the branch shapes, the training FLOPs
counted by hand, and the ``training.compare --cheap`` arms.

(The loss, gradients and schedules against the NumPy reference are in ``test_trt_step.py``.)
"""

import math

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import layers, temporal
from keras_trt.analysis import training_cost

backend_independent = pytest.mark.backend_independent


# ---------------------------------------------------------------------------- config


@backend_independent
def test_config_fields_validate_and_round_trip():
    cfg = keras_trt.TRTConfig(batch_fraction=0.25, start_epoch=3, stop_epoch=9, every_steps=2)
    assert keras_trt.TRTConfig.from_config(cfg.get_config()) == cfg
    assert cfg.scheduled and not keras_trt.TRTConfig(batch_fraction=0.5).scheduled
    # Defaults stay out of the saved config: configs saved before these fields compare equal.
    assert set(keras_trt.TRTConfig().get_config()) == {
        "reversal_weight", "consistency_weight", "temperature", "star_weight", "kl_direction",
        "symmetric_kl", "stop_gradient_target"}
    for bad, match in ((dict(batch_fraction=0.0), "batch_fraction"), (dict(batch_fraction=1.5), "batch_fraction"),
                       (dict(start_epoch=-1), "start_epoch"), (dict(every_steps=0), "every_steps"),
                       (dict(start_epoch=4, stop_epoch=4), "after start_epoch"),
                       (dict(every_steps=2.5), "every_steps")):
        with pytest.raises(ValueError, match=match):
            keras_trt.TRTConfig(**bad)
    with pytest.raises(TypeError, match="batch_fraction"):
        keras_trt.TRTConfig(batch_fraction="0.25")


@backend_independent
def test_trt_steps_of_a_schedule():
    cfg = keras_trt.TRTConfig(start_epoch=1, stop_epoch=3, every_steps=3)
    table = [[cfg.is_trt_step(e, b) for b in range(5)] for e in range(4)]
    assert table == [[False] * 5, [True, False, False, True, False],
                     [True, False, False, True, False], [False] * 5]


@backend_independent
@pytest.mark.parametrize("fraction", [0.25, 1 / 3, 0.5, 0.1, 0.7, 0.999])
def test_paired_count_is_ceil_and_invertible(fraction):
    for batch in range(1, 301):
        m = temporal.paired_count(batch, fraction)
        assert m == math.ceil(round(fraction * batch, 9)), (batch, m)
        assert 1 <= m <= batch
        assert temporal.original_count(batch + m, fraction) == batch


# ---------------------------------------------------------------------------- branch shapes


def _model(t=3, d=4, h=5, k=3, star=True):
    x = keras.Input((t, d))
    z = layers.TemporalReversal()(x)
    z = layers.TimeFolded(keras.layers.Dense(h), name="fc1")(z)
    z = layers.LIF()(z)
    z = layers.StarProduct()(z) if star else layers.FiringRate()(z)
    return keras_trt.TRTModel(x, keras.layers.Dense(k, name="classifier")(z))


def test_branches_with_a_fraction():
    x = np.random.default_rng(0).normal(size=(10, 3, 4)).astype("float32")
    with temporal.trt_branches(True, batch_fraction=0.25):
        out = keras.ops.convert_to_numpy(layers.TemporalReversal()(x))
        rates = keras.ops.convert_to_numpy(layers.StarProduct()(out))
    m = 3  # ceil(10 / 4)
    np.testing.assert_array_equal(out, np.concatenate([x, x[:m, ::-1]]))
    r = x.mean(axis=1)
    np.testing.assert_allclose(rates, np.concatenate([r, r[:m], r[:m] * r[:m]]), rtol=1e-6)
    # Outside the branches both layers are the plain network.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layers.TemporalReversal()(x)), x)


def test_inference_ignores_the_cheap_fields():
    model = _model()
    x = np.random.default_rng(1).normal(size=(6, 3, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    model.compile("sgd", trt=keras_trt.TRTConfig(batch_fraction=0.25, every_steps=2))
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    assert model.predict(x, verbose=0).shape == (6, 3)


# ---------------------------------------------------------------------------- FLOPs by hand


@backend_independent
def test_training_flops_by_hand():
    # fc1 (before nothing: the reversal is at the input): T*h*d = 3*5*4 = 60 MACs per sample,
    # forward 120, backward 120 (first layer: no input gradient) -> 240; classifier h*k = 15
    # MACs: forward 30, backward 60 -> 90. Plain step: 330.
    model = _model()
    plain = training_cost.training_flops(model, None)
    assert plain == 330
    assert training_cost.training_flops(model, keras_trt.TRTConfig()) == 2 * 240 + 3 * 90
    # 1/4 of the batch: fc1 on 1.25 B, the classifier on 1.5 B (original, reversed, star).
    assert training_cost.training_flops(model, keras_trt.TRTConfig(batch_fraction=0.25)) == 1.25 * 240 + 1.5 * 90
    # A batch of 6 with 1/4: m = ceil(1.5) = 2, m / B = 1/3.
    assert training_cost.step_flops(model, keras_trt.TRTConfig(batch_fraction=0.25), batch_size=6) == pytest.approx(
        240 * 4 / 3 + 90 * 5 / 3)
    # Without a StarProduct the classifier sees B + m, not B + 2m.
    assert training_cost.training_flops(_model(star=False), keras_trt.TRTConfig()) == 2 * 240 + 2 * 90
    full = 2 * 240 + 3 * 90
    # TRT from epoch 1 of 4 (3 TRT epochs) and on batches 0, 2 of 3 (2 of 3 steps).
    cfg = keras_trt.TRTConfig(start_epoch=1, every_steps=2)
    share = (3 * 2) / (4 * 3)
    assert training_cost.training_flops(model, cfg, epochs=4, steps_per_epoch=3) == pytest.approx(
        plain + share * (full - plain))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        training_cost.training_flops(model, cfg)


@backend_independent
def test_training_flops_of_a_late_reversal_by_hand():
    # Static input, reversal after the second layer: fc1 (first, 240) and fc2 (T*h*h = 75 MACs:
    # 150 forward + 300 backward) once, fc3 after the reversal twice, the classifier three times.
    t, d, h, k = 3, 4, 5, 3
    x = keras.Input((d,))
    z = layers.RepeatTime(t)(x)
    for i in (1, 2, 3):
        z = layers.TimeFolded(keras.layers.Dense(h), name=f"fc{i}")(z)
        z = layers.LIF()(z)
        if i == 2:
            z = layers.TemporalReversal()(z)
    z = layers.StarProduct()(z)
    model = keras_trt.TRTModel(x, keras.layers.Dense(k, name="classifier")(z))
    fc1 = 2 * t * h * d * 2          # 240
    fc2 = fc3 = 2 * t * h * h * 3    # 450
    cls = 2 * h * k * 3              # 90
    assert training_cost.training_flops(model, None) == fc1 + fc2 + fc3 + cls
    assert training_cost.training_flops(model, keras_trt.TRTConfig(batch_fraction=0.5)) == (
        fc1 + fc2 + 1.5 * fc3 + 2 * cls)


# ---------------------------------------------------------------------------- compare arms


@backend_independent
def test_cheap_arms():
    from training import cheap_arms

    arms = cheap_arms.variant_arms(["frac=0.25", "last=0.25", "first=0.2", "every=4", "at=stage2,frac=0.5"],
                                   {"star_weight": 1.0}, epochs=35)
    by_key = {a.key: a for a in arms}
    assert by_key["cheap-frac0.25"].trt == {"star_weight": 1.0, "batch_fraction": 0.25}
    assert by_key["cheap-last0.25"].trt["start_epoch"] == 26       # the last 9 of 35
    assert by_key["cheap-first0.2"].trt["stop_epoch"] == 7
    assert by_key["cheap-every4"].trt["every_steps"] == 4
    assert by_key["cheap-at-stage2-frac0.5"].build == {"reverse_at": "stage2"}
    assert by_key["plain-for-cheap-frac0.25"].epochs == "match:cheap-frac0.25"
    weighted = cheap_arms.variant_arms(["frac=0.25,weight=0.25"], {"star_weight": 0.5}, epochs=35)[0]
    assert weighted.key == "cheap-frac0.25-weight0.25"
    assert weighted.trt == {"batch_fraction": 0.25, "reversal_weight": 0.25, "consistency_weight": 0.25,
                            "star_weight": 0.125}
    assert "weighted x0.25" in weighted.label
    defaults = keras_trt.TRTConfig()
    assert cheap_arms._WEIGHTS == {k: getattr(defaults, k) for k in cheap_arms._WEIGHTS}
    for spec, match in (("frac=2", "fraction"), ("every=1", "whole number"), ("size=3", "key=value"),
                        ("first=0.5,last=0.5", "exclude"), ("last=1", "every epoch"),
                        ("weight=0", "positive"), ("weight=x", "positive")):
        with pytest.raises(ValueError, match=match):
            cheap_arms.variant_arms([spec], {}, epochs=10)
    assert cheap_arms.matched_arm(35, 35, 70)[0] == "plain"
    assert cheap_arms.matched_arm(70, 35, 70)[0] == "plain-flops"
    assert cheap_arms.matched_arm(44, 35, 70)[0] == "plain-e44"


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the compare plumbing: runs under the tensorflow pass (the steps are tested on every backend above)")
def test_compare_cheap_arms_page(tmp_path, monkeypatch):
    """``training.compare --cheap`` end to end on a tiny recipe: the variants train with their
    TRTConfig, the compute-matched plain arms are resolved and shared, the page compares each
    variant with full TRT, the plain SNN and the plain SNN at its FLOPs."""
    import json

    from training import compare, results_table
    from training import recipe as recipes

    tiny = recipes.get("smlp-basicmotions-t20").replace(
        name="tiny-basicmotions", timesteps=4, epochs=2, batch_size=8, build=dict(hidden=(8, 8)))
    monkeypatch.setattr(recipes, "get", lambda name: tiny)
    results = tmp_path / "results"
    argv = ["tiny-basicmotions", "--seeds", "1", "--output", str(tmp_path / "runs"), "--results-dir",
            str(results), "--no-probe", "--cheap", "frac=0.25", "last=0.5", "every=2"]
    result = compare.main(argv)
    runs = result["runs"]
    # fc1 and fc2 (2496 - 96 FLOPs) after the input reversal on 1.25 B, the classifier (2*8*4*3
    # = 192) on 1.5 B; full TRT 5184 = 2 * 2304 + 3 * 192 as the existing count.
    plain, fc, cls = 2496, 2304, 192
    assert result["flops_per_image"]["plain"] == plain == fc + cls
    assert result["flops_per_image"]["trt"] == 2 * fc + 3 * cls
    assert result["flops_per_image"]["cheap-frac0.25"] == 1.25 * fc + 1.5 * cls == 3168
    assert result["flops_per_image"]["cheap-last0.5"] == plain + (5184 - plain) / 2
    # 1.27x and 1.54x: 2 epochs match round(2.54) = round(3.08) = 3 plain epochs, one run for both.
    assert result["flops_matches"]["cheap-frac0.25"] == result["flops_matches"]["cheap-last0.5"] == "plain-e3"
    assert [r["epochs"] for r in runs["plain-e3"]] == [3]
    spec = json.loads((tmp_path / "runs" / "cheap-last0.5-seed0" / "arm.json").read_text())
    assert spec["trt"]["start_epoch"] == 1
    # The resolution is kept beside the runs: a later `--jobs` call queues nothing for a seed
    # whose runs are all finished (it would otherwise relaunch the plain arms to resolve them).
    from training import seed_jobs

    arms = compare.arms_for(tiny, cheap=["frac=0.25", "last=0.5", "every=2"])
    matches = compare._recorded_matches(tmp_path / "runs", 2)
    done = lambda seed, key: compare._arm_finished(tmp_path / "runs", seed, key, False, matches)  # noqa: E731
    assert done(0, "plain-for-cheap-frac0.25") and not done(1, "plain-for-cheap-frac0.25")
    assert seed_jobs.units([0], [(a.key, 1) for a in arms], compare.arms_together(arms), done) == []
    assert compare._recorded_matches(tmp_path / "runs", 3) is None  # recorded for other epochs
    assert not compare._arm_finished(tmp_path / "runs", 0, "plain-for-cheap-frac0.25", False, None)
    text = (results / "tiny-basicmotions-cheap.md").read_text()
    assert text.startswith("# tiny-basicmotions: cheaper TRT variants")
    for key in ("cheap-frac0.25", "cheap-last0.5", "cheap-every2"):
        bases = {(c["b"], c["basis"]) for c in result["comparisons"] if c["a"] == key}
        assert {("plain", "equal epochs"), ("trt", "equal epochs")} <= bases
        assert any(basis == "equal training FLOPs" for _, basis in bases)
    summaries = results_table.load(results)
    assert [s["page"] for s in summaries] == ["tiny-basicmotions-cheap"]
    table = results_table.cheap_table(summaries)
    assert "| TRT reversed branch for 0.25 of each batch | 1.27 |" in table
    assert results_table.ablation_table(summaries) == ""  # not an ablation page
    assert "tiny-basicmotions" not in results_table.table(summaries)  # nor a headline row


def test_schedule_logs_the_same_columns_every_epoch(tmp_path):
    """Plain and TRT epochs log the same keys (the components NaN before a TRT step), so a
    CSVLogger reused over per-epoch fit calls keeps its columns aligned."""
    import csv

    model = _model()
    model.compile("sgd", trt=keras_trt.TRTConfig(start_epoch=1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3, 4)).astype("float32"), rng.integers(0, 3, 8)
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"), append=True)
    for epoch in range(2):
        model.fit(x, y, batch_size=4, initial_epoch=epoch, epochs=epoch + 1, verbose=0, callbacks=[logger])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert all(None not in row for row in rows)  # no value without its column
    assert np.isnan(float(rows[0]["task_loss"])) and np.isfinite(float(rows[1]["task_loss"]))
    assert float(rows[1]["loss"]) > float(rows[1]["task_loss"])  # the TRT total in the TRT epoch


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compare plumbing: the tensorflow pass")
def test_late_reversal_arm_is_probed_at_the_recipe_point():
    """A model trained with ``reverse_at="stage2"`` keeps its predictions in the recipe's model
    (reversal after the stem), which the probes then cut at the stem."""
    from training import compare, probes
    from training import recipe as recipes

    recipe = recipes.get("sresnet20-mnist-t2").replace(build=dict(width_multiplier=0.25))
    data = type("Data", (), dict(num_classes=10, input_shape=(8, 8, 1)))
    late = keras_trt.models.build("sresnet20", num_classes=10, timesteps=2, input_shape=(8, 8, 1),
                                  width_multiplier=0.25, reverse_at="stage2")
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    moved = compare._in_recipe_model(late, recipe, data)
    np.testing.assert_allclose(moved.predict(x, verbose=0), late.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    front, _ = probes.split_at_reversal(moved)
    assert front.output.shape[1:] == (2, 8, 8, 4)  # the stem's spikes: cut at the recipe's point
