"""TRT against the plain SNN on one recipe, paired by seed: ``python -m training.compare <recipe>``.

    python -m training.compare smlp-basicmotions-t20 --seeds 5 --results-dir docs/results
    python -m training.compare sresnet20-mnist-t2 --seeds 5 --ablation --reverse-at input stage1 stage2
    python -m training.compare sresnet20-mnist-t2 --seeds 5 --jobs 2   # arms in 2 processes

For every seed ``0..N-1`` it trains these arms (with ``training.train``, so each arm of a seed
starts from the same initial weights and sees the same batches in the same order):

* ``trt``: the recipe as written (TRT, reversal where the recipe's builder puts it);
* ``plain``: the plain SNN for the same number of epochs (equal epochs, as the paper compares);
* ``plain-flops``: the plain SNN for as many epochs as give it the TRT arm's training FLOPs
  (``benchmarks.keras_net.conv_flops``: forward and backward multiply-adds of the convolution and
  Dense layers, the layers after the reversal counted twice under TRT and the classifier three
  times), i.e. ``round(epochs * flops_trt / flops_plain)``;
* with ``--wall-clock``, ``plain-seconds``: the plain SNN for as many epochs as TRT's measured
  seconds of the same seed buy it (noisy on a shared machine);
* with ``--ablation``: ``rev-cons`` (reversal and consistency, ``star_weight=0``) and ``star``
  (star product only: ``reversal_weight=0``, ``consistency_weight=0``);
* with ``--reverse-at P ...``: full TRT with the reversal at point ``P`` of the builder;
* with ``--cheap [VARIANT ...]``: cheaper TRT variants (``training.cheap_arms``: a reversed branch
  for a fraction of each batch, TRT in the last or first epochs only, every K-th batch, a later
  reversal point), each with the plain SNN trained for the variant's own training FLOPs.

With ablation or reversal-point arms the page is ``<recipe>-ablation.md``, its own page (it may
run fewer seeds), and each of those arms is compared with the plain SNN and with full TRT. With
``--cheap`` it is ``<recipe>-cheap.md``, where every variant is also compared with its
compute-matched plain SNN.

Each trained model is then probed in inference mode (``training.probes``: accuracy on time-reversed
sequences and with one step dropped or duplicated, original/reversed consistency, firing rate).
The page ``<results-dir>/<page>.md`` (``<page>``: ``<recipe>`` or ``<recipe>-ablation``) reports each
arm's mean ± std, the paired differences with their 95 % t intervals and paired t-test p-values,
the probes, the learning curves (``<page>.png``) and held-out accuracy against training FLOPs and
seconds (``<page>-compute.png``); ``<page>.json`` holds its numbers for ``training.results_table``,
which regenerates the README's tables. Finished runs are reused and interrupted ones resume, so
the same command continues an interrupted comparison or adds seeds. ``--jobs N`` trains the
unfinished arms of every seed in N processes at once, one arm of one seed per process, each pinned
to its share of the cores (``training.seed_jobs``), then writes the page from their runs;
``--only-seeds`` and ``--only-arms`` train a part (a campaign over several sittings or machines)
and write no page. A run folder being trained is locked
(``training.run_lock``): a second process on it stops with a message instead of training it twice.
"""

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from training import (cheap_arms, nonnegative_int, positive_int, results_table, run_lock, seed_jobs,
                      stats, use_backend, write_json)


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm: ``trt`` holds TRTConfig fields (None: the plain SNN); ``build`` overrides the
    recipe's builder arguments; ``epochs`` is ``"recipe"``, ``"flops"`` or ``"seconds"``."""

    key: str
    label: str
    trt: dict | None
    build: dict = dataclasses.field(default_factory=dict)
    epochs: str = "recipe"


def page_stem(recipe_name, arm_keys):
    """``<recipe>`` for the comparison, ``<recipe>-ablation`` when other arms are in: an ablation
    never overwrites the comparison's page (it may run fewer seeds)."""
    if any(cheap_arms.is_cheap(k) for k in arm_keys):
        return f"{recipe_name}-cheap"
    return f"{recipe_name}-ablation" if results_table.has_ablation_arms(arm_keys) else recipe_name


def arms_for(recipe, ablation=False, reverse_at=(), wall_clock=False, cheap=(), epochs=None):
    """The arms to train for ``recipe`` (see the module docstring)."""
    full = dict(recipe.trt or {})
    arms = [Arm("trt", "TRT", full), Arm("plain", "plain SNN", None),
            Arm("plain-flops", "plain SNN, TRT's training FLOPs", None, epochs="flops")]
    if wall_clock:
        arms.append(Arm("plain-seconds", "plain SNN, TRT's seconds", None, epochs="seconds"))
    if ablation:
        arms += [Arm("rev-cons", "TRT without star (star_weight=0)", dict(full, star_weight=0.0)),
                 Arm("star", "star only (reversal_weight=0, consistency_weight=0)",
                     dict(full, reversal_weight=0.0, consistency_weight=0.0))]
    for point in reverse_at:
        arms.append(Arm(f"trt-at-{point}", f"TRT, reversal at {point}", full, dict(reverse_at=point)))
    if cheap:
        arms += cheap_arms.variant_arms(cheap, full, epochs or recipe.epochs)
    return arms


