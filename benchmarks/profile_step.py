"""One benchmark step, op by op, in every framework: ``python -m benchmarks.profile_step``.

Where :mod:`benchmarks.run` says how long a step takes, this says where the time goes: each
framework's worker (:mod:`benchmarks.worker`, the same network, data, threads and warm-up as the
benchmark) runs the step a few times unprofiled, then under its own profiler
(:mod:`benchmarks.op_profile`), one framework at a time. The table puts the ops in categories
(convolutions forward and backward, batch normalization, element-wise work such as the LIF
neurons, layout changes and copies, casts, ...) in milliseconds of thread time per step, so a
framework that loses can be told where. Profilers add overhead (the profiled step's wall time is
given beside the unprofiled one); the split, not the sum, is the reading. The row "ops / profiled
wall" says how much of the step the ops cover: about all of it on TensorFlow (inter-op pool of
one thread, the ops' own threads inside them) and torch; on JAX much less, as XLA:CPU's trace
events cover the thunks it dispatches, not all the work of its thread pool, so JAX's split is
partial (:mod:`benchmarks.xla_precision` reads its compiled step instead).

    python -m benchmarks.profile_step --timesteps 2 --kind train
    python -m benchmarks.profile_step --frameworks keras-tensorflow-bf16,spikingjelly-bf16

Writes ``benchmarks/results/profiles/<cpu kind>-<kind>-T<T>[-bf16].md`` and ``.json``.
Measure on an idle machine, as the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from benchmarks import common, op_profile, report, run

DEFAULT = ("keras-tensorflow", "keras-jax", "keras-torch", "spikingjelly")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default=",".join(DEFAULT),
                   help="comma-separated, from " + ", ".join(run.FRAMEWORKS + run.OPTIONAL))
    p.add_argument("--timesteps", type=int, default=2, help="T (default 2)")
    p.add_argument("--kind", default="train", choices=["train", "infer"],
                   help="a training step (default) or an inference batch")
    p.add_argument("--steps", type=int, default=3, help="profiled steps, also timed unprofiled (default 3)")
    p.add_argument("--top", type=int, default=8, help="ops listed per framework (default 8)")
    p.add_argument("--out", default=os.path.join(run.RESULTS, "profiles"), help="output folder")
    p.add_argument("--timeout", type=float, default=900, help="seconds per worker command")
    args = p.parse_args(argv)
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    unknown = set(args.frameworks) - set(run.FRAMEWORKS + run.OPTIONAL)
    if unknown:
        p.error(f"unknown frameworks {sorted(unknown)}; choose from {run.FRAMEWORKS + run.OPTIONAL}")
    if args.steps < 1 or args.timesteps < 1:
        p.error("--steps and --timesteps take whole numbers >= 1")
    return args


def profile_framework(framework, args, log_dir):
    """``{"wall_ms", "profiled_wall_ms", "ops"}`` of one framework, or ``{"error"}``."""
    worker = run.Worker(framework, log_dir, args.timeout)
    try:
        key = f"{args.kind}_T{args.timesteps}"
        for cmd in (dict(op="init"), dict(op="setup", key=key, kind=args.kind, T=args.timesteps,
                                          warmup=run._warmup(framework))):
            reply = worker.ask(**cmd)
            if not reply.get("ok"):
                return {"error": reply.get("error"), "log": _tail(worker.log_path)}
        timed = worker.ask(op="time", key=key, n=args.steps)
        profiled = worker.ask(op="profile", key=key, n=args.steps,
                              trace_dir=os.path.join(log_dir, f"trace-{framework}"))
        if not (timed.get("ok") and profiled.get("ok")):
            return {"error": timed.get("error") or profiled.get("error"), "log": _tail(worker.log_path)}
        return {"wall_ms": statistics.median(t * 1e3 for t in timed["times"]),
                "profiled_wall_ms": statistics.median(profiled["wall_ms"]),
                "ops": profiled["ops"], "load": timed["load"]}
    finally:
        worker.close()


def _tail(path, lines=20):
    """The end of a worker's log (its folder is temporary)."""
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def table(result, top):
    """The Markdown page of a :func:`main` result."""
    fws = [f for f in result["frameworks"] if "ops" in result["frameworks"][f]]
    cats = {f: op_profile.by_category(result["frameworks"][f]["ops"]) for f in fws}
    names = [c for c, _ in op_profile.CATEGORIES] + [op_profile.OTHER]
    m = result["machine"]
    lines = [f"# Where a {result['kind']} step goes, T={result['T']}, op by op",
             "",
             f"{m['cpu']} ({m['cpu_kind']}), {m['cores']} cores; {result['date']}; "
             f"`{result['command']}`. Thread time per step in milliseconds from each framework's "
             "own profiler (self time of every op, summed over the threads that run ops), median "
             f"of {result['steps']} steps; the unprofiled wall time of a step is timed first.",
             "",
             "| | " + " | ".join(run.LABELS.get(f, f) for f in fws) + " |",
             "|---|" + "---|" * len(fws)]
    lines.append("| **step, wall (unprofiled)** | " + " | ".join(
        f"**{result['frameworks'][f]['wall_ms']:.0f}**" for f in fws) + " |")
    lines.append("| step, wall (profiled) | " + " | ".join(
        f"{result['frameworks'][f]['profiled_wall_ms']:.0f}" for f in fws) + " |")
    for name in names:
        if any(cats[f].get(name, 0) >= 0.5 for f in fws):
            lines.append(f"| {name} | " + " | ".join(f"{cats[f].get(name, 0):.0f}" for f in fws) + " |")
    lines.append("| ops, total | " + " | ".join(f"{sum(cats[f].values()):.0f}" for f in fws) + " |")
    lines.append("| ops / profiled wall | " + " | ".join(
        f"{sum(cats[f].values()) / result['frameworks'][f]['profiled_wall_ms']:.0%}" for f in fws) + " |")
    for f in fws:
        ops = sorted(result["frameworks"][f]["ops"].items(), key=lambda kv: -kv[1][0])[:top]
        lines += ["", f"**{run.LABELS.get(f, f)}**, the {len(ops)} costliest ops (ms per step, calls per step, "
                  "category): " + "; ".join(
                      f"`{name}` {ms:.0f} ({calls:.0f}x, {op_profile.category(name)})"
                      for name, (ms, calls) in ops)]
    errors = {f: r["error"] for f, r in result["frameworks"].items() if "error" in r}
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{f}: {e}" for f, e in errors.items())]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    command = "python -m benchmarks.profile_step " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"machine": common.machine(), "kind": args.kind, "T": args.timesteps, "steps": args.steps,
              "date": time.strftime("%Y-%m-%d"), "command": command.strip(), "frameworks": {}}
    with tempfile.TemporaryDirectory(prefix="keras-trt-profile-") as log_dir:
        for framework in args.frameworks:
            run._log(f"{framework}: {args.kind} T={args.timesteps}, {args.steps} steps timed, then profiled")
            result["frameworks"][framework] = profile_framework(framework, args, log_dir)
    text = table(result, args.top)
    os.makedirs(args.out, exist_ok=True)
    bf16 = "-bf16" if any(f.endswith("-bf16") for f in args.frameworks) else ""
    slug = report.cpu_slug({"machine": result["machine"], "frameworks": {}})
    stem = os.path.join(args.out, f"{slug}-{args.kind}-T{args.timesteps}{bf16}")
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text)
    print(text)
    print(f"written: {stem}.md and .json")
    return result


if __name__ == "__main__":
    main()
