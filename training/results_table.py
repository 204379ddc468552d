"""The README's results table, regenerated from the comparisons in ``docs/results``:
``python -m training.results_table [--readme]``.

``training.compare`` writes, next to each page, ``<recipe>.json``: the per-seed held-out
accuracies of every arm, the probes' means and the paired statistics (``summary``). This module
turns those files into one table row per recipe (TRT, the plain SNN at equal epochs and at equal
training FLOPs, and the two paired differences) and, with ``--readme``, replaces the table between
the ``results-table`` markers of README.md, so the README shows what the pages hold.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from training import stats

BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"


def summary(result):
    """The compact record of a comparison (``training.compare``'s result with its comparisons)."""
    runs = result["runs"]
    arms = []
    for arm in result["arms"]:
        rs = runs[arm["key"]]
        entry = dict(key=arm["key"], label=arm["label"], epochs=rs[0]["epochs"],
                     seeds=[r["seed"] for r in rs],
                     accuracy=[100 * r["test"]["accuracy"] for r in rs])
        if all("probe" in r for r in rs):  # every numeric probe result, averaged over seeds
            entry["probe"] = {k: float(np.mean([r["probe"][k] for r in rs]))
                              for k, v in rs[0]["probe"].items() if isinstance(v, (int, float))}
        arms.append(entry)
    keep = ("a", "b", "basis", "n", "mean_diff", "ci_low", "ci_high", "p", "wins", "ties", "losses")
    undefined = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731 (strict JSON)
    return dict(recipe=result["recipe"], dataset=result["dataset"], n_test=result["n_test"],
                backend=result["backend"], epochs=result["epochs"], arms=arms,
                comparisons=[{k: undefined(c[k]) for k in keep} for c in result["comparisons"]])


def _signed(v):
    return f"{v:+.2f}".replace("-", "−")


def _diff(c):
    """``mean (interval), p``; ``–`` for a comparison not run, ``n/a`` for what one seed cannot give."""
    if c is None:
        return "–"
    ci = "n/a" if c["ci_low"] is None else f"{_signed(c['ci_low'])} to {_signed(c['ci_high'])}"
    return f"{_signed(c['mean_diff'])} ({ci}), p = {stats.format_p(c['p'])}"


def table(summaries):
    """Markdown: one row per recipe."""
    lines = ["| recipe | held-out set, samples | seeds | TRT | plain, equal epochs | plain, equal FLOPs | "
             "TRT − plain, equal epochs | TRT − plain, equal FLOPs |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sorted(summaries, key=lambda s: s["recipe"]):
        arms = {a["key"]: a for a in s["arms"]}
        comp = {(c["a"], c["b"]): c for c in s["comparisons"]}
        cell = {k: stats.mean_std(arms[k]["accuracy"]) if k in arms else "–" for k in ("trt", "plain", "plain-flops")}
        flops = arms.get("plain-flops")
        flops_epochs = f" ({flops['epochs']} epochs)" if flops else ""
        lines.append(
            f"| `{s['recipe']}` ({arms['trt']['epochs']} epochs, {s['backend']}) | {s['dataset']}, "
            f"{s['n_test']} | {len(arms['trt']['accuracy'])} | {cell['trt']} | {cell['plain']} | "
            f"{cell['plain-flops']}{flops_epochs} | "
            f"{_diff(comp.get(('trt', 'plain')))} | {_diff(comp.get(('trt', 'plain-flops')))} |"
        )
    return "\n".join(lines)


def load(results_dir):
    """Every ``<recipe>.json`` summary in ``results_dir``."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        if {"recipe", "arms", "comparisons"} <= data.keys():
            out.append(data)
    return out


def replace_block(text, block):
    """``text`` with the part between the markers replaced by ``block``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"expected one {BEGIN} ... {END} block in the README.")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.results_table", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="docs/results")
    parser.add_argument("--readme", nargs="?", const="README.md", default=None,
                        help="rewrite the table in this README (default README.md)")
    args = parser.parse_args(argv)
    summaries = load(args.results_dir)
    if not summaries:
        raise SystemExit(f"no comparison summaries (<recipe>.json) in {args.results_dir}: run "
                         "python -m training.compare <recipe> first.")
    block = table(summaries)
    print(block)
    if args.readme:
        path = Path(args.readme)
        path.write_text(replace_block(path.read_text(), block))
        print(f"updated the table in {path}")
    return block


if __name__ == "__main__":
    main()
