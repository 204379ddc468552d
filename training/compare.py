"""TRT versus the plain SNN on one recipe: ``python -m training.compare <recipe> --seeds N``.

Trains the recipe with and without TRT for seeds 0..N-1 (same initial weights and batches for
both arms of a seed), then writes ``comparison.md`` (mean ± std of held-out accuracy, time per
epoch), ``comparison.json`` and ``curves.png`` (held-out accuracy per epoch, one line per run)
into the output folder. Finished runs are reused, interrupted ones resume.

    python -m training.compare sresnet20-mnist-t2 --seeds 3
"""

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

ARMS = (("TRT", True), ("plain SNN", False))


def run(recipe, seeds, output, epochs=None, verbose=2):
    from training.train import train

    results = {label: [] for label, _ in ARMS}
    for seed in range(seeds):
        for label, trt in ARMS:
            folder = Path(output) / f"{'trt' if trt else 'plain'}-seed{seed}"
            done = folder / "result.json"
            if done.exists() and json.loads(done.read_text()).get("epochs") == (epochs or recipe.epochs):
                result = json.loads(done.read_text())
            else:
                result = train(recipe, output=folder, epochs=epochs, seed=seed, trt=trt,
                               verbose=verbose)
            result["curve"] = _curve(folder / "log.csv")
            results[label].append(result)
    return results


def _curve(log_path):
    with open(log_path) as f:
        return [float(row["val_accuracy"]) for row in csv.DictReader(f)]


def summarize(recipe, results):
    rows = []
    for label, runs in results.items():
        acc = np.array([r["test"]["accuracy"] for r in runs]) * 100
        secs = np.array([np.mean(r["epoch_seconds"]) for r in runs if r["epoch_seconds"]])
        rows.append(dict(
            arm=label, seeds=len(runs), mean=float(acc.mean()),
            std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            per_seed=[round(float(a), 2) for a in acc],
            epoch_seconds=float(secs.mean()) if len(secs) else None,
        ))
    first = next(iter(results.values()))[0]
    lines = [
        f"### {recipe.name}: TRT vs plain SNN ({first['dataset']}, T={recipe.timesteps}, "
        f"{first['epochs']} epochs, backend {first['backend']})",
        "",
        "| arm | seeds | held-out accuracy (%) | per seed | s / epoch |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        secs = f"{r['epoch_seconds']:.1f}" if r["epoch_seconds"] else "n/a"
        lines.append(f"| {r['arm']} | {r['seeds']} | {r['mean']:.2f} ± {r['std']:.2f} | "
                     f"{', '.join(map(str, r['per_seed']))} | {secs} |")
    diff = rows[0]["mean"] - rows[1]["mean"]
    lines += ["", f"TRT minus plain: {diff:+.2f} points (mean over seeds)."]
    return rows, "\n".join(lines) + "\n"


def plot(recipe, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, runs), color in zip(results.items(), ("tab:red", "tab:blue")):
        for i, r in enumerate(runs):
            curve = np.array(r["curve"]) * 100
            ax.plot(np.arange(1, len(curve) + 1), curve, color=color, alpha=0.8,
                    label=label if i == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(f"{recipe.name}: TRT vs plain SNN")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--output", help="default runs/compare/<recipe>")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from training import recipe as recipes

    recipe = recipes.get(args.recipe)
    output = Path(args.output or Path("runs") / "compare" / recipe.name)
    output.mkdir(parents=True, exist_ok=True)
    results = run(recipe, args.seeds, output, epochs=args.epochs, verbose=args.verbose)
    rows, table = summarize(recipe, results)
    (output / "comparison.md").write_text(table)
    (output / "comparison.json").write_text(json.dumps(dict(rows=rows, runs=results), indent=2))
    plot(recipe, results, output / "curves.png")
    print(table)
    print(f"written: {output / 'comparison.md'}, {output / 'curves.png'}")
    return rows


if __name__ == "__main__":
    main()