def compute_matched_epochs(epochs, flops_trt, flops_plain):
    """Epochs of the plain SNN that cost what ``epochs`` TRT epochs cost (rounded, at least 1)."""
    if flops_plain <= 0 or flops_trt <= 0:
        raise ValueError(f"training FLOPs must be positive, got {flops_trt} and {flops_plain}.")
    return max(1, int(round(epochs * flops_trt / flops_plain)))


def training_flops(recipe, data, build=None, trt=True, epochs=None, per_epoch=False):
    """Training FLOPs per image and epoch (forward + backward) of the recipe's model, with
    ``build`` overrides; ``trt``: True (full TRT), False (plain) or a dict of TRTConfig fields
    (``keras_trt.analysis.training_flops``; a schedule averages its TRT and plain steps over
    ``epochs``). ``per_epoch``: the list of each epoch's FLOPs instead."""
    import keras_trt
    from keras_trt.analysis import training_cost
    from training.train import _steps

    model = keras_trt.models.build(
        recipe.architecture, num_classes=data.num_classes, timesteps=recipe.timesteps,
        input_shape=tuple(data.input_shape), **dict(recipe.build, **(build or {})),
    )
    config = keras_trt.TRTConfig(**(recipe.trt or {})) if trt is True else (
        keras_trt.TRTConfig(**trt) if isinstance(trt, dict) else None)
    epochs = epochs or recipe.epochs
    steps = _steps(data.train)
    if not per_epoch:
        return float(training_cost.training_flops(model, config, epochs=epochs, steps_per_epoch=steps,
                                                  batch_size=recipe.batch_size))
    plain = training_cost.step_flops(model, None)
    step = training_cost.step_flops(model, config, recipe.batch_size) if config else plain
    share = [sum(config.is_trt_step(e, b) for b in range(steps)) / steps if config else 0.0
             for e in range(epochs)]
    return [plain + s * (step - plain) for s in share]


def _train_size(data, batch_size):
    if hasattr(data.train, "x"):
        return len(data.train.x)
    from training.train import _steps

    return _steps(data.train) * batch_size  # tf.data: whole batches (the last may be smaller)


def _log(folder):
    with open(Path(folder) / "log.csv") as f:
        rows = list(csv.DictReader(f))
    return ([float(r["val_accuracy"]) for r in rows],
            [float(r["epoch_seconds"]) for r in rows if r.get("epoch_seconds")])


def arm_cost(arm):
    """A rough relative cost of training ``arm`` (to order the ``--jobs`` queue, nothing else): a
    TRT step runs its network on about twice the batch, the compute-matched plain arm about twice
    the epochs."""
    return (2 if arm.trt is not None else 1) * (2 if arm.epochs in ("flops", "seconds") else 1)


def arms_together(arms):
    """Arms that must train in one process: ``plain-seconds`` is sized from its seed's ``trt`` and
    ``plain`` runs, and a cheap variant's compute-matched plain arm may turn out to be the ``plain``
    or ``plain-flops`` run, or another variant's match (two processes on one folder)."""
    keys = [a.key for a in arms]
    groups = [{"trt", "plain", "plain-seconds"}] if "plain-seconds" in keys else []
    matches = {a.key for a in arms if a.epochs.startswith(cheap_arms.MATCH)}
    return groups + ([matches | {"plain", "plain-flops"}] if matches else [])


def _finished(folder, probe):
    """Whether the run in ``folder`` has its result (and probes): the ``--jobs`` queue skips it. The
    child that would train it decides for itself too (an epoch count that changed retrains)."""
    return (folder / "result.json").exists() and (not probe or (folder / "probe.json").exists())


#: Which plain run each cheap variant's compute-matched arm resolved to, kept beside the runs so
#: that the ``--jobs`` queue of a later call knows it without building the models.
MATCHES_FILE = "cheap-matches.json"


