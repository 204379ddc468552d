"""Targets and the Markdown table of a benchmark record (see :mod:`benchmarks.run`).

``python -m benchmarks.report [benchmarks/results/latest.json] [--readme]`` renders a saved
record again (``latest.md``) without re-measuring; ``--readme`` also files it under its CPU kind
(``benchmarks/results/cpus/<kind>.json``, see :func:`cpu_slug`) and rewrites the README's speed
table, one row per CPU kind measured (:func:`kinds_table`).
"""

from __future__ import annotations

import re

SJ = "spikingjelly"
KERAS = ("keras-tensorflow", "keras-jax", "keras-torch")
SHORT = {"keras-tensorflow": "TF", "keras-jax": "JAX", "keras-torch": "torch"}


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
FASTEST_LIMIT = {"train": 0.75, "infer": 0.85}  # the fastest keras-trt backend / SpikingJelly
BF16_LIMIT = 0.85  # the fastest keras-trt bfloat16 backend / SpikingJelly under torch.autocast
EVERY_LIMIT = 1.0  # every keras-trt backend / SpikingJelly, training and inference
TRT_OVER_2B_LIMIT = 1.05  # TRT step / plain step on a doubled batch (the same work)


def _round_ratios(record, fw, key, ref_key):
    """Per-round ratios of two workloads timed seconds apart in the same round."""
    times = record["frameworks"].get(fw, {}).get("times", {})
    a, b = (times.get(k, {}).get("samples") or [] for k in (key, ref_key))
    return [x / y for x, y in zip(a, b) if y]


def _ratios_to(record, key, frameworks, reference):
    """``{framework: its median / reference's median}`` for workload ``key``, where both ran."""
    ref = _median(record, reference, key)
    return {fw: _median(record, fw, key) / ref for fw in frameworks if ref and _median(record, fw, key)}


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
                ratios = _ratios_to(record, f"{kind}_T{t}", keras, SJ)
                if not ratios:
                    continue
                best = min(ratios, key=ratios.get)
                add(f"{kind} T={t}: fastest keras-trt / SpikingJelly", ratios[best], FASTEST_LIMIT[kind],
                    ratios[best] <= FASTEST_LIMIT[kind], f"fastest: {best}")
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
    bf16 = [f"{fw}-bf16" for fw in KERAS if f"{fw}-bf16" in fws]
    if f"{SJ}-bf16" in fws and bf16:
        for kind in ("train", "infer"):
            for t in ts:
                ratios = _ratios_to(record, f"{kind}_T{t}", bf16, f"{SJ}-bf16")
                if ratios:
                    best = min(ratios, key=ratios.get)
                    add(f"{kind} T={t}, bfloat16: fastest keras-trt / SpikingJelly (autocast)",
                        ratios[best], BF16_LIMIT, ratios[best] <= BF16_LIMIT, f"fastest: {best}")
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
        f"{m['cpu']}{f' ({k})' if (k := m.get('cpu_kind')) else ''}, {m['cores']} cores, {m['ram_gib']} GiB; "
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


def cpu_slug(record):
    """The file name (``benchmarks/results/cpus/<slug>.json``) of a record's CPU kind: one
    record per kind and precision, so a run on one kind never replaces another kind's numbers.

    >>> cpu_slug({"machine": {"cpu_kind": "AMD Zen 4; AVX-512, AVX512_BF16, no AMX"}, "frameworks": {}})
    'amd-zen-4'
    >>> cpu_slug({"machine": {"cpu_kind": "Intel; AVX-512, AVX512_BF16, AMX"},
    ...           "frameworks": {"keras-tensorflow-bf16": {}}})
    'intel-amx-bf16'
    """
    kind = record["machine"].get("cpu_kind") or "unknown CPU; ?"
    name, _, isa = kind.partition(";")
    if name.strip() in ("Intel", "unknown CPU"):  # no core generation: the top extension says it
        isa = [x.strip() for x in isa.split(",") if x.strip() and not x.strip().startswith("no ")]
        name += " " + (isa[-1] if isa else "")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug + ("-bf16" if any(fw.endswith("-bf16") for fw in record["frameworks"]) else "")


