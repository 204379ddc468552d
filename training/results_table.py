"""The results tables, regenerated from the comparisons in ``docs/results``:
``python -m training.results_table [--readme]``.

``training.compare`` writes, next to each page, ``<recipe>.json``: the per-seed held-out
accuracies of every arm, the probes' means and the paired statistics (``summary``). This module
turns those files into one table row per recipe (TRT, the plain SNN at equal epochs and at equal
training FLOPs, and the two paired differences) and, with ``--readme``, replaces the table between
the ``results-table`` markers of README.md, so the README shows what the pages hold. Ablation pages
(``<recipe>-ablation.json``) give a table of their own: each arm's accuracy, its paired difference
to the plain SNN and to full TRT, the agreement of the original and reversed outputs, the accuracy
with a time step dropped and the firing rate. The documentation's results page renders the tables
at build time (``docs/hooks/site.py``); ``--readme`` writes the ablation table only into a README
that has ``ablation-table`` markers (the front page carries the headline table alone).
Pages of cheaper TRT variants (``<recipe>-cheap.json``, ``training.compare --cheap``) give a third
table, between the ``cheap-table`` markers (replaced only where the README has them): each
variant's training FLOPs against a plain step, its accuracy and its paired differences to full TRT
and to the plain SNN trained for the variant's FLOPs, and the two robustness probes.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from training import stats

BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
ABLATION_BEGIN, ABLATION_END = "<!-- ablation-table:begin -->", "<!-- ablation-table:end -->"
CHEAP_BEGIN, CHEAP_END = "<!-- cheap-table:begin -->", "<!-- cheap-table:end -->"

#: The arms of the TRT-vs-plain comparison (``training.compare``); any other arm is an ablation's.
BASE_ARMS = ("trt", "plain", "plain-flops", "plain-seconds")


def has_ablation_arms(arm_keys):
    return not set(arm_keys) <= set(BASE_ARMS)


def summary(result, page=None):
    """The compact record of a comparison (``training.compare``'s result with its comparisons);
    ``page``: the stem of its page (default the recipe; ``<recipe>-ablation`` for an ablation)."""
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
        if arm["key"] in result.get("flops_per_image", {}):
            entry["flops_per_image"] = result["flops_per_image"][arm["key"]]
        arms.append(entry)
    keep = ("a", "b", "basis", "n", "mean_diff", "ci_low", "ci_high", "p", "wins", "ties", "losses")
    undefined = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731 (strict JSON)
    out = dict(recipe=result["recipe"], page=page or result["recipe"], dataset=result["dataset"], n_test=result["n_test"],
               backend=result["backend"], epochs=result["epochs"], arms=arms,
               comparisons=[{k: undefined(c[k]) for k in keep} for c in result["comparisons"]])
    if "flops_matches" in result:
        out["flops_matches"] = result["flops_matches"]
    return out


def _signed(v):
    return f"{v:+.2f}".replace("-", "−")


def _diff(c):
    """``mean (interval), p``; ``–`` for a comparison not run, ``n/a`` for what one seed cannot give."""
    if c is None:
        return "–"
    ci = "n/a" if c["ci_low"] is None else f"{_signed(c['ci_low'])} to {_signed(c['ci_high'])}"
    return f"{_signed(c['mean_diff'])} ({ci}), p = {stats.format_p(c['p'])}"


def is_ablation(s):
    """An ablation's summary (its page is ``<recipe>-ablation``; summaries older than the ``page``
    field are told by their arms)."""
    if is_cheap(s):
        return False
    if "page" in s:
        return s["page"] != s["recipe"]
    return has_ablation_arms(a["key"] for a in s["arms"])


def is_cheap(s):
    """A summary of cheaper TRT variants (its page is ``<recipe>-cheap``)."""
    return s.get("page", "").endswith("-cheap")


def table(summaries):
    """Markdown: one row per recipe (ablation and cheap-variant summaries are left to
    ``ablation_table`` and ``cheap_table``)."""
    lines = ["| recipe | held-out set, samples | seeds | TRT | plain, equal epochs | plain, equal FLOPs | "
             "TRT − plain, equal epochs | TRT − plain, equal FLOPs |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sorted((s for s in summaries if not (is_ablation(s) or is_cheap(s))), key=lambda s: s["recipe"]):
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


def _probe_cell(arm, key, scale=100.0, digits=1):
    probe = arm.get("probe")
    return "–" if not probe or key not in probe else f"{scale * probe[key]:.{digits}f}"


def ablation_table(summaries):
    """Markdown: per ablation summary, one row per arm but the compute-matched ones."""
    lines = []
    for s in sorted((s for s in summaries if is_ablation(s)), key=lambda s: s["recipe"]):
        comp = {(c["a"], c["b"]): c for c in s["comparisons"]}
        arms = [a for a in s["arms"] if a["key"] not in ("plain-flops", "plain-seconds")]
        lines += [f"`{s['recipe']}`, {len(arms[0]['accuracy'])} paired seeds, {s['epochs']} epochs, "
                  f"{s['backend']}, held-out {s['dataset']} ({s['n_test']} samples):", "",
                  "| arm | accuracy (%) | − plain SNN (points) | − full TRT (points) | "
                  "agreement original/reversed (%) | one step dropped (%) | firing rate |",
                  "|---|---|---|---|---|---|---|"]
        for arm in arms:
            k = arm["key"]
            minus_plain = "–" if k == "plain" else _diff(comp.get((k, "plain")))
            minus_trt = "–" if k in ("trt", "plain") else _diff(comp.get((k, "trt")))
            lines.append(f"| {arm['label']} | {stats.mean_std(arm['accuracy'])} | {minus_plain} | "
                         f"{minus_trt} | {_probe_cell(arm, 'agreement')} | {_probe_cell(arm, 'dropped')} | "
                         f"{_probe_cell(arm, 'firing_rate', 1.0, 3)} |")
        lines.append("")
    return "\n".join(lines).strip()


def cheap_table(summaries):
    """Markdown: per cheap-variant summary, full TRT and one row per variant."""
    lines = []
    for s in sorted((s for s in summaries if is_cheap(s)), key=lambda s: s["recipe"]):
        comp = {(c["a"], c["b"]): c for c in s["comparisons"]}
        by_key = {a["key"]: a for a in s["arms"]}
        plain = by_key["plain"].get("flops_per_image")
        matches = s.get("flops_matches", {})
        lines += [f"`{s['recipe']}`, {len(by_key['trt']['accuracy'])} paired seeds, {s['epochs']} epochs, "
                  f"{s['backend']}, held-out {s['dataset']} ({s['n_test']} samples):", "",
                  "| arm | training FLOPs (× plain) | accuracy (%) | − full TRT (points) | "
                  "− plain SNN at its FLOPs (points) | agreement original/reversed (%) | "
                  "one step dropped (%) |", "|---|---|---|---|---|---|---|"]
        for key in ["trt"] + [k for k in by_key if k.startswith("cheap-")]:
            arm = by_key[key]
            ratio = f"{arm['flops_per_image'] / plain:.2f}" if plain and "flops_per_image" in arm else "–"
            match = "plain-flops" if key == "trt" else matches.get(key)
            at_flops = _diff(comp.get((key, match))) if match and match != "plain" else _diff(comp.get((key, "plain")))
            lines.append(f"| {arm['label']} | {ratio} | {stats.mean_std(arm['accuracy'])} | "
                         f"{'–' if key == 'trt' else _diff(comp.get((key, 'trt')))} | {at_flops} | "
                         f"{_probe_cell(arm, 'agreement')} | {_probe_cell(arm, 'dropped')} |")
        lines.append("")
    return "\n".join(lines).strip()


def load(results_dir):
    """Every summary (``<recipe>.json``, ``<recipe>-ablation.json``) in ``results_dir``."""
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        if {"recipe", "arms", "comparisons"} <= data.keys():
            out.append(data)
    return out


def replace_block(text, block, begin=BEGIN, end=END):
    """``text`` with the part between the markers replaced by ``block``."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"expected one {begin} ... {end} block in the README.")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.results_table", description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="docs/results")
    parser.add_argument("--readme", nargs="?", const="README.md", default=None,
                        help="rewrite the tables in this README (default README.md)")
    args = parser.parse_args(argv)
    summaries = load(args.results_dir)
    if not summaries:
        raise SystemExit(f"no comparison summaries (<recipe>.json) in {args.results_dir}: run "
                         "python -m training.compare <recipe> first.")
    block, ablations, cheap = table(summaries), ablation_table(summaries), cheap_table(summaries)
    print(block, ablations, cheap, sep="\n\n")
    if args.readme:
        path = Path(args.readme)
        text = path.read_text()
        try:
            text = replace_block(text, block)
            if ABLATION_BEGIN in text or ABLATION_END in text:  # emptied too: no stale ablation stays
                text = replace_block(text, ablations, ABLATION_BEGIN, ABLATION_END)
            if CHEAP_BEGIN in text:
                text = replace_block(text, cheap, CHEAP_BEGIN, CHEAP_END)
            elif cheap:
                print(f"{path} has no {CHEAP_BEGIN} ... {CHEAP_END} block: the cheap-variant "
                      "table is printed above, not written.")
        except ValueError as e:
            raise SystemExit(f"{path}: {e} Add the two marker lines where the table belongs; "
                             f"{path} is unchanged.") from None
        path.write_text(text)  # only once both blocks are in place: nothing half-updated
        print(f"updated the tables in {path}")
    return block


if __name__ == "__main__":
    main()
