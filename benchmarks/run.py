"""Side-by-side speed and memory benchmark: ``python -m benchmarks.run``.

Builds the CIFAR-stem spiking ResNet-18 (LIF tau 2, hard reset, detach_reset, ATan; B=32, 10
classes) in keras-trt on each backend, SpikingJelly and snnTorch, one worker process per
framework (:mod:`benchmarks.worker`), and measures, taking turns:

- a training step (forward, cross-entropy, backward, SGD-momentum update) at each T,
- an inference batch at each T,
- keras-trt's TRT training step (reversal after the stem) and the TRT-trained model's inference,
- the peak resident memory of a training step (T=2) of each framework, in its own process,
- the TRT step / plain step time against the FLOP ratio, over reversal points (one backend).

First, every framework computes the logits of the same weights (float64 and float32) to show
that they run the same network. Results: ``benchmarks/results/latest.json`` and ``latest.md``,
and the same as this CPU kind's record, ``benchmarks/results/cpus/<kind>.json`` (``amd-zen-4``,
``intel-amx``, ``...-bf16`` for a bfloat16 run), which replaces only that kind's earlier one.
``--readme`` rewrites the README's speed table from those records, one row per CPU kind (the full
tables are on the documentation's speed page, rendered from ``cpus/*.md`` at build time). Run
``--help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
FRAMEWORKS = ("keras-tensorflow", "spikingjelly", "snntorch", "keras-jax", "keras-torch")
#: Mixed-precision variants, not run by default: "-bf16" (Keras "mixed_bfloat16", torch.autocast).
OPTIONAL = tuple(f"{f}-bf16" for f in ("keras-tensorflow", "keras-torch", "keras-jax", "spikingjelly"))
LABELS = {
    "spikingjelly": "SpikingJelly",
    "snntorch": "snnTorch",
    "keras-tensorflow": "keras-trt TF",
    "keras-jax": "keras-trt JAX",
    "keras-torch": "keras-trt torch",
}
LABELS.update({f"{f}-bf16": f"{LABELS[f]} bf16" for f in ("keras-tensorflow", "keras-torch", "keras-jax", "spikingjelly")})
REVERSAL_POINTS = ("input", "stem", "stage1", "stage2", "stage3", "stage4")
MARK_BEGIN = "<!-- benchmark-table:begin -->"
MARK_END = "<!-- benchmark-table:end -->"


TORCH_BASED = ("spikingjelly", "snntorch", "keras-torch", "spikingjelly-bf16", "keras-torch-bf16")


class Worker:
    def __init__(self, framework, log_dir, timeout, omp_wait_policy=None):
        self.framework = framework
        self.timeout = timeout
        self.log_path = os.path.join(log_dir, f"{framework}.log")
        env = {**os.environ, "PYTHONPATH": ROOT}
        if omp_wait_policy and framework in TORCH_BASED:
            env["OMP_WAIT_POLICY"] = omp_wait_policy
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", framework],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log_path, "w"),
            text=True, cwd=ROOT, env=env,
        )
        self.failed = None

    def send(self, **cmd):
        self._cmd = cmd
        if self.failed:
            return
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.failed = f"worker pipe: {e}"

    def recv(self):
        if self.failed:
            return {"ok": False, "error": self.failed}
        try:
            line = self.proc.stdout.readline()
        except OSError as e:
            line, self.failed = "", f"worker pipe: {e}"
        if not line:
            self.failed = self.failed or f"worker exited (see {self.log_path})"
            return {"ok": False, "error": self.failed}
        reply = json.loads(line)
        if not reply.get("ok"):
            cmd = self._cmd
            print(f"  ! {self.framework} {cmd.get('op')} {cmd.get('key', '')}: {reply.get('error')}",
                  file=sys.stderr)
        return reply

    def ask(self, **cmd):
        self.send(**cmd)
        return self.recv()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.ask(op="quit")
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()


def _warmup(framework):
    """Untimed steps after building: two where the first call compiles (TF graph, XLA)."""
    return 2 if framework.startswith(("keras-tensorflow", "keras-jax")) else 1


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True)


def _stats(samples):
    if not samples:
        return None
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 4 else [s[0], statistics.median(s), s[-1]]
    return {"median": statistics.median(s), "min": s[0], "q1": q[0], "q3": q[2], "n": len(s),
            "samples": samples}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="comma-separated, from " + ", ".join(FRAMEWORKS + OPTIONAL))
    p.add_argument("--timesteps", default="2,4", help="comma-separated T values (default 2,4)")
    p.add_argument("--rounds", type=int, default=4, help="alternation rounds (default 4)")
    p.add_argument("--steps", type=int, default=1, help="timed training steps per workload per round (default 1)")
    p.add_argument("--infer-steps", type=int, default=3,
                   help="timed inference batches per workload per round (default 3: they are short)")
    p.add_argument("--curve-backend", default="keras-tensorflow",
                   help="keras-trt backend for the TRT-cost curve over reversal points, or 'none'")
    p.add_argument("--curve-rounds", type=int, default=2, help="rounds of the curve (default 2)")
    p.add_argument("--no-check", action="store_true", help="skip the shared-weights equality check")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: T=2, 1 round of 1 step, no curve")
    p.add_argument("--model", default="resnet18", choices=common.MODELS,
                   help="resnet18 (default) or spikformer (Spikformer-4-384 against SpikingJelly's "
                        "spikformer_cifar10; keras-trt and spikingjelly only, no curve, no shared-weights "
                        "check: tests/models/test_transformers.py checks the logits)")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results, "
                   "benchmarks/results/spikformer for --model spikformer)")
    p.add_argument("--readme", action="store_true", help="also rewrite README.md's speed table (one row per CPU kind measured)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per worker command")
    p.add_argument("--omp-wait-policy", default="default",
                   help="OMP_WAIT_POLICY of the torch-based workers ('default' leaves it unset, "
                        "as users run torch; on an idle machine that is torch's fastest. PASSIVE "
                        "when the machine is shared: OpenMP's spinning threads then slow torch "
                        "several-fold)")
    args = p.parse_args(argv)
    if args.quick:
        args.timesteps, args.rounds, args.steps, args.infer_steps, args.curve_backend = "2", 1, 1, 1, "none"
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    if args.model == "spikformer":
        args.frameworks = [f for f in args.frameworks if f != "snntorch"]
        args.curve_backend, args.no_check = "none", True
    if args.out is None:
        args.out = RESULTS if args.model == "resnet18" else os.path.join(RESULTS, args.model)
    if args.readme and args.model != "resnet18":
        raise SystemExit("--readme: the README's headline table is the ResNet-18's; run --model "
                         f"{args.model} without --readme (its tables go to {args.out}).")
    os.environ["KERAS_TRT_BENCH_MODEL"] = args.model  # the workers inherit it
    unknown = set(args.frameworks) - set(FRAMEWORKS + OPTIONAL)
    if unknown:
        p.error(f"unknown frameworks {sorted(unknown)}; choose from {FRAMEWORKS + OPTIONAL}")
    args.timesteps = [int(t) for t in args.timesteps.split(",")]
    if args.curve_backend != "none" and args.curve_backend not in args.frameworks:
        args.curve_backend = "none"
    return args


def workloads(framework, timesteps):
    """``[(key, kind, T, reverse_at)]`` of one framework.

    keras-trt's TRT step and TRT-trained inference are timed right after the plain step /
    inference of the same worker, so that their ratios compare measurements seconds apart; so
    is the plain step on a doubled batch (``train2b``), the same work as the TRT step's two
    branches without the reversal and the star product.
    """
    out = []
    for kind, trt_kinds in (("train", ("trt", "train2b")), ("infer", ("trtinfer",))):
        for i, t in enumerate(timesteps):
            out.append((f"{kind}_T{t}", kind, t, None))
            if framework.startswith("keras-") and i == 0:
                for trt_kind in trt_kinds:
                    key = f"{trt_kind}_T{t}" if trt_kind == "train2b" else f"{trt_kind}_T{t}_stem"
                    out.append((key, trt_kind, t, None if trt_kind == "train2b" else "stem"))
    return out


#: The plain kind each workload kind is scheduled with.
GROUP = {"train": "train", "trt": "train", "train2b": "train", "infer": "infer", "trtinfer": "infer"}


def schedule(frameworks, timesteps, rnd):
    """One round: for each plain workload, every framework in turn (rotated by the round),
    each keras-trt worker followed by its TRT counterpart. ``[(framework, key)]``."""
    order = frameworks[rnd % len(frameworks):] + frameworks[:rnd % len(frameworks)]
    out = []
    for kind in ("train", "infer"):
        for t in timesteps:
            for fw in order:
                keys = [k for k, knd, tt, _ in workloads(fw, timesteps) if tt == t and GROUP[knd] == kind]
                out.extend((fw, k) for k in keys)
    return out


def _check(args, record, log_dir):
    """The shared-weights equality check, in fresh processes (after the timings, so that it
    neither disturbs them nor adds to the measured memory; and JAX's float64 switch must not
    meet compiled float32 steps)."""
    ref = next((f for f in args.frameworks if f.startswith("keras-") and not f.endswith("-bf16")), None)
    if ref is None:
        return
    _log(f"shared-weights check: reference {ref}")
    path = os.path.join(log_dir, "shared_weights.npz")
    t = args.timesteps[0]
    check_logs = os.path.join(log_dir, "check")
    os.makedirs(check_logs, exist_ok=True)
    w = Worker(ref, check_logs, args.timeout)
    w.ask(op="init")
    r = w.ask(op="export", path=path, T=t)
    w_all = {ref: w}
    if r.get("ok"):
        record["check"] = {"reference": ref, "T": t, "results": {}}
        others = [f for f in args.frameworks if f != ref]
        for f in others:  # the checks are light: run them side by side
            w_all[f] = Worker(f, check_logs, args.timeout,
                              None if args.omp_wait_policy == "default" else args.omp_wait_policy)
            w_all[f].send(op="init")
        for f in others:
            w_all[f].recv()
        for f in w_all:
            w_all[f].send(op="check", path=path, T=t)
        for f, wk in w_all.items():
            c = wk.recv()
            if c.get("ok"):
                record["check"]["results"][f] = {k: c[k] for k in ("float64", "float32")}
            else:
                record["errors"].append(f"{f} check: {c.get('error')}")
    else:
        record["errors"].append(f"{ref} export: {r.get('error')}")
    for wk in w_all.values():
        wk.close()


def run(args):
    started = time.time()
    os.makedirs(args.out, exist_ok=True)
    log_dir = tempfile.mkdtemp(prefix="bench-logs-")
    record = {
        "benchmark": (
            "CIFAR-stem spiking ResNet-18, LIF tau=2 hard reset detach_reset ATan"
            if args.model == "resnet18" else
            "Spikformer-4-384 (spikformer_cifar10: patch 4, 12 heads), LIF tau=2 hard reset detach_reset sigmoid"
        ) + f", B={common.BATCH}, {common.NUM_CLASSES} classes, 32x32x3, SGD momentum 0.9",
        "machine": common.machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "threads": common.THREADS,
        "load_before": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "frameworks": {},
        "errors": [],
    }
    t_first = args.timesteps[0]
    workers = {}
    # ---------------------------------------------------------------- setup and memory
    # A keras-trt worker first: it exports the shared weights of the equality check.
    for fw in sorted(args.frameworks, key=lambda f: (not f.startswith("keras-"), f.endswith("-bf16"))):
        _log(f"starting {fw}")
        w = Worker(fw, log_dir, args.timeout,
                   None if args.omp_wait_policy == "default" else args.omp_wait_policy)
        workers[fw] = w
        info = w.ask(op="init")
        entry = record["frameworks"][fw] = {"label": LABELS[fw], "times": {}, "memory": None,
                                            "rss_after_import_mib": (info.get("memory") or {}).get("rss_mib")}
        first = f"train_T{t_first}"
        setup = w.ask(op="setup", key=first, kind="train", T=t_first, warmup=_warmup(fw))
        mem = w.ask(op="memory", key=first, n=2) if setup.get("ok") else setup
        if mem.get("ok"):
            entry["memory"] = {
                "peak_rss_mib": mem["after"]["hwm_mib"],
                "rss_before_steps_mib": mem["before"]["rss_mib"],
                "peak_incl_setup_mib": mem["before"]["hwm_mib"],
                "hwm_reset": mem["reset"],
                "T": t_first,
            }
        else:
            record["errors"].append(f"{fw} memory: {mem.get('error')}")
        for key, kind, t, rev in workloads(fw, args.timesteps):
            if key == first:
                continue
            _log(f"  setup {fw} {key}")
            r = w.ask(op="setup", key=key, kind=kind, T=t, reverse_at=rev, warmup=_warmup(fw))
            if not r.get("ok"):
                record["errors"].append(f"{fw} setup {key}: {r.get('error')}")
        if fw == args.curve_backend:
            for rev in REVERSAL_POINTS:
                key = f"trt_T{t_first}_{rev}"
                if key in dict((k, 1) for k, *_ in workloads(fw, args.timesteps)):
                    continue
                _log(f"  setup {fw} {key}")
                r = w.ask(op="setup", key=key, kind="trt", T=t_first, reverse_at=rev, warmup=_warmup(fw))
                if not r.get("ok"):
                    record["errors"].append(f"{fw} setup {key}: {r.get('error')}")
            flops = w.ask(op="flops", T=t_first, reverse_at=list(REVERSAL_POINTS))
            if flops.get("ok"):
                record["flops"] = {k: v for k, v in flops.items() if k not in ("ok", "seconds")}
    if "flops" not in record:
        for fw in args.frameworks:
            if fw.startswith("keras-") and not workers[fw].failed:
                flops = workers[fw].ask(op="flops", T=t_first, reverse_at=["stem"])
                if flops.get("ok"):
                    record["flops"] = {k: v for k, v in flops.items() if k not in ("ok", "seconds")}
                break
    setup_done = time.time()
    # ---------------------------------------------------------------- alternating rounds
    for rnd in range(args.rounds):
        _log(f"round {rnd + 1}/{args.rounds}")
        for fw, key in schedule(args.frameworks, args.timesteps, rnd):
            n = args.infer_steps if key.startswith(("infer", "trtinfer")) else args.steps
            time.sleep(0.2)  # the previous worker's threads go idle before the next one computes
            r = workers[fw].ask(op="time", key=key, n=n)
            if r.get("ok"):
                slot = record["frameworks"][fw]["times"].setdefault(key, {"samples": [], "load": []})
                slot["samples"].extend(r["times"])
                slot["load"].append(r["load"])
    # ---------------------------------------------------------------- TRT cost curve
    curve_keys = []
    if args.curve_backend != "none" and not workers[args.curve_backend].failed:
        w = workers[args.curve_backend]
        curve_keys = [f"train_T{t_first}"] + [f"trt_T{t_first}_{r}" for r in REVERSAL_POINTS]
        for rnd in range(args.curve_rounds):
            _log(f"curve round {rnd + 1}/{args.curve_rounds} on {args.curve_backend}")
            keys = curve_keys if rnd % 2 == 0 else curve_keys[::-1]
            for key in keys:
                r = w.ask(op="time", key=key, n=args.steps)
                if r.get("ok"):
                    slot = record["frameworks"][args.curve_backend].setdefault("curve", {}).setdefault(
                        key, {"samples": [], "load": []})
                    slot["samples"].extend(r["times"])
                    slot["load"].append(r["load"])
    timing_done = time.time()
    for w in workers.values():
        w.close()
    if not args.no_check:
        _check(args, record, log_dir)
    # ---------------------------------------------------------------- summary
    for fw, entry in record["frameworks"].items():
        for group in ("times", "curve"):
            for key, slot in entry.get(group, {}).items():
                slot.update(_stats(slot["samples"]) or {})
    record["load_after"] = os.getloadavg()
    record["wall_seconds"] = {"setup": setup_done - started, "timing": timing_done - setup_done,
                              "total": time.time() - started}
    record["logs"] = log_dir
    from benchmarks import report

    record["targets"] = report.targets(record)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(record, f, indent=1)
    md = report.markdown(record)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md)
    if args.out == RESULTS and report.complete(record):  # kept as its CPU kind's record too
        report.file_by_cpu(record, md, RESULTS)
    if args.readme:
        report.update_readme(os.path.join(ROOT, "README.md"), report.readme_table(RESULTS), MARK_BEGIN, MARK_END)
    print(md)
    return record


def main(argv=None):
    args = parse_args(argv)
    run(args)


if __name__ == "__main__":
    main()