def _ratio_cells(record, key, frameworks, reference):
    cells = []
    for fw, ratio in _ratios_to(record, key, frameworks, reference).items():
        base = fw.removesuffix("-bf16")
        cells.append(f"{SHORT[base]}{' bf16' if base != fw else ''} {ratio:.2f}x")
    return " · ".join(cells) or "–"


def kinds_table(records):
    """The README's speed table: one row per CPU kind and precision, each keras-trt backend's
    time as a ratio to SpikingJelly's in the same run (float32 against float32, bfloat16 against
    SpikingJelly under ``torch.autocast``)."""
    columns = [(kind, t) for kind in ("train", "infer") for t in (2, 4)]
    lines = ["| CPU kind (run) | " + " | ".join(
                 f"{'training step' if kind == 'train' else 'inference batch'}, T={t}" for kind, t in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for record in sorted(records, key=lambda r: (cpu_slug(r).endswith("-bf16"), cpu_slug(r))):
        fws = record["frameworks"]
        bf16 = any(fw.endswith("-bf16") for fw in fws)
        reference = f"{SJ}-bf16" if bf16 else SJ
        frameworks = [f"{fw}-bf16" if bf16 else fw for fw in KERAS if (f"{fw}-bf16" if bf16 else fw) in fws]
        m = record["machine"]
        head = (f"{m.get('cpu_kind') or m['cpu']}{', bfloat16' if bf16 else ''} ({record['started'][:10]}, "
                f"{record['settings']['rounds']} rounds, load {record['load_before'][0]:.1f} before)")
        lines.append(f"| {head} | " + " | ".join(
            _ratio_cells(record, f"{kind}_T{t}", frameworks, reference) for kind, t in columns) + " |")
    return "\n".join(lines) + "\n"


def load_kinds(folder):
    """Every per-CPU-kind record in ``folder`` (``benchmarks/results/cpus``)."""
    import glob
    import json
    import os

    records = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            records.append(json.load(f))
    return records


def complete(record):
    """Whether a run can stand for its CPU kind: SpikingJelly and every keras-trt backend in
    float32, or SpikingJelly under autocast and a keras-trt backend in bfloat16, more than a
    smoke round."""
    fws = record["frameworks"]
    if record["settings"]["rounds"] < 2:
        return False
    if any(fw.endswith("-bf16") for fw in fws):
        return f"{SJ}-bf16" in fws and any(f"{fw}-bf16" in fws for fw in KERAS)
    return SJ in fws and all(fw in fws for fw in KERAS)


def file_by_cpu(record, md, results_dir):
    """Keeps ``record`` (and its table ``md``) as its CPU kind's in ``results_dir/cpus``, replacing
    only an earlier record of the same kind and precision; returns the JSON path."""
    import json
    import os

    folder = os.path.join(results_dir, "cpus")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, cpu_slug(record) + ".json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    with open(path[:-5] + ".md", "w") as f:
        f.write(md)
    return path


def readme_table(results_dir):
    """The README's block: the per-kind table of every record in ``results_dir/cpus``."""
    import os

    return kinds_table(load_kinds(os.path.join(results_dir, "cpus")))


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
    results = os.path.join(root, "benchmarks", "results")
    parser = argparse.ArgumentParser(description="Render a saved benchmark record again.")
    parser.add_argument("record", nargs="?", default=os.path.join(results, "latest.json"))
    parser.add_argument("--readme", action="store_true",
                        help="also file the record under its CPU kind (benchmarks/results/cpus) and "
                        "rewrite the README's per-kind speed table")
    args = parser.parse_args(argv)
    with open(args.record) as f:
        record = json.load(f)
    record["targets"] = targets(record)
    md = markdown(record)
    with open(os.path.splitext(args.record)[0] + ".md", "w") as f:
        f.write(md)
    if args.readme:
        from benchmarks.run import MARK_BEGIN, MARK_END

        if record.get("benchmark", "").startswith("Spikformer"):
            raise SystemExit("--readme: the README's speed table is the ResNet-18's; this record is the Spikformer's.")
        if not complete(record):
            raise SystemExit("--readme: this record lacks SpikingJelly or a keras-trt backend (or ran one "
                             "round); it cannot stand for its CPU kind in the README.")
        file_by_cpu(record, md, results)
        update_readme(os.path.join(root, "README.md"), readme_table(results), MARK_BEGIN, MARK_END)
    print(md)


if __name__ == "__main__":
    main()
