"""Spike activity, operations and energy of a preset: ``python -m training.analyze <preset> <dataset>``.

    python -m training.analyze sresnet20-mnist-t2 mnist                 # a zoo name (offline)
    python -m training.analyze smlp-basicmotions-t20 basic_motions --samples 40 --output out/
    python -m training.analyze runs/x/preset mnist --backend jax

Runs the model's inference pass on the first ``--samples`` held-out samples and writes to
``--output`` (default ``analysis/<preset name>``):

- ``firing_rates.png``: firing rate per spiking layer and energy per layer;
- ``raster.png``: the spikes of every spiking layer for the first sample (neurons x steps);
- ``summary.md``: the per-layer table (firing rate, MACs, SOPs, ACs, energy) with totals and
  the accuracy on those samples.

With ``--anytime`` it also streams the samples step by step (:mod:`keras_trt.streaming`) and
writes ``anytime.md`` and ``anytime.png``: accuracy of the running prediction after each step,
and accuracy against mean steps used when a stream stops once its softmax confidence (or,
with ``--exit-rule margin``, its top-two margin) reaches each threshold
(:func:`keras_trt.anytime.anytime_report`):

    python -m training.analyze smlp-basicmotions-t20 basic_motions --anytime
"""

import argparse
import os

from training import positive_int, use_backend


def held_out(dataset, samples, timesteps=None, data_dir=None):
    """The first ``samples`` held-out inputs and labels of a :mod:`training.datasets` source."""
    import numpy as np

    from training import datasets

    data = datasets.load(dataset, batch_size=256, seed=0, augment=False, timesteps=timesteps, data_dir=data_dir)
    if isinstance(data.test, tuple):
        x, y = data.test
        return np.asarray(x[:samples]), np.asarray(y[:samples])
    xs, ys, count = [], [], 0
    for x, y in data.test.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        count += len(x)
        if count >= samples:
            break
    return np.concatenate(xs)[:samples], np.concatenate(ys)[:samples]


def analyze(handle, dataset, *, samples=300, output=None, timesteps=None, data_dir=None, batch_size=32,
            anytime=False, exit_rule="confidence", thresholds=None):
    """Writes the three files for preset ``handle`` on ``dataset`` (five with ``anytime``);
    returns ``(profile, paths)``."""
    import keras
    import numpy as np

    from keras_trt import analysis, zoo
    from keras_trt.analysis import plots
    from training.evaluate import _metadata

    model = zoo.load(handle)
    meta = _metadata(handle) or {}
    x, y = held_out(dataset, samples, timesteps or meta.get("timesteps"), data_dir)
    output = output or os.path.join("analysis", os.path.basename(os.path.normpath(str(handle))))
    os.makedirs(output, exist_ok=True)

    report = analysis.profile(model, x, batch_size=batch_size)
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == y))
    one = analysis.spike_probe(model)(x[:1], training=False)
    spikes = {name: keras.ops.convert_to_numpy(s)[0] for name, s in one.items()}

    paths = {
        "firing_rates": report.plot(os.path.join(output, "firing_rates.png")),
        "raster": plots.plot_spike_raster(
            spikes, os.path.join(output, "raster.png"), title=f"{handle}: spikes for one {dataset} sample (label {y[0]})"),
        "summary": os.path.join(output, "summary.md"),
    }
    with open(paths["summary"], "w") as f:
        f.write(f"# {handle} on {dataset}: spike activity, operations, energy\n\n")
        f.write(f"{len(x)} held-out samples, backend {keras.backend.backend()}, accuracy on them "
                f"{accuracy:.4f}.\n\n")
        f.write(report.to_markdown() + "\n")
    if anytime:
        paths.update(anytime_files(model, x, y, output, title=f"{handle} on {dataset}", rule=exit_rule,
                                   thresholds=thresholds, batch_size=batch_size))
    return report, paths


def anytime_files(model, x, y, output, *, title, rule="confidence", thresholds=None, batch_size=32):
    """``anytime.md`` and ``anytime.png`` in ``output``: accuracy against steps and thresholds."""
    import keras

    from keras_trt import anytime

    kwargs = {"thresholds": tuple(thresholds)} if thresholds else {}
    result = anytime.anytime_report(model, x, y, rule=rule, batch_size=batch_size, title=title, **kwargs)
    paths = {"anytime": os.path.join(output, "anytime.md"), "anytime_plot": os.path.join(output, "anytime.png")}
    result.plot(paths["anytime_plot"])
    with open(paths["anytime"], "w") as f:
        f.write(f"# {title}: anytime decisions\n\n{result.samples} held-out samples streamed one step at a time "
                f"(backend {keras.backend.backend()}); a stream stops at the first step whose {rule} reaches the "
                "threshold, or at its last step.\n\n" + result.to_markdown() + "\n")
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.analyze", description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="zoo name, preset folder or hf://org/repo[@rev]")
    parser.add_argument("dataset", help="a training.datasets source, e.g. mnist, basic_motions")
    parser.add_argument("--samples", type=positive_int, default=300, help="held-out samples to run (default 300)")
    parser.add_argument("--output", help="folder for the PNGs and summary.md (default analysis/<preset>)")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--data-dir")
    parser.add_argument("--timesteps", type=positive_int, help="only for temporal data without a stated T")
    parser.add_argument("--anytime", action="store_true",
                        help="also stream the samples: accuracy vs steps used and vs early-exit threshold")
    parser.add_argument("--exit-rule", choices=["confidence", "margin"], default="confidence")
    parser.add_argument("--thresholds", type=float, nargs="+", help="early-exit thresholds (default 0.5 ... 0.99)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    use_backend(args.backend)
    report, paths = analyze(args.preset, args.dataset, samples=args.samples, output=args.output,
                            timesteps=args.timesteps, data_dir=args.data_dir, batch_size=args.batch_size,
                            anytime=args.anytime, exit_rule=args.exit_rule, thresholds=args.thresholds)
    print(report.to_markdown())
    for path in paths.values():
        print("wrote", path)
    return report


if __name__ == "__main__":
    main()
