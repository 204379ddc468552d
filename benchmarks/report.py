"""Targets and the Markdown table of a benchmark record (see :mod:`benchmarks.run`).

``python -m benchmarks.report [benchmarks/results/latest.json] [--readme]`` renders a saved
record again (``latest.md``, and the README's headline table with ``--readme``) without re-measuring.
"""

from __future__ import annotations

import re

SJ = "spikingjelly"
KERAS = ("keras-tensorflow", "keras-jax", "keras-torch")


def _median(record, fw, key, group="times"):
    slot = record["frameworks"].get(fw, {}).get(group, {}).get(key)
    return slot.get("median") if slot else None


def _fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def _training_memory(entry):
    """Peak RSS of the training steps minus the RSS right after importing the framework."""
    mem = entry.get("memory") or {}
    base = entry.get("rss_after_import_mib")
    return mem["peak_rss_mib"] - base if mem.get("peak_rss_mib") and base else None


#: keras-trt's speed goals on a CPU against SpikingJelly (same network, same machine, one run).
FASTEST_LIMIT = 0.85  # the fastest keras-trt backend / SpikingJelly
EVERY_LIMIT = 1.0  # every keras-trt backend / SpikingJelly, training and inference
TRT_OVER_2B_LIMIT = 1.05  # TRT step / plain step on a doubled batch (the same work)


def _round_ratios(record, fw, key, ref_key):
    """Per-round ratios of two workloads timed seconds apart in the same round."""
    times = record["frameworks"].get(fw, {}).get("times", {})
    a, b = (times.get(k, {}).get("samples") or [] for k in (key, ref_key))
    return [x / y for x, y in zip(a, b) if y]


def targets(record):
    """Every speed and memory goal with its value and whether it is met."""
    out = []
    fws = record["frameworks"]
    keras = [fw for fw in KERAS if fw in fws]
    ts = record["settings"]["timesteps"]

    def add(name, value, limit, met, note=""):
        out.append({"target": name, "value": value, "limit": limit, "met": met, "note": note})

    if SJ in fws and keras:
        for kind in ("train", "infer"):
            for t in ts:
                sj = _median(record, SJ, f"{kind}_T{t}")
                ratios = {fw: _median(record, fw, f"{kind}_T{t}") / sj
                          for fw in keras if sj and _median(record, fw, f"{kind}_T{t}")}
                if not ratios:
                    continue
                best = min(ratios, key=ratios.get)
                add(f"{kind} T={t}: fastest keras-trt / SpikingJelly", ratios[best], FASTEST_LIMIT,
                    ratios[best] <= FASTEST_LIMIT, f"fastest: {best}")
                for fw, r in ratios.items():
                    add(f"{kind} T={t}: {fw} / SpikingJelly", r, EVERY_LIMIT, r <= EVERY_LIMIT)
        sj_mem = _training_memory(fws[SJ])
        sj_total = (fws[SJ].get("memory") or {}).get("peak_rss_mib")
        for fw in keras:
            mem = _training_memory(fws[fw])
            total = (fws[fw].get("memory") or {}).get("peak_rss_mib")
            if mem and sj_mem:
                add(f"training memory (peak RSS - RSS after import): {fw} / SpikingJelly",
                    mem / sj_mem, 1.0, mem <= sj_mem,
                    f"whole process: {total / sj_total:.2f}x" if total and sj_total else "")
    flops = record.get("flops") or {}
    t0 = ts[0]
    if flops.get("plain") and flops.get("stem"):
        flop_ratio = flops["stem"] / flops["plain"]
        for fw in keras:
            plain, trt = _median(record, fw, f"train_T{t0}"), _median(record, fw, f"trt_T{t0}_stem")
            if plain and trt:
                r = trt / plain
                add(f"TRT step / plain step T={t0} (reverse_at=stem): {fw}", r,
                    f"{flop_ratio:.3f} ± 5%", abs(r / flop_ratio - 1) <= 0.05,
                    f"FLOP ratio {flop_ratio:.3f}")
    for fw in keras:
        trt, double = _median(record, fw, f"trt_T{t0}_stem"), _median(record, fw, f"train2b_T{t0}")
        if trt and double:
            per_round = _round_ratios(record, fw, f"trt_T{t0}_stem", f"train2b_T{t0}")
            add(f"TRT step / plain step on 2B T={t0}: {fw}", trt / double, TRT_OVER_2B_LIMIT,
                trt / double <= TRT_OVER_2B_LIMIT,
                f"per round {min(per_round):.3f}-{max(per_round):.3f} ({len(per_round)} rounds)"
                if per_round else "")
    for fw in keras:
        plain, trt = _median(record, fw, f"infer_T{t0}"), _median(record, fw, f"trtinfer_T{t0}_stem")
        if plain and trt:
            r = trt / plain
            add(f"TRT-trained inference / plain inference T={t0}: {fw}", r, "1.00 ± 5%",
                abs(r - 1) <= 0.05)
    return out