def _record_matches(output, epochs, matches):
    if not matches or _recorded_matches(output, epochs) == matches:
        return
    path = Path(output) / MATCHES_FILE
    data = {"epochs": epochs, "matches": matches}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # children may write it at once
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _recorded_matches(output, epochs):
    """``{variant key: plain arm key}`` recorded for runs of ``epochs`` epochs, else None."""
    try:
        data = json.loads((Path(output) / MATCHES_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data.get("matches") if data.get("epochs") == epochs else None


def _arm_finished(output, seed, key, probe, matches):
    """:func:`_finished` for an arm key of the queue; a cheap variant's compute-matched arm
    (``plain-for-<variant>``) counts as finished when the plain run it resolved to (``matches``,
    from :func:`_recorded_matches`) is."""
    if key.startswith(cheap_arms.MATCHED):
        resolved = (matches or {}).get(key[len(cheap_arms.MATCHED):])
        return resolved is not None and _finished(Path(output) / f"{resolved}-seed{seed}", probe)
    return _finished(Path(output) / f"{key}-seed{seed}", probe)


#: Recipe fields that do not change what an arm trains (its words, the recipe's own default
#: variant, where it runs): a run folder recorded under other values is still the same run.
NOT_DEFINING = ("description", "cheap", "runs_here")


def _defining(recipe_fields):
    return {k: v for k, v in recipe_fields.items() if k not in NOT_DEFINING}


def _defining_spec(spec):
    return dict(spec, recipe=_defining(spec.get("recipe", {})))


def _run_arm(recipe, arm, seed, epochs, folder, data_dir, verbose):
    from training.train import train

    # An arm says what it trains: the recipe's own cheaper default (``cheap``) does not apply.
    variant = recipe.replace(trt=arm.trt if arm.trt is not None else recipe.trt,
                             build=dict(recipe.build, **arm.build), cheap=None)
    # Everything that defines the run (JSON-normalised: tuples become lists).
    spec = json.loads(json.dumps(dict(dataclasses.asdict(arm), seed=seed, epochs=epochs,
                                      recipe=_defining(dataclasses.asdict(variant)))))
    folder.mkdir(parents=True, exist_ok=True)
    with run_lock.locked(folder):  # another process training this folder: stop, do not share it
        spec_path = folder / "arm.json"
        if spec_path.exists() and _defining_spec(json.loads(spec_path.read_text())) != spec:
            raise SystemExit(
                f"{folder} holds a run of another arm or recipe setting; use another --output or "
                "delete that folder."
            )
        write_json(spec_path, spec)
        done = folder / "result.json"
        if done.exists() and json.loads(done.read_text()).get("epochs") == epochs:
            return json.loads(done.read_text())
        return train(variant, output=folder, epochs=epochs, seed=seed, trt=arm.trt is not None,
                     data_dir=data_dir, verbose=verbose, save_preset=False)


def _probe(folder, test, batch_size, recipe=None, data=None, event_inputs=None):
    """The probes of the run in ``folder``; with ``recipe`` (and its ``data``) its weights are put
    in the recipe's own model first, so it is perturbed at the recipe's reversal point.
    ``event_inputs``: event recipes' held-out streams perturbed before framing."""
    path = folder / "probe.json"
    if path.exists():
        return json.loads(path.read_text())
    import keras

    from training.probes import robustness

    model = keras.saving.load_model(folder / "checkpoint" / "model.keras")
    if recipe is not None:
        model = _in_recipe_model(model, recipe, data)
    probe = robustness(model, *test, batch_size=batch_size, inputs=event_inputs)
    write_json(path, probe)
    return probe


def _in_recipe_model(model, recipe, data):
    """The recipe's model (its reversal point) holding ``model``'s weights, layer by layer: the
    two differ only in where the TemporalReversal, an identity at inference, sits."""
    import keras_trt

    target = keras_trt.models.build(
        recipe.architecture, num_classes=data.num_classes, timesteps=recipe.timesteps,
        input_shape=tuple(data.input_shape), **recipe.build,
    )
    # In build order (the builders make the same layers in the same order whatever reverse_at).
    mine, theirs = ([l for l in m.layers if l.weights] for m in (target, model))
    if [l.name for l in mine] != [l.name for l in theirs]:
        raise ValueError(f"{model.name} and the recipe's model differ in their layers; cannot "
                         "probe it at the recipe's reversal point.")
    for layer, source in zip(mine, theirs):
        layer.set_weights(source.get_weights())
    return target


def run(recipe, seeds, output, arms, epochs=None, data_dir=None, verbose=0, probe=True, only_arms=None):
    """Trains (or reuses) every arm (or those keyed in ``only_arms``) for seeds ``0..seeds-1`` (or
    the seeds in the iterable ``seeds``); returns the comparison dict."""
    import keras

    from training import datasets

    epochs = epochs or recipe.epochs
    data = datasets.load(recipe.dataset, batch_size=recipe.batch_size, seed=0, augment=False,
                         timesteps=recipe.timesteps, data_dir=data_dir, **recipe.dataset_kwargs)
    test = data.test_arrays()
    event_inputs = None  # event recipes: the held-out streams perturbed before framing
    if probe and getattr(data, "test_events", None) is not None:
        from training.probes import event_variants

        event_inputs = event_variants(data.test_events)
    n_train = _train_size(data, recipe.batch_size)
    flops_plain = training_flops(recipe, data, trt=False)
    flops_epochs = compute_matched_epochs(epochs, training_flops(recipe, data, trt=True), flops_plain)
    # The cheap variants' compute-matched plain arms, resolved to a plain run of that many epochs
    # (shared between variants that round to the same epochs).
    matches, arms, asked_as = _resolve_matches(recipe, data, arms, epochs, flops_epochs, flops_plain)
    _record_matches(output, epochs, matches)
    if only_arms is not None:
        arms = [arm for arm in arms if arm.key in only_arms or asked_as.get(arm.key, set()) & set(only_arms)]
    flops = {arm.key: training_flops(recipe, data, arm.build, trt=_flops_trt(arm), epochs=epochs)
             for arm in arms}
    runs = {arm.key: [] for arm in arms}
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for seed in seeds:
        by_key = {}
        for arm in arms:
            if arm.epochs == "recipe":
                n = epochs
            elif arm.epochs == "flops":
                n = flops_epochs
            elif arm.epochs.startswith("e="):
                n = int(arm.epochs[2:])
            elif arm.epochs == "seconds":
                if not {"trt", "plain"} <= by_key.keys():
                    raise ValueError("the plain-seconds arm needs the trt and plain arms of its seed")
                ratio = np.median(by_key["trt"]["epoch_seconds"]) / np.median(by_key["plain"]["epoch_seconds"])
                n = max(1, int(round(epochs * ratio)))
            else:
                raise ValueError(f"unknown epochs rule {arm.epochs!r} of arm {arm.key}")
            folder = Path(output) / f"{arm.key}-seed{seed}"
            print(f"[compare] {recipe.name} seed {seed}: {arm.key} ({n} epochs)", flush=True)
            result = _run_arm(recipe, arm, seed, n, folder, data_dir, verbose)
            curve, seconds = _log(folder)
            result = dict(result, curve=curve, epoch_seconds=seconds)
            if probe:
                moved = cheap_arms.is_cheap(arm.key) and "reverse_at" in arm.build
                result["probe"] = _probe(folder, test, max(256, recipe.batch_size),
                                         *((recipe, data) if moved else (None, None)),
                                         event_inputs=event_inputs)
            by_key[arm.key] = result
            runs[arm.key].append(result)
    trained_on = {r.get("backend") for rs in runs.values() for r in rs} - {None}
    out = dict(recipe=recipe.name, epochs=epochs, seeds=len(seeds),
               backend=", ".join(sorted(trained_on)) or keras.backend.backend(),
               dataset=data.name, n_train=n_train, n_test=int(len(test[1])),
               arms=[dataclasses.asdict(a) for a in arms], flops_per_image=flops,
               flops_matched_epochs=flops_epochs, runs=runs)
    if matches:
        out["flops_matches"] = matches
        out["flops_per_epoch"] = {a.key: training_flops(recipe, data, a.build, _flops_trt(a), epochs, True)
                                  for a in arms if a.trt and keras_trt_scheduled(a.trt)}
    return out


def _flops_trt(arm):
    """What ``training_flops`` takes for ``arm``: False (plain), or its TRTConfig fields."""
    return False if arm.trt is None else dict(arm.trt)


def keras_trt_scheduled(trt):
    return any(trt.get(k) not in (None, d) for k, d in (("start_epoch", 0), ("stop_epoch", None),
                                                         ("every_steps", 1)))


def _resolve_matches(recipe, data, arms, epochs, flops_epochs, flops_plain):
    """``(variant key -> plain arm key, arms, plain arm key -> the match keys it stands for)``: each
    ``match:<variant>`` arm becomes the plain arm of the variant's compute-matched epochs
    (``cheap_arms.matched_arm``), once per epoch count."""
    matches, out, keys, asked_as = {}, [], {a.key for a in arms}, {}
    for arm in arms:
        if not arm.epochs.startswith(cheap_arms.MATCH):
            out.append(arm)
            continue
        variant = next(a for a in arms if a.key == arm.epochs[len(cheap_arms.MATCH):])
        f = training_flops(recipe, data, variant.build, trt=_flops_trt(variant), epochs=epochs)
        n = compute_matched_epochs(epochs, f, flops_plain)
        key, label = cheap_arms.matched_arm(n, epochs, flops_epochs)
        matches[variant.key] = key
        asked_as.setdefault(key, set()).add(arm.key)
        if key not in keys:
            keys.add(key)
            out.append(Arm(key, label, None, epochs="recipe" if key == "plain" else
                           "flops" if key == "plain-flops" else f"e={n}"))
    return matches, out, asked_as


#: Probe results compared between arms on the page (all fractions, shown in points).
PROBE_DIFFERENCES = (("reversed", "reversed"), ("dropped", "one step dropped"),
                     ("duplicated", "one step duplicated"), ("agreement", "agreement"))


def comparisons(result, probe_key=None):
    """Paired statistics: TRT against each plain arm, every other arm against the plain SNN and
    against full TRT; of the held-out accuracy, or of the probe result ``probe_key`` (in points)."""
    runs = result["runs"]

    def values(key):
        return [100 * (r["test"]["accuracy"] if probe_key is None else r["probe"][probe_key])
                for r in runs[key]]

    labels = {a["key"]: a["label"] for a in result["arms"]}
    pairs = [("trt", "plain", "equal epochs")]
    pairs += [("trt", k, "equal training FLOPs" if k == "plain-flops" else "equal wall-clock")
              for k in ("plain-flops", "plain-seconds") if k in runs]
    matches = result.get("flops_matches", {})
    for k in runs:
        if k not in results_table.BASE_ARMS and not k.startswith("plain-e"):
            pairs += [(k, "plain", "equal epochs"), (k, "trt", "equal epochs")]
            if k in matches and matches[k] != "plain":
                pairs.append((k, matches[k], "equal training FLOPs"))
    out = []
    for a, b, basis in pairs:
        s = stats.paired(values(a), values(b))
        out.append(dict(s, a=a, b=b, a_label=labels[a], b_label=labels[b], basis=basis,
                        verdict=stats.verdict(s, labels[a], labels[b])))
    return out


def page(recipe, result, command, image_names):
    """The results page (Markdown) of ``result``, which holds its ``comparisons``."""
    runs, arms = result["runs"], result["arms"]
    first = runs["trt"][0]
    title = ("cheaper TRT variants" if any(cheap_arms.is_cheap(k) for k in runs) else
             "ablation of TRT" if results_table.has_ablation_arms(runs) else "TRT against the plain SNN")
    lines = [
        f"# {recipe.name}: {title}",
        "",
        f"{recipe.description} Data: {result['dataset']} ({result['n_train']} training / "
        f"{result['n_test']} held-out samples), T={recipe.timesteps}, batch {first['batch_size']}, "
        f"{recipe.optimizer} {recipe.learning_rate:g} with {recipe.schedule} schedule, backend "
        f"{result['backend']}, seeds 0-{result['seeds'] - 1}. Every arm of a seed starts from the "
        "same initial weights and sees the same batches; the reported model is the last epoch's "
        "(the held-out set is scored every epoch for the curves, never used to select).",
        "",
        f"Reproduce: `{command}` (finished runs are reused).",
        "",
        "## Held-out accuracy per arm",
        "",
        "| arm | epochs | training MFLOPs / image / epoch | accuracy (%) mean ± std | per seed | s / epoch (median) |",
        "|---|---|---|---|---|---|",
    ]
    for arm in arms:
        rs = runs[arm["key"]]
        acc = [100 * r["test"]["accuracy"] for r in rs]
        secs = [np.median(r["epoch_seconds"]) for r in rs if r["epoch_seconds"]]
        secs = f"{np.mean(secs):.2f}" if secs else "n/a"
        lines.append(
            f"| {arm['label']} | {rs[0]['epochs']} | {result['flops_per_image'][arm['key']] / 1e6:.3g} | "
            f"{stats.mean_std(acc)} | {', '.join(f'{a:.1f}' for a in acc)} | {secs} |"
        )
    lines += [
        "",
        "Training FLOPs count the forward and backward multiply-adds of the convolution and Dense "
        "layers (`benchmarks.keras_net.conv_flops`). Seconds depend on the machine and its load "
        "at the time (these runs shared their CPU with other jobs); the FLOPs are exact.",
        "",
        f"## Paired differences (first minus second arm, {stats.TEST_NAME}, 95 % t interval)",
        "",
        "| comparison | basis | difference (points) | 95 % CI | p | seeds won / tied / lost | reading |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result["comparisons"]:
        lines.append(
            f"| {c['a_label']} − {c['b_label']} | {c['basis']} | {c['mean_diff']:+.2f} | "
            f"{c['ci_low']:+.2f} to {c['ci_high']:+.2f} | {stats.format_p(c['p'])} | "
            f"{c['wins']} / {c['ties']} / {c['losses']} | {c['verdict']} |"
        )
    if "probe" in first:
        at = first["probe"]["perturbed_at"]
        lines += [
            "",
            "## Temporal perturbations, consistency and firing rate (inference, mean ± std over seeds)",
            "",
            f"Perturbed at the {'input sequence' if at == 'input' else 'reversal point (the spike trains entering the TemporalReversal layer)'}: "
            "*reversed* plays the sequence backwards; *one step dropped* removes step t (later "
            "steps arrive one earlier, the last is empty), *one step duplicated* repeats step t "
            "(later steps arrive one later, the last falls off), averaged over every t. KL is "
            "the mean KL(softmax(O) ‖ softmax(O_rev)) in nats between the outputs on the original "
            "and the reversed sequence, agreement the fraction of equal argmax; the firing rate "
            "counts the spikes of all LIF layers per neuron and step.",
            "",
        ]
        if any(a["build"].get("reverse_at") for a in arms if cheap_arms.is_cheap(a["key"])):
            lines += ["Cheap variants with another reversal point are perturbed at the recipe's "
                      "reversal point (their weights in the recipe's model, which differs only in "
                      "where the identity-at-inference TemporalReversal sits), so their columns "
                      "compare with the other arms'.", ""]
        if any(a["build"].get("reverse_at") for a in arms if not cheap_arms.is_cheap(a["key"])):
            lines += ["Arms with another reversal point are perturbed at *their* reversal point (at "
                      "the input of a static image every perturbation but dropping a step is a "
                      "no-op): their perturbation, KL and agreement columns are not comparable with "
                      "the other arms'; accuracy and firing rate are.", ""]
        lines += [
            "| arm | accuracy (%) | reversed (%) | one step dropped (%) | one step duplicated (%) | KL (nats) | agreement (%) | firing rate |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for arm in arms:
            ps = [r["probe"] for r in runs[arm["key"]]]

            def col(k, scale=100.0, digits=1):
                return stats.mean_std([p[k] for p in ps], scale, digits)

            lines.append(
                f"| {arm['label']} | {col('accuracy')} | {col('reversed')} | {col('dropped')} | "
                f"{col('duplicated')} | {col('kl', 1.0, 3)} | {col('agreement')} | "
                f"{col('firing_rate', 1.0, 3)} |"
            )
        by_key = {k: comparisons(result, k) for k, _ in PROBE_DIFFERENCES}
        lines += [
            "",
            "Paired differences of the probes (points, first minus second arm, 95 % t interval, p):",
            "",
            "| comparison | " + " | ".join(name for _, name in PROBE_DIFFERENCES) + " |",
            "|---|" + "---|" * len(PROBE_DIFFERENCES),
        ]
        for i, c in enumerate(by_key[PROBE_DIFFERENCES[0][0]]):
            cells = []
            for k, _ in PROBE_DIFFERENCES:
                d = by_key[k][i]
                ci = "n/a" if math.isnan(d["ci_low"]) else f"{d['ci_low']:+.1f} to {d['ci_high']:+.1f}"
                cells.append(f"{d['mean_diff']:+.1f} ({ci}), p = {stats.format_p(d['p'])}")
            lines.append(f"| {c['a_label']} − {c['b_label']} | " + " | ".join(cells) + " |")
    if "probe" in first and "events" in first["probe"]:
        lines += event_probe_section(result)
    lines += ["", f"![learning curves]({image_names[0]})", "",
              f"![held-out accuracy against training compute]({image_names[1]})", ""]
    return "\n".join(lines)


def event_probe_section(result):
    """The page's lines on the event-level perturbations (``training.probes.event_variants``)."""
    from training.probes import EVENT_PERTURBATIONS, NOISE_FRACTION

    runs, arms = result["runs"], result["arms"]
    lines = [
        "",
        "## Event-level perturbations (inference, accuracy %, mean ± std over seeds)",
        "",
        "The held-out event streams are perturbed before they are integrated into frames: played "
        "backwards (time mirrored over the window, ON and OFF swapped: what the sensor would record "
        "of the reversed motion), re-timed by 0.5 (twice the speed: the motion fills the first half "
        "of the frames) and by 2 (half the speed: the second half of the motion falls past the "
        f"window), and with {100 * NOISE_FRACTION:.0f} % more events added as uniform noise.",
        "",
        "| arm | original | " + " | ".join(label for _, label in EVENT_PERTURBATIONS) + " |",
        "|---|---|" + "---|" * len(EVENT_PERTURBATIONS),
    ]
    for arm in arms:
        ps = [r["probe"] for r in runs[arm["key"]]]
        cells = [stats.mean_std([p["accuracy"] for p in ps], 100.0, 1)]
        cells += [stats.mean_std([p["events"][k] for p in ps], 100.0, 1) for k, _ in EVENT_PERTURBATIONS]
        lines.append(f"| {arm['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences (points, first minus second arm, 95 % t interval, p):", "",
              "| comparison | " + " | ".join(label for _, label in EVENT_PERTURBATIONS) + " |",
              "|---|" + "---|" * len(EVENT_PERTURBATIONS)]
    labels = {a["key"]: a["label"] for a in arms}
    for a, b in (("trt", k) for k in ("plain", "plain-flops") if k in runs):
        cells = []
        for k, _ in EVENT_PERTURBATIONS:
            d = stats.paired([100 * r["probe"]["events"][k] for r in runs[a]],
                             [100 * r["probe"]["events"][k] for r in runs[b]])
            ci = "n/a" if math.isnan(d["ci_low"]) else f"{d['ci_low']:+.1f} to {d['ci_high']:+.1f}"
            cells.append(f"{d['mean_diff']:+.1f} ({ci}), p = {stats.format_p(d['p'])}")
        lines.append(f"| {labels[a]} − {labels[b]} | " + " | ".join(cells) + " |")
    return lines


def _curves_by_arm(result):
    for arm in result["arms"]:
        yield arm, result["runs"][arm["key"]]


#: An epoch over this many times the median epoch was a paused or suspended process, not compute.
PAUSED_EPOCH = 4.0


def steady_seconds(seconds):
    """Epoch durations as compute: the first (which includes tracing and compiling the step) and any
    over ``PAUSED_EPOCH`` times the median (the process stopped meanwhile) replaced by the median
    of the others."""
    seconds = [float(s) for s in seconds]
    if len(seconds) < 2:
        return seconds
    median = float(np.median(seconds[1:]))
    return [median if i == 0 or s > PAUSED_EPOCH * median else s for i, s in enumerate(seconds)]


def _accuracy_floor(result, below=15.0):
    """The y axis starts this far below the worst final accuracy: the early epochs are cut, the
    differences of a point or two at the end stay visible."""
    final = [100 * r["curve"][-1] for rs in result["runs"].values() for r in rs if r["curve"]]
    return max(0.0, min(final) - below) if final else 0.0


#: Above this many arms a plot draws each arm's mean over the seeds, its seeds faint behind it.
MEAN_ABOVE_ARMS = 4


def _draw(ax, curves, color, label, mean):
    """``curves``: ``(x, y)`` per seed; all of them, or (``mean``) their mean bold and them faint."""
    for i, (x, y) in enumerate(curves):
        ax.plot(x, y, color=color, alpha=0.15 if mean else 0.6, lw=1, label=None if mean or i else label)
    same = curves and all(len(y) == len(curves[0][1]) for _, y in curves)
    if mean and same:
        ax.plot(np.mean([x for x, _ in curves], axis=0), np.mean([y for _, y in curves], axis=0),
                color=color, lw=2, label=label)


def plot(result, curves_path, compute_path):
    """Learning curves (accuracy per epoch) and accuracy against training FLOPs and seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(_curves_by_arm(result))
    mean = len(arms) > MEAN_ABOVE_ARMS
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = cycle if len(arms) <= len(cycle) else list(plt.get_cmap("tab20").colors)
    which = "mean over seeds (bold) and every seed" if mean else "every seed"
    legend_size = 8 if len(arms) <= 6 else 6.5
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (arm, rs) in enumerate(arms):
        curves = [(np.arange(1, len(r["curve"]) + 1), 100 * np.array(r["curve"])) for r in rs]
        _draw(ax, curves, colors[i % len(colors)], arm["label"], mean)
    ax.set(xlabel="epoch", ylabel="held-out accuracy (%)", title=f"{result['recipe']}: every arm, {which}",
           ylim=(_accuracy_floor(result), 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(curves_path, dpi=110)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for i, (arm, rs) in enumerate(arms):
        color = colors[i % len(colors)]
        per_epoch = result["flops_per_image"][arm["key"]] * result["n_train"]
        schedule = result.get("flops_per_epoch", {}).get(arm["key"])  # TRT and plain epochs mixed
        by_flops, by_seconds = [], []
        for r in rs:
            y = 100 * np.array(r["curve"])
            x = (np.cumsum(schedule[: len(y)]) * result["n_train"] if schedule and len(schedule) >= len(y)
                 else per_epoch * np.arange(1, len(y) + 1))
            by_flops.append((x / 1e12, y))
            if len(r["epoch_seconds"]) == len(y):
                by_seconds.append((np.cumsum(steady_seconds(r["epoch_seconds"])), y))
        _draw(a1, by_flops, color, arm["label"], mean)
        _draw(a2, by_seconds, color, arm["label"], mean)
    a1.set(xlabel="training TFLOPs (forward + backward, conv/Dense)", ylabel="held-out accuracy (%)",
           ylim=(_accuracy_floor(result), 100))
    a2.set(xlabel=f"training seconds ({result['backend']}, CPU; compiling and pauses left out)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=legend_size)
    fig.suptitle(f"{result['recipe']}: held-out accuracy against training compute, {which}")
    fig.tight_layout()
    fig.savefig(compute_path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=positive_int, default=5, help="paired seeds 0..N-1 (default 5)")
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's epochs (TRT and equal-epoch arms)")
    parser.add_argument("--ablation", action="store_true", help="add the star_weight=0 and star-only arms")
    parser.add_argument("--reverse-at", nargs="*", default=(), metavar="POINT",
                        help="add full-TRT arms with the reversal at these builder points")
    parser.add_argument("--wall-clock", action="store_true", help="add the plain arm at TRT's seconds")
    parser.add_argument("--cheap", nargs="*", default=None, metavar="VARIANT",
                        help="add cheaper-TRT arms (training.cheap_arms: frac=F, at=P, last=F, "
                        "first=F, every=K, weight=W, comma-combined), each with its FLOP-matched plain arm; "
                        f"alone: {' '.join(cheap_arms.DEFAULT_VARIANTS)}")
    parser.add_argument("--no-probe", action="store_true", help="skip the perturbation/firing-rate probes")
    parser.add_argument("--only-seeds", type=nonnegative_int, nargs="+", metavar="S",
                        help="train just these seeds and write no page (a campaign in parts, or "
                        "seeds on several machines; a final call without it reuses them and writes "
                        "the page)")
    parser.add_argument("--only-arms", nargs="+", metavar="ARM",
                        help="train just these arms (keys as in the run folders <key>-seed<N>: trt, "
                        "plain, plain-flops, rev-cons, star, trt-at-<point>, ...) and write no page")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="train the unfinished arms in this many parallel processes, one arm of "
                        "one seed each, each on its share of the CPU cores (default 1; on small "
                        "models 2 single-threaded processes beat one 2-thread process)")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--data-dir")
    parser.add_argument("--output", help="run folders (default runs/compare/<recipe>)")
    parser.add_argument("--results-dir", default="docs/results", help="where the page and plots go")
    parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1 (use 5 or more for intervals that can tell).")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1.")
    from training import recipe as recipes

    recipe = recipes.get(args.recipe)  # an unknown name fails here, before any child starts
    cheap = None if args.cheap is None else (args.cheap or cheap_arms.DEFAULT_VARIANTS)
    try:
        arms = arms_for(recipe, args.ablation, args.reverse_at, args.wall_clock, cheap or (),
                        args.epochs or recipe.epochs)
    except ValueError as err:
        parser.error(str(err))
    if args.only_arms:
        keys = [a.key for a in arms]
        unknown = sorted(set(args.only_arms) - set(keys))
        if unknown:
            parser.error(f"--only-arms: no arm {', '.join(unknown)} in this comparison; its arms are "
                         f"{', '.join(keys)} (--ablation, --reverse-at and --wall-clock add arms).")
        if "plain-seconds" in args.only_arms and not {"trt", "plain"} <= set(args.only_arms):
            parser.error("--only-arms: plain-seconds is sized from the trt and plain arms of its "
                         "seed; select them too.")
    output = Path(args.output or Path("runs") / "compare" / recipe.name)
    if args.jobs > 1:
        # Before the backend loads: this process holds no backend (memory, thread pools) while
        # its children train.
        wanted = [a for a in arms if not args.only_arms or a.key in args.only_arms]
        matches = _recorded_matches(output, args.epochs or recipe.epochs)
        work = seed_jobs.units(args.only_seeds or range(args.seeds), [(a.key, arm_cost(a)) for a in wanted],
                               together=arms_together(arms),
                               done=lambda seed, key: _arm_finished(output, seed, key, not args.no_probe, matches))
        seed_jobs.run_children(seed_jobs.without_jobs(argv if argv is not None else sys.argv[1:]),
                               work, args.jobs)
        if args.only_arms or args.only_seeds:
            return None  # a part: the children trained it, there is no page to write
    use_backend(args.backend)
    if args.only_seeds or args.only_arms:
        return run(recipe, args.only_seeds or args.seeds, output, arms, epochs=args.epochs,
                   data_dir=args.data_dir, verbose=args.verbose, probe=not args.no_probe,
                   only_arms=args.only_arms)
    result = run(recipe, args.seeds, output, arms, epochs=args.epochs, data_dir=args.data_dir,
                 verbose=args.verbose, probe=not args.no_probe)
    result["comparisons"] = comparisons(result)
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = page_stem(recipe.name, result["runs"])
    images = (f"{stem}.png", f"{stem}-compute.png")
    plot(result, results_dir / images[0], results_dir / images[1])
    command = "python -m training.compare " + " ".join(
        [recipe.name] + [a for a in (argv if argv is not None else sys.argv[1:]) if a != recipe.name])
    text = page(recipe, result, command, images)
    (results_dir / f"{stem}.md").write_text(text)
    write_json(output / f"comparison{stem[len(recipe.name):]}.json", result)
    # The page's numbers in a form `python -m training.results_table` turns into the README tables.
    write_json(results_dir / f"{stem}.json", results_table.summary(result, page=stem), allow_nan=False)
    print(text)
    print(f"written: {results_dir / (stem + '.md')} and its two plots")
    return result


if __name__ == "__main__":
    main()
