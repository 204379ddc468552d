"""training.stats, training.probes and training.compare: the statistics against hand computation,
the perturbations on tiny inputs, the compute-matched epoch count, and the pairing of arms."""

import json
import math
import os
import shutil

import keras
import numpy as np
import pytest

import reference
import tiny_models
from keras_trt import temporal
from training import compare, datasets, probes, seed_jobs, stats, train
from training import recipe as recipes

# Tests that involve no backend computation run under one backend of the suite only.
once = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                          reason="backend-independent: runs under the tensorflow pass")

# --- statistics -------------------------------------------------------------------------------

T_975_DF4 = 2.7764451051977987  # two-sided 95 % quantile of Student's t with 4 degrees of freedom


@once
def test_paired_interval_and_t_match_hand_computation():
    a = [97.5, 95.0, 100.0, 92.5, 97.5]
    b = [95.0, 95.0, 97.5, 87.5, 92.5]
    d = np.array(a) - np.array(b)  # 2.5, 0, 2.5, 5, 5
    mean, sd = d.mean(), np.sqrt(((d - d.mean()) ** 2).sum() / 4)
    s = stats.paired(a, b)
    assert s["n"] == 5 and s["mean_diff"] == pytest.approx(3.0)
    assert s["std_diff"] == pytest.approx(sd)
    assert s["t"] == pytest.approx(mean / (sd / np.sqrt(5)))
    assert s["ci_low"] == pytest.approx(mean - T_975_DF4 * sd / np.sqrt(5))
    assert s["ci_high"] == pytest.approx(mean + T_975_DF4 * sd / np.sqrt(5))
    assert (s["wins"], s["ties"], s["losses"]) == (4, 1, 0)
    assert s["mean_a"] == pytest.approx(np.mean(a)) and s["std_b"] == pytest.approx(np.std(b, ddof=1))
    assert "a ahead" in stats.verdict(s, "a", "b")  # CI 0.85 .. 5.15 excludes 0


@once
def test_paired_p_value_matches_the_closed_form_for_two_degrees_of_freedom():
    # With 2 degrees of freedom the two-sided p-value is 1 - |t| / sqrt(t^2 + 2).
    a, b = [1.0, 3.0, 2.5], [0.0, 1.0, 2.0]
    d = np.array(a) - np.array(b)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(3))
    s = stats.paired(a, b)
    assert s["p"] == pytest.approx(1 - abs(t) / math.sqrt(t * t + 2))
    assert "no difference established" in stats.verdict(s)