def curve_rows(record):
    flops = record.get("flops") or {}
    t0 = record["settings"]["timesteps"][0]
    fw = record["settings"].get("curve_backend")
    entry = record["frameworks"].get(fw, {})
    plain = (entry.get("curve", {}).get(f"train_T{t0}") or {}).get("median")
    rows = []
    for key, slot in entry.get("curve", {}).items():
        if not key.startswith("trt_"):
            continue
        rev = key.split("_", 2)[2]
        fr = flops.get(rev) / flops["plain"] if flops.get(rev) and flops.get("plain") else None
        tr = slot["median"] / plain if plain else None
        rows.append((rev, fr, tr, slot["median"]))
    order = ["input", "stem", "stage1", "stage2", "stage3", "stage4"]
    rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else 99)
    return fw, plain, rows


def markdown(record):
    m = record["machine"]
    fws = [fw for fw in record["frameworks"]]
    labels = [record["frameworks"][fw]["label"] for fw in fws]
    ts = record["settings"]["timesteps"]
    v = m["versions"]
    lines = [
        f"**{'Spikformer-4-384 (spikformer_cifar10)' if record.get('benchmark', '').startswith('Spikformer') else 'Spiking ResNet-18 (CIFAR stem)'}, B=32, {record['threads']} threads, medians** — "
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB; "
        f"keras {v.get('keras')}, TF {v.get('tensorflow')}, JAX {v.get('jax')}, torch {v.get('torch')}, "
        f"SpikingJelly {v.get('spikingjelly')}, snnTorch {v.get('snntorch')}; "
        f"load average {record['load_before'][0]:.1f} before, {record['load_after'][0]:.1f} after "
        f"({record['started']}, commit {m.get('git_commit')}, "
        f"{record['settings']['rounds']} rounds x {record['settings']['steps']} training steps / "
        f"{record['settings'].get('infer_steps', record['settings']['steps'])} inference batches; "
        f"OMP_WAIT_POLICY of the torch workers: {record['settings'].get('omp_wait_policy', 'PASSIVE')}).",
        "",
        "| seconds (median) | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(fws),
    ]
    sj = SJ if SJ in fws else None
    for kind, name in (("train", "training step"), ("infer", "inference batch")):
        for t in ts:
            cells = []
            for fw in fws:
                med = _median(record, fw, f"{kind}_T{t}")
                ref = _median(record, sj, f"{kind}_T{t}") if sj else None
                ratio = f" ({med / ref:.2f}x)" if med and ref and fw != sj else ""
                cells.append(_fmt(med) + ratio)
            lines.append(f"| {name}, T={t} | " + " | ".join(cells) + " |")
    t0 = ts[0]
    relative_rows = (  # (row, workload, the plain workload it is compared with)
        (f"TRT training step, T={t0}, reversal after the stem", f"trt_T{t0}_stem", f"train_T{t0}"),
        (f"plain training step on a doubled batch (2B), T={t0}", f"train2b_T{t0}", f"train_T{t0}"),
        (f"TRT-trained model, inference, T={t0}", f"trtinfer_T{t0}_stem", f"infer_T{t0}"),
    )
    for row, key, plain_key in relative_rows:
        cells = []
        for fw in fws:
            value, plain = _median(record, fw, key), _median(record, fw, plain_key)
            cells.append(f"{_fmt(value)} ({value / plain:.2f}x plain)" if value and plain else "–")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    cells = []
    for fw in fws:
        mem = record["frameworks"][fw].get("memory") or {}
        cells.append(f"{mem['peak_rss_mib'] / 1024:.2f}" if mem.get("peak_rss_mib") else "–")
    lines.append(f"| peak RSS of a training step, T={t0} (GiB) | " + " | ".join(cells) + " |")
    cells = []
    for fw in fws:
        mem = _training_memory(record["frameworks"][fw])
        cells.append(f"{mem / 1024:.2f}" if mem else "–")
    lines.append(f"| of which training (peak - RSS after import), T={t0} (GiB) | " + " | ".join(cells) + " |")
    check = record.get("check")
    if check:
        for dtype in ("float64", "float32"):
            cells = []
            for fw in fws:
                c = check["results"].get(fw, {}).get(dtype)
                if c:
                    d = max(c["eval"]["max_abs_diff"], c["train"]["max_abs_diff"])
                    cells.append(f"{d:.0e}" if d else "0")
                else:
                    cells.append("–")
            lines.append(
                f"| max \\|logit diff\\| vs {record['frameworks'][check['reference']]['label']}, "
                f"{dtype}, T={check['T']} | " + " | ".join(cells) + " |")
    flops = record.get("flops") or {}
    if flops.get("gflop_per_image_step"):
        lines += ["", f"Forward cost: {flops['gflop_per_image_step']:.3f} GFLOP per image per time step "
                      "(convolutions and the classifier, 2 FLOP per multiply-add)."]
    fw, plain, rows = curve_rows(record)
    if rows:
        lines += [
            "",
            f"**TRT step / plain step over the reversal point** ({record['frameworks'][fw]['label']}, "
            f"T={t0}, plain step {_fmt(plain)} s):",
            "",
            "| reverse_at | FLOP ratio | time ratio | time / FLOP ratio |",
            "|---|---:|---:|---:|",
        ]
        for rev, fr, tr, _ in rows:
            lines.append(f"| {rev} | {_fmt(fr)} | {_fmt(tr)} | {_fmt(tr / fr if tr and fr else None)} |")
    tg = record.get("targets") or []
    if tg:
        lines += ["", "**Targets** (keras-trt's goals; medians of this run)", "", "| target | value | limit | met |", "|---|---:|---:|---|"]
        for t in tg:
            val = t["value"]
            lines.append(f"| {t['target']} | {_fmt(val)} | {t['limit']} | "
                         f"{'yes' if t['met'] else '**no**'}{' — ' + t['note'] if t.get('note') else ''} |")
    if record.get("errors"):
        lines += ["", "Errors: " + "; ".join(record["errors"])]
    return "\n".join(lines) + "\n"


def headline(md):
    """The README's part of a benchmark's Markdown: the caption and the first table (the full
    record is on the documentation's speed page, rendered from ``benchmarks/results/*.md``)."""
    return "\n\n".join(md.split("\n\n")[:2]).rstrip("\n") + "\n"


def update_readme(path, md, begin, end):
    text = open(path).read()
    block = f"{begin}\n{md}{end}"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Speed\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    import argparse
    import json
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="Render a saved benchmark record again.")
    parser.add_argument("record", nargs="?", default=os.path.join(root, "benchmarks", "results", "latest.json"))
    parser.add_argument("--readme", action="store_true", help="also update the headline table in README.md")
    args = parser.parse_args(argv)
    with open(args.record) as f:
        record = json.load(f)
    record["targets"] = targets(record)
    md = markdown(record)
    with open(os.path.splitext(args.record)[0] + ".md", "w") as f:
        f.write(md)
    if args.readme:
        from benchmarks.run import MARK_BEGIN, MARK_END

        update_readme(os.path.join(root, "README.md"), headline(md), MARK_BEGIN, MARK_END)
    print(md)


if __name__ == "__main__":
    main()