@once
def test_paired_edge_cases():
    same = stats.paired([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # every difference 1: no spread
    assert same["ci_low"] == same["ci_high"] == 1.0 and math.isnan(same["p"])
    assert math.isnan(stats.paired([1.0], [0.0])["ci_low"])
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired([1.0, 2.0], [1.0])


# --- perturbations and consistency (NumPy) ----------------------------------------------------


@once
def test_perturbations_on_a_tiny_sequence():
    x = np.arange(1.0, 5.0).reshape(1, 4, 1)  # steps 1, 2, 3, 4
    flat = lambda a: a[0, :, 0].tolist()  # noqa: E731
    assert flat(probes.reverse(x)) == [4, 3, 2, 1]
    assert flat(probes.drop_step(x, 0)) == [2, 3, 4, 0]
    assert flat(probes.drop_step(x, 3)) == [1, 2, 3, 0]
    assert flat(probes.duplicate_step(x, 0)) == [1, 1, 2, 3]
    assert flat(probes.duplicate_step(x, 2)) == [1, 2, 3, 3]
    with pytest.raises(ValueError, match="out of range"):
        probes.duplicate_step(x, 3)  # the last step: duplicating it changes nothing
    with pytest.raises(ValueError, match=r"\[B, T, ...\]"):
        probes.reverse(np.zeros(3))


@once
def test_consistency_against_hand_kl():
    o = np.array([[2.0, 0.0], [0.0, 1.0]])
    o_rev = np.array([[0.0, 1.0], [0.0, 3.0]])
    p = np.exp(o) / np.exp(o).sum(1, keepdims=True)
    q = np.exp(o_rev) / np.exp(o_rev).sum(1, keepdims=True)
    kl, agreement = probes.consistency(o, o_rev)
    assert kl == pytest.approx(np.mean((p * np.log(p / q)).sum(1)))
    assert agreement == 0.5  # argmax 0 vs 1, then 1 vs 1
    assert probes.consistency(o, o)[0] == pytest.approx(0.0)


# --- probes on real models (backend) ----------------------------------------------------------


def test_robustness_perturbs_the_input_of_a_temporal_model():
    keras.utils.set_random_seed(0)
    model = tiny_models.temporal_mlp(timesteps=4, features=6, num_classes=3)
    x = np.random.default_rng(0).normal(size=(16, 4, 6)).astype("float32") * 3
    y = np.random.default_rng(1).integers(0, 3, 16)
    out = probes.robustness(model, x, y, batch_size=8)

    def acc(seq):
        return np.mean(np.argmax(model.predict(seq, verbose=0), -1) == y)

    assert out["perturbed_at"] == "input"
    assert out["accuracy"] == pytest.approx(acc(x))
    assert out["reversed"] == pytest.approx(acc(x[:, ::-1]))
    dropped = [acc(np.concatenate([np.delete(x, t, 1), np.zeros_like(x[:, :1])], 1)) for t in range(4)]
    assert out["dropped"] == pytest.approx(np.mean(dropped)) and out["dropped_min"] == min(dropped)
    dup = [acc(np.concatenate([x[:, : t + 1], x[:, t:3]], 1)) for t in range(3)]
    assert out["duplicated"] == pytest.approx(np.mean(dup))
    kl, agree = probes.consistency(model.predict(x, verbose=0), model.predict(x[:, ::-1], verbose=0))
    assert out["kl"] == pytest.approx(kl, abs=1e-6) and out["agreement"] == pytest.approx(agree)

    # Firing rate: the LIF layer's spikes from the NumPy reference on the Dense layer's output.
    fc = model.get_layer("fc1").layer
    w, b = (keras.ops.convert_to_numpy(v) for v in (fc.kernel, fc.bias))
    spikes = reference.lif_forward(x.astype(np.float64) @ w + b)["spikes"]
    assert 0 < spikes.mean() < 1
    assert out["firing_rate"] == pytest.approx(spikes.mean(), abs=1e-6)


def test_reversed_output_at_the_reversal_point_equals_the_trt_branch():
    keras.utils.set_random_seed(1)
    model = tiny_models.static_cnn(timesteps=3)
    x = np.random.default_rng(2).uniform(size=(6, 8, 8, 1)).astype("float32")
    front, back = probes.split_at_reversal(model)
    h = front.predict(x, verbose=0)
    np.testing.assert_allclose(back.predict(h, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    # The library's own TRT branches in inference mode: [O; O_rev; O_star].
    with temporal.trt_branches():
        o, o_rev, _ = np.split(keras.ops.convert_to_numpy(model(x, training=False)), 3)
    np.testing.assert_allclose(back.predict(probes.reverse(h), verbose=0), o_rev, atol=1e-5)


# --- compute matching and pairing -------------------------------------------------------------


def _tiny(epochs=1, **changes):
    # BasicMotions binned to 4 steps, a 8-8 spiking MLP: a few hundred milliseconds per epoch.
    return recipes.get("smlp-basicmotions-t20").replace(
        timesteps=4, epochs=epochs, batch_size=8, build=dict(hidden=(8, 8)), **changes)


@once
def test_compute_matched_epochs_from_hand_counted_flops():
    recipe = _tiny()
    data = datasets.load(recipe.dataset, batch_size=8, seed=0, augment=False, timesteps=4)
    # MACs per sample: fc1 4*6*8, fc2 4*8*8 (every step), classifier 8*4 (on the rates).
    fc1, fc2, cls = 4 * 6 * 8, 4 * 8 * 8, 8 * 4
    # Training FLOPs = 2 per MAC, forward + backward (backward x2, x1 for the first layer);
    # under TRT with the reversal at the input every layer runs twice, the classifier 3 times.
    plain = 2 * (2 * fc1 + 3 * fc2 + 3 * cls)
    trt = 2 * (2 * 2 * fc1 + 2 * 3 * fc2 + 3 * 3 * cls)
    assert compare.training_flops(recipe, data, trt=False) == plain
    assert compare.training_flops(recipe, data, trt=True) == trt
    assert compare.compute_matched_epochs(60, trt, plain) == round(60 * trt / plain) == 125
    assert compare.compute_matched_epochs(1, 1.0, 10.0) == 1  # never zero epochs
    with pytest.raises(ValueError, match="positive"):
        compare.compute_matched_epochs(10, 1.0, 0.0)


class _FirstWeights(keras.callbacks.Callback):
    def __init__(self, store):
        super().__init__()
        self.store = store

    def on_train_begin(self, logs=None):
        if not self.store:
            self.store.extend(w.copy() for w in self.model.get_weights())


def test_both_arms_of_a_seed_start_from_the_same_weights_and_batches(tmp_path, monkeypatch):
    fed = []
    original = datasets.EpochArrays.epoch

    def recording(self, epoch):
        x, y = original(self, epoch)
        fed.append((x.copy(), y.copy()))
        return x, y

    monkeypatch.setattr(datasets.EpochArrays, "epoch", recording)
    recipe = _tiny()
    runs = {}
    for name, trt in (("trt", True), ("plain", False)):
        fed.clear()
        weights = []
        train.train(recipe, output=tmp_path / name, seed=0, trt=trt, verbose=0,
                    save_preset=False, extra_callbacks=[_FirstWeights(weights)])
        runs[name] = (weights, list(fed))
    (w_trt, b_trt), (w_plain, b_plain) = runs["trt"], runs["plain"]
    assert len(w_trt) == len(w_plain) > 0 and len(b_trt) == len(b_plain) == 1
    for a, b in zip(w_trt, w_plain):
        np.testing.assert_array_equal(a, b)
    for (xa, ya), (xb, yb) in zip(b_trt, b_plain):  # fed with shuffle=False: the batch order
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # The check can fail: seed 1 gives other initial weights and another order.
    import keras_trt

    keras.utils.set_random_seed(1)
    other = keras_trt.models.build("smlp", num_classes=4, timesteps=4, input_shape=(4, 6), hidden=(8, 8))
    assert any(not np.array_equal(a, b) for a, b in zip(w_trt, other.get_weights()))
    seed1 = datasets.load("basic_motions", batch_size=8, seed=1, augment=False, timesteps=4)
    assert not np.array_equal(b_trt[0][1], seed1.train.epoch(0)[1])


def test_compare_writes_a_page_and_reuses_finished_runs(tmp_path, monkeypatch):
    tiny = _tiny().replace(name="tiny-basicmotions")
    monkeypatch.setattr(recipes, "get", lambda name: tiny)
    argv = ["tiny-basicmotions", "--seeds", "2", "--output", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--no-probe"]  # probes: tested above
    result = compare.main(argv)
    runs = result["runs"]
    assert [r["epochs"] for r in runs["plain-flops"]] == [2, 2]  # round(1 * 5184 / 2496)
    acc = {k: [100 * r["test"]["accuracy"] for r in v] for k, v in runs.items()}
    text = (tmp_path / "results" / "tiny-basicmotions.md").read_text()
    s = stats.paired(acc["trt"], acc["plain"])
    assert f"| TRT − plain SNN | equal epochs | {s['mean_diff']:+.2f} |" in text
    assert "equal training FLOPs" in text
    assert (tmp_path / "results" / "tiny-basicmotions-compute.png").stat().st_size > 0
    summary = json.loads((tmp_path / "results" / "tiny-basicmotions.json").read_text())
    assert {a["key"]: a["accuracy"] for a in summary["arms"]} == acc  # the README table's source

    # A second call retrains nothing: every run is reused, from the records a clone has (the
    # weights, TensorBoard logs and locks are not committed, see .gitignore).
    for folder in (tmp_path / "runs").glob("*-seed*"):
        for ignored in ("checkpoint", "tensorboard"):
            shutil.rmtree(folder / ignored, ignore_errors=True)
        assert {p.name for p in folder.iterdir()} >= {"arm.json", "log.csv", "result.json"}
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("a finished run was retrained"))
    again = compare.main(argv)
    assert json.dumps(again["comparisons"]) == json.dumps(result["comparisons"])
    # New words, or a cheaper default for training.train, do not change what an arm trained...
    monkeypatch.setattr(recipes, "get", lambda name: tiny.replace(description="reworded", cheap="frac=0.5"))
    assert compare.main(argv)["runs"]["trt"][0]["test"] == runs["trt"][0]["test"]
    # ...another learning rate does, and the folders holding the old runs are refused.
    monkeypatch.setattr(recipes, "get", lambda name: tiny.replace(learning_rate=tiny.learning_rate / 2))
    with pytest.raises(SystemExit, match="holds a run of another arm or recipe setting"):
        compare.main(argv)


@once
def test_ablation_arms_trained_apart_make_their_own_page(tmp_path, monkeypatch):
    tiny = _tiny().replace(name="tiny-basicmotions")
    monkeypatch.setattr(recipes, "get", lambda name: tiny)
    base = ["tiny-basicmotions", "--seeds", "2", "--output", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), "--no-probe"]
    results = tmp_path / "results"
    compare.main(base)
    comparison_page = (results / "tiny-basicmotions.md").read_text()
    trained = []
    real_train = train.train
    monkeypatch.setattr(train, "train", lambda *a, **k: trained.append(k["output"].name) or real_train(*a, **k))
    ablation = base + ["--ablation"]
    with pytest.raises(SystemExit):  # not an arm of this comparison
        compare.main(ablation + ["--only-arms", "stars"])
    part = compare.main(ablation + ["--only-arms", "star"])  # one arm, as a parallel process would
    assert set(part["runs"]) == {"star"} and trained == ["star-seed0", "star-seed1"]
    assert not (results / "tiny-basicmotions-ablation.md").exists()  # a part writes no page
    result = compare.main(ablation)
    assert trained[2:] == ["rev-cons-seed0", "rev-cons-seed1"]  # the rest reused
    # The ablation has its own page and summary; the comparison's are untouched.
    assert (results / "tiny-basicmotions.md").read_text() == comparison_page
    text = (results / "tiny-basicmotions-ablation.md").read_text()
    assert text.startswith("# tiny-basicmotions: ablation")
    acc = {k: [100 * r["test"]["accuracy"] for r in v] for k, v in result["runs"].items()}
    for arm, label in (("star", "star only"), ("rev-cons", "TRT without star")):
        for other, other_label in (("plain", "plain SNN"), ("trt", "TRT")):
            s = stats.paired(acc[arm], acc[other])
            assert f"| {label} (" in text and f" − {other_label} | equal epochs | {s['mean_diff']:+.2f} |" in text
    from training import results_table as rt

    summaries = rt.load(results)
    assert sorted(s["page"] for s in summaries) == ["tiny-basicmotions", "tiny-basicmotions-ablation"]
    assert len(rt.table(summaries).splitlines()) == 3  # one row: the comparison's
    rows = rt.ablation_table(summaries).splitlines()[4:]
    assert [r.split(" | ")[0] for r in rows] == ["| TRT", "| plain SNN", "| TRT without star (star_weight=0)",
                                                 "| star only (reversal_weight=0, consistency_weight=0)"]


@once
def test_steady_seconds_leave_out_compilation_and_pauses():
    # Median of the epochs after the first: 10; the first (compiling) and the paused one become it.
    assert compare.steady_seconds([40.0, 10.0, 12.0, 8.0, 1458.0, 10.0]) == [10.0, 10.0, 12.0, 8.0, 10.0, 10.0]
    assert compare.steady_seconds([10.0, 30.0, 10.0]) == [20.0, 30.0, 10.0]  # 1.5x: load, kept
    assert compare.steady_seconds([5.0]) == [5.0]


@once
def test_a_run_folder_trained_by_another_process_is_refused(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    from training import run_lock

    tiny = _tiny().replace(name="tiny-basicmotions")
    monkeypatch.setattr(recipes, "get", lambda name: tiny)
    argv = ["tiny-basicmotions", "--seeds", "1", "--only-arms", "plain", "--no-probe",
            "--output", str(tmp_path / "runs")]
    folder = tmp_path / "runs" / "plain-seed0"
    folder.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:  # a live process of this host holds the folder: nothing is trained, the holder is named
        (folder / run_lock.LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": other.pid}))
        with pytest.raises(SystemExit, match=rf"being trained by process {other.pid} on "):
            compare.main(argv)
        assert not (folder / "arm.json").exists()
    finally:
        other.kill()
        other.wait()
    # Its process gone, the lock is stale: taken over, the run trained, the lock released.
    result = compare.main(argv)
    assert [r["seed"] for r in result["runs"]["plain"]] == [0] and run_lock.holder(folder) is None
    (folder / run_lock.LOCK_FILE).write_text(json.dumps({"host": "another-host", "pid": 1}))
    with pytest.raises(SystemExit, match="another-host"):  # another host's lock is not broken
        compare.main(argv)


@once
def test_seed_jobs_split_cores_and_arguments():
    arms = [("trt", 2), ("plain", 1), ("plain-flops", 2)]
    # Seeds in order, a seed's costly arms first; finished arms left out.
    assert seed_jobs.units([0, 1], arms) == [(0, ["trt"]), (0, ["plain-flops"]), (0, ["plain"]),
                                             (1, ["trt"]), (1, ["plain-flops"]), (1, ["plain"])]
    assert seed_jobs.units([3], arms, done=lambda s, k: k != "plain") == [(3, ["plain"])]
    # Arms that must share a process: overlapping sets merge, a set goes whole while any arm is unfinished.
    assert seed_jobs.units([0], arms + [("m", 1)], together=[{"plain", "m"}, {"m", "plain-flops"}],
                           done=lambda s, k: k == "plain") == [(0, ["plain", "plain-flops", "m"]), (0, ["trt"])]
    assert seed_jobs.assign_cores(2, [0, 1, 2, 3]) == [[0, 1], [2, 3]]
    assert seed_jobs.assign_cores(3, [0, 1]) == [[0], [1], [0]]  # more children than cores: shared
    assert seed_jobs.assign_cores(2, [0, 1, 2]) == [[0, 1], [2]]  # no core left idle
    assert seed_jobs.without_jobs(["r", "--jobs", "2", "--seeds", "5", "--jobs=3", "--jo", "4"]) == ["r", "--seeds", "5"]
    assert seed_jobs.child_env(1, base={})["PYTHONPATH"].split(os.pathsep)[0] == seed_jobs.ROOT
    env = seed_jobs.child_env(1, base={"OMP_NUM_THREADS": "4"})
    assert env["OMP_NUM_THREADS"] == "4" and env["TF_NUM_INTRAOP_THREADS"] == "1"  # the user's value wins
    with_seconds = compare.arms_for(recipes.get("smlp-basicmotions-t20"), wall_clock=True)
    assert compare.arms_together(with_seconds) == [{"trt", "plain", "plain-seconds"}]
    cheap = compare.arms_for(recipes.get("smlp-basicmotions-t20"), cheap=["frac=0.25"])
    assert compare.arms_together(cheap) == [{"plain", "plain-flops", "plain-for-cheap-frac0.25"}]


@once
def test_compare_with_jobs_trains_every_arm_in_child_processes(tmp_path, monkeypatch, capsys):
    # The parent must only reuse: any training in this process fails the test.
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("the parent process trained"))
    argv = ["smlp-basicmotions-t20", "--seeds", "2", "--epochs", "1", "--jobs", "2", "--no-probe",
            "--backend", "tensorflow", "--output", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results")]
    # A part first (seed 1 only, as a campaign split over sessions does): trained, no page.
    assert compare.main(argv + ["--only-seeds", "1"]) is None
    assert not (tmp_path / "results").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["plain-flops-seed1", "plain-seed1", "trt-seed1"]
    capsys.readouterr()
    # The whole comparison then trains only what is missing, one arm per child, and writes the page.
    result = compare.main(argv)
    out = capsys.readouterr().out.splitlines()
    launched = [l.split(":")[0] for l in out if "a process on CPU cores" in l]
    assert sorted(launched) == ["[compare] seed 0 plain", "[compare] seed 0 plain-flops", "[compare] seed 0 trt"]
    assert sum("units finished" in l for l in out) == 3 and any(" 3 of 3 units finished" in l for l in out)
    assert {k: len(v) for k, v in result["runs"].items()} == {"trt": 2, "plain": 2, "plain-flops": 2}
    assert [r["seed"] for r in result["runs"]["trt"]] == [0, 1]
    assert (tmp_path / "results" / "smlp-basicmotions-t20.md").exists()
    # A failing child (here: an argument error) is named with its exit code, from any directory.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"seed 0 plain \(exit code 2\)"):
        seed_jobs.run_children(["smlp-basicmotions-t20", "--seeds", "0"], [(0, ["plain"])], 2)


def _fake_result():
    acc = {"trt": [0.97, 0.98, 0.96], "plain": [0.95, 0.97, 0.96], "plain-flops": [0.98, 0.98, 0.97]}
    arms = [{"key": "trt", "label": "TRT"}, {"key": "plain", "label": "plain SNN"},
            {"key": "plain-flops", "label": "plain SNN, TRT's training FLOPs"}]
    epochs = {"trt": 10, "plain": 10, "plain-flops": 20}
    runs = {k: [{"seed": i, "epochs": epochs[k], "test": {"accuracy": a}} for i, a in enumerate(v)]
            for k, v in acc.items()}
    result = dict(recipe="fake-r", dataset="fake-data", n_test=100, backend="jax", epochs=10,
                  arms=arms, runs=runs)
    result["comparisons"] = compare.comparisons(result)
    return result, acc


@once
def test_results_table_from_a_summary_against_hand_statistics():
    from scipy import stats as sps

    from training import results_table

    def t_interval(d):  # by hand: mean ± t(0.975, n-1) * s / sqrt(n)
        half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        return d.mean(), d.mean() - half, d.mean() + half

    def fmt(v):
        return f"{v:+.2f}".replace("-", "−")

    result, acc = _fake_result()
    summary = json.loads(json.dumps(results_table.summary(result), allow_nan=False))  # strict JSON
    row = results_table.table([summary]).splitlines()[2]
    assert row.startswith("| `fake-r` (10 epochs, jax) | fake-data, 100 | 3 | 97.00 ± 1.00 | 96.00 ± 1.00 | "
                          "97.67 ± 0.58 (20 epochs) |")
    cells = [c.strip() for c in row.split("|")[-3:-1]]
    for cell, other in zip(cells, ("plain", "plain-flops")):
        m, lo, hi = t_interval(100 * (np.array(acc["trt"]) - np.array(acc[other])))
        assert cell.startswith(f"{fmt(m)} ({fmt(lo)} to {fmt(hi)}), p = "), (cell, m, lo, hi)
    p = float(cells[1].split("p = ")[1])
    assert abs(p - (1 - 2 / math.sqrt(6))) < 1e-3  # t = -2, 2 degrees of freedom: p = 1 - |t|/sqrt(2 + t^2)


@once
def test_results_table_without_an_interval():
    from training import results_table

    result, _ = _fake_result()
    for runs in result["runs"].values():  # one seed: no interval, no p
        del runs[1:]
    result["comparisons"] = compare.comparisons(result)
    summary = results_table.summary(result)
    json.dumps(summary, allow_nan=False)  # undefined statistics are null, not NaN
    row = results_table.table([summary]).splitlines()[2]
    assert row.endswith("| −1.00 (n/a), p = n/a |")
    del summary["arms"][2], summary["comparisons"][1]  # an arm not run: a dash
    assert results_table.table([summary]).splitlines()[2].endswith("| – | +2.00 (n/a), p = n/a | – |")


@once
def test_ablation_table_against_hand_statistics():
    from scipy import stats as sps

    from training import results_table

    result, acc = _fake_result()
    acc["star"] = [0.96, 0.96, 0.95]
    result["arms"].append({"key": "star", "label": "star only"})
    result["runs"]["star"] = [{"seed": i, "epochs": 10, "test": {"accuracy": a},
                               "probe": {"agreement": 0.9 + i / 100, "dropped": 0.5, "firing_rate": 0.1}}
                              for i, a in enumerate(acc["star"])]
    result["comparisons"] = compare.comparisons(result)
    summary = results_table.summary(result, page="fake-r-ablation")
    assert results_table.table([summary]).count("\n") == 1  # header only: not a comparison row
    rows = results_table.ablation_table([summary]).splitlines()
    assert rows[0].startswith("`fake-r`, 3 paired seeds, 10 epochs, jax")
    star = [c.strip() for c in rows[-1].split("|")[1:-1]]
    assert star[:2] == ["star only", "95.67 ± 0.58"]
    for cell, other in zip(star[2:4], ("plain", "trt")):
        d = 100 * (np.array(acc["star"]) - np.array(acc[other]))
        half = sps.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
        fmt = lambda v: f"{v:+.2f}".replace("-", "−")  # noqa: E731
        assert cell.startswith(f"{fmt(d.mean())} ({fmt(d.mean() - half)} to {fmt(d.mean() + half)}), p = "), cell
    assert star[4:] == ["91.0", "50.0", "0.100"]  # agreement (mean of 90, 91, 92), dropped, rate
    trt, plain = ([c.strip() for c in r.split("|")[3:8]] for r in rows[4:6])
    assert trt[0].startswith("+1.00 (") and trt[1:] == ["–"] * 4  # TRT − TRT: none; no probes run
    assert plain == ["–"] * 5


@once
def test_results_table_replaces_only_its_block():
    from training import results_table as rt

    text = f"intro\n{rt.BEGIN}\nold\n{rt.END}\noutro\n"
    assert rt.replace_block(text, "new") == f"intro\n{rt.BEGIN}\nnew\n{rt.END}\noutro\n"
    with pytest.raises(ValueError, match="results-table"):
        rt.replace_block("no markers", "new")


@once
def test_results_table_rewrites_the_readme_whole_or_not_at_all(tmp_path, capsys):
    from training import results_table as rt

    result, _ = _fake_result()
    (tmp_path / "fake-r.json").write_text(json.dumps(rt.summary(result)))
    result["arms"].append({"key": "star", "label": "star only"})
    result["runs"]["star"] = [dict(r) for r in result["runs"]["trt"]]
    result["comparisons"] = compare.comparisons(result)
    ablation = rt.summary(result, page="fake-r-ablation")
    del ablation["page"]  # a summary written before pages were named: told by its arms
    (tmp_path / "fake-r-ablation.json").write_text(json.dumps(ablation))
    readme = tmp_path / "README.md"
    before = f"intro\n{rt.BEGIN}\nold\n{rt.END}\nmiddle\n"
    readme.write_text(before)  # no ablation markers: the headline table alone is written
    rt.main(["--results-dir", str(tmp_path), "--readme", str(readme)])
    assert readme.read_text() == before.replace("old", rt.table(rt.load(tmp_path)))
    broken = before + f"{rt.ABLATION_BEGIN}\nno end marker\n"
    readme.write_text(broken)
    with pytest.raises(SystemExit, match="ablation-table:begin"):  # half a block: refused
        rt.main(["--results-dir", str(tmp_path), "--readme", str(readme)])
    assert readme.read_text() == broken  # nothing half-written
    readme.write_text(before + f"{rt.ABLATION_BEGIN}\nstale\n{rt.ABLATION_END}\n")
    rt.main(["--results-dir", str(tmp_path), "--readme", str(readme)])
    text = readme.read_text()
    summaries = rt.load(tmp_path)
    assert rt.table(summaries) in text and rt.ablation_table(summaries) in text and "stale" not in text
    assert rt.table(summaries).count("`fake-r`") == 1  # the ablation is not a comparison row
    (tmp_path / "fake-r-ablation.json").unlink()  # its page gone: the block is emptied, not left stale
    rt.main(["--results-dir", str(tmp_path), "--readme", str(readme)])
    assert f"{rt.ABLATION_BEGIN}\n\n{rt.ABLATION_END}" in readme.read_text()


@once
def test_readme_results_table_is_the_one_the_pages_give():
    import pathlib

    from training import results_table as rt

    root = pathlib.Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split(rt.BEGIN)[1].split(rt.END)[0].strip()
    summaries = rt.load(root / "docs" / "results")
    assert len(summaries) >= 2
    assert block == rt.table(summaries), "README table out of date: python -m training.results_table --readme"
    if rt.ABLATION_BEGIN in readme:  # the front page carries the headline table; the site renders both
        ablations = readme.split(rt.ABLATION_BEGIN)[1].split(rt.ABLATION_END)[0].strip()
        assert ablations == rt.ablation_table(summaries), "README out of date: python -m training.results_table --readme"
    for s in summaries:  # every summary holds its page's per-seed accuracies
        page = (root / "docs" / "results" / f"{s.get('page', s['recipe'])}.md").read_text()
        for arm in s["arms"]:
            seeds = ", ".join(f"{a:.1f}" for a in arm["accuracy"])
            assert f"| {arm['label']} | {arm['epochs']} |" in page and f"| {seeds} |" in page, arm["label"]


# --- JapaneseVowels, on the files shipped in sktime's wheel ----------------------------------


def _raw_ts(split):
    """The .ts file parsed by hand: [(array [C, L], label)] for every recording."""
    import pathlib

    import sktime

    path = pathlib.Path(sktime.__file__).parent / "datasets" / "data" / "JapaneseVowels" / f"JapaneseVowels_{split}.ts"
    lines = path.read_text().splitlines()
    rows = lines[[l.strip().lower() for l in lines].index("@data") + 1:]
    out = []
    for line in filter(None, (l.strip() for l in rows)):
        *channels, label = line.split(":")
        out.append((np.array([[float(v) for v in c.split(",")] for c in channels]), label))
    return out


@once
def test_japanese_vowels_loader_on_the_shipped_files():
    from keras_trt.data import embedded, load_japanese_vowels

    raw_train, raw_test = _raw_ts("TRAIN"), _raw_ts("TEST")
    (x_train, y_train), (x_test, y_test), names = load_japanese_vowels(length=20)
    assert x_train.shape == (270, 20, 12) and x_test.shape == (370, 20, 12)
    assert names == [str(i) for i in range(1, 10)]
    assert np.bincount(y_train).tolist() == [30] * 9
    assert np.bincount(y_test).tolist() == np.bincount([int(l) - 1 for _, l in raw_test]).tolist()
    assert [names[i] for i in y_train] == [l for _, l in raw_train]
    np.testing.assert_allclose(x_train.mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=(0, 1)), 1, atol=1e-4)
    # Recording 0 has 20 frames, so resampling to 20 keeps its frames: every channel is then the
    # raw series up to the standardisation, in the same time order.
    series = raw_train[0][0]
    assert series.shape == (12, 20)
    for c in range(12):
        slope, intercept = np.polyfit(series[c], x_train[0, :, c], 1)
        assert slope > 0
        np.testing.assert_allclose(slope * series[c] + intercept, x_train[0, :, c], atol=1e-4)
    # Other lengths: linear interpolation over the recording's own span.
    resampled = embedded._resample(np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 0.0]]), 5)
    np.testing.assert_allclose(resampled, [[0, 4], [0.5, 3], [1, 2], [1.5, 1], [2, 0]])
    with pytest.raises(ValueError, match="length"):
        load_japanese_vowels(length=1)


@once  # the CLI's wiring; the probes themselves are tested on every backend above
def test_evaluate_reports_perturbations_of_a_zoo_model(capsys):
    from keras_trt import zoo
    from keras_trt.data import load_basic_motions
    from training import evaluate

    measured = evaluate.main(["smlp-basicmotions-t20", "basic_motions", "--perturb"])
    report = measured["perturbations"]
    assert "time-reversed" in capsys.readouterr().out
    _, (x, y), _ = load_basic_motions()
    x = x.reshape(len(x), 20, 5, 6).mean(axis=2)  # the recipe's 20 steps
    model = zoo.load("smlp-basicmotions-t20")
    assert report["accuracy"] == pytest.approx(measured["accuracy"])
    assert report["reversed"] == pytest.approx(np.mean(np.argmax(model.predict(x[:, ::-1], verbose=0), -1) == y))


@once
def test_plots_draw_every_arm_of_a_page_with_many_arms(tmp_path, monkeypatch):
    """The cheap PointNet page has 13 arms, more than matplotlib's 10 cycle colours: every arm is
    in both plots' legends (each arm's mean over the seeds), in colours of its own."""
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.use("Agg")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs/results/runs/spointnet-mnistpoints-t2/comparison-cheap.json")) as f:
        result = json.load(f)
    labels = [a["label"] for a in result["arms"]]
    assert len(labels) > 10  # more than the colour cycle holds: the case under test
    saved = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (saved.append(fig), real(fig, *a, **k))[1])
    compare.plot(result, tmp_path / "curves.png", tmp_path / "compute.png")
    axes = [ax for fig in saved for ax in fig.axes]
    assert len(axes) == 3
    for ax in axes:
        handles, names = ax.get_legend_handles_labels()
        assert names == labels
        assert len({h.get_color() for h in handles}) == len(labels)
        assert all(h.get_linewidth() == 2 for h in handles)  # the means, drawn bold
