"""Per-step latency of streamed inference: keras-trt's Stream against SpikingJelly's single-step
mode and snnTorch's stateful neurons.

    .venv/bin/python -m benchmarks.streaming                 # all frameworks, 5 rounds
    .venv/bin/python -m benchmarks.streaming --rounds 2 --frameworks keras-jax spikingjelly

A stream gets one new step per call (the live case) and returns the output after it (the
classifier on the running firing rate). Two networks, at batch 1 and batch 32:

- **mlp**: the BasicMotions spiking MLP (``smlp-basicmotions-t20``: 6 channels per step,
  Dense-BN-LIF 64, Dense-BN-LIF 64, running firing rate, Dense 4);
- **resnet18**: the CIFAR-stem spiking ResNet-18 of the training benchmark
  (``benchmarks/torch_nets.py``), a 32x32x3 image shown at every step.

keras-trt: ``keras_trt.streaming.Stream(model, batch_size=B)`` (stateful; the step compiled
with ``jax.jit`` on JAX and ``tf.function`` on TensorFlow, eager without autograd on torch).
SpikingJelly 2.0.0: the same layers in ``step_mode="s"`` (``LIFNode`` keeps its membrane
between calls; ``functional.reset_net`` starts a stream). snnTorch 1.0.0: ``snn.Leaky`` with
the membrane kept between calls (``beta = 1 - 1/tau`` on ``input / tau``, SpikingJelly's
charge; see ``benchmarks/torch_nets.py``). Both peers run under ``torch.no_grad``.

One process per framework, run one after another (not alternated as ``benchmarks.run`` does):
a loaded machine biases the ratios, so run it on a quiet one or read the spread. Each round
times a stream of ``STEPS`` one-step calls after a warm-up stream; the table gives the median
over rounds of the mean time per step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import common

FRAMEWORKS = ("keras-tensorflow", "keras-jax", "keras-torch", "spikingjelly", "snntorch")
NETS = ("mlp", "resnet18")
BATCHES = (1, 32)
STEPS = 10  # one-step calls per timed stream
MLP = dict(features=6, hidden=64, classes=4)
HERE = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------- keras-trt
def _keras_stream(net, batch):
    import keras_trt
    from keras_trt import streaming

    if net == "mlp":
        model = keras_trt.zoo.load("smlp-basicmotions-t20")
    else:
        from benchmarks import keras_net

        model = keras_net.build(timesteps=4)
    stream = streaming.Stream(model, batch_size=batch)

    def step(x):
        return stream(x)

    def reset():
        stream.reset_state()

    return step, reset, stream.static_input


# ----------------------------------------------------------------------------- SpikingJelly
class _Running:
    """The running firing rate of ``[B, C]`` features and the classifier on it."""

    def __init__(self, fc):
        self.fc, self.total, self.n = fc, None, 0

    def __call__(self, features):
        self.total = features if self.total is None else self.total + features
        self.n += 1
        return self.fc(self.total / self.n)

    def reset(self):
        self.total, self.n = None, 0


def _torch_stepper(body, head, fc, reset_neurons, static):
    """``(step, reset, static)`` of a PyTorch stream: ``head`` gives the step's features, the
    classifier ``fc`` reads their running rate; ``reset_neurons`` clears the membranes."""
    import torch

    body.eval()
    running = _Running(fc)

    def step(x):
        with torch.no_grad():
            return running(head(x))

    def reset():
        reset_neurons()
        running.reset()

    return step, reset, static


def _sj_stream(net, batch):
    import torch
    import torch.nn as nn
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    from benchmarks import torch_nets

    if net == "mlp":
        def lif():
            return neuron.LIFNode(tau=common.TAU, decay_input=True, v_threshold=1.0, v_reset=0.0,
                                  detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="s")

        body = nn.Sequential(
            layer.Linear(MLP["features"], MLP["hidden"], bias=False), layer.BatchNorm1d(MLP["hidden"]), lif(),
            layer.Linear(MLP["hidden"], MLP["hidden"], bias=False), layer.BatchNorm1d(MLP["hidden"]), lif(),
        )
        fc = nn.Linear(MLP["hidden"], MLP["classes"])
        functional.set_step_mode(body, "s")
        head = body
    else:
        res = torch_nets.SJResNet18()
        functional.set_step_mode(res, "s")
        fc = res.fc

        def head(x):
            x = res.sn1(res.bn1(res.conv1(x)))
            for i in range(1, 5):
                x = getattr(res, f"layer{i}")(x)
            return torch.flatten(res.avgpool(x), 1)

        body = res
    return _torch_stepper(body, head, fc, lambda: functional.reset_net(body), net != "mlp")


# ----------------------------------------------------------------------------- snnTorch
def _snntorch_stream(net, batch):
    import torch.nn as nn

    from benchmarks import torch_nets

    class StatefulLIF(torch_nets.SnnTorchLIF):
        """snnTorch ``Leaky`` with its membrane kept between calls (one step per call)."""

        def __init__(self):
            super().__init__(timesteps=1)
            self.mem = None

        def forward(self, x):
            if self.mem is None:
                self.mem = self.leaky.reset_mem()
            spk, self.mem = self.leaky(x * (1.0 / common.TAU), self.mem)
            return spk.to(x.dtype)

    def stateful(module):
        for name, child in module.named_children():
            if isinstance(child, torch_nets.SnnTorchLIF):
                setattr(module, name, StatefulLIF())
            else:
                stateful(child)
        return module

    if net == "mlp":
        body = nn.Sequential(
            nn.Linear(MLP["features"], MLP["hidden"], bias=False), nn.BatchNorm1d(MLP["hidden"]),
            torch_nets.SnnTorchLIF(1),
            nn.Linear(MLP["hidden"], MLP["hidden"], bias=False), nn.BatchNorm1d(MLP["hidden"]),
            torch_nets.SnnTorchLIF(1),
        )
        stateful(body)
        fc = nn.Linear(MLP["hidden"], MLP["classes"])
        head = body
    else:
        res = stateful(torch_nets.SnnTorchResNet18(timesteps=1))
        fc = res.fc

        def head(x):
            x = res.sn1(res.bn1(res.conv1(x)))
            for i in range(1, 5):
                x = getattr(res, f"layer{i}")(x)
            return x.mean((2, 3))

        body = res

    def reset_neurons():
        for m in body.modules():
            if isinstance(m, StatefulLIF):
                m.mem = None

    return _torch_stepper(body, head, fc, reset_neurons, net != "mlp")


# ----------------------------------------------------------------------------- worker
def _inputs(framework, net, batch, static):
    rng = np.random.default_rng(common.SEED)
    keras_side = framework.startswith("keras")
    if net == "mlp":
        x = rng.normal(size=(batch, STEPS, MLP["features"])).astype("float32")
        steps = [x[:, t:t + 1] if keras_side else x[:, t] for t in range(STEPS)]
    else:
        image = rng.random((batch,) + common.IMAGE).astype("float32")
        steps = [image if keras_side else np.ascontiguousarray(image.transpose(0, 3, 1, 2))] * STEPS
    if not keras_side:
        import torch

        steps = [torch.from_numpy(s) for s in steps]
    return steps


def _block(out):
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    elif hasattr(out, "numpy"):
        np.asarray(out)


def worker(framework, rounds, nets, batches):
    if framework.startswith("keras"):
        os.environ["KERAS_BACKEND"] = framework.split("-", 1)[1]
    common.limit_threads(framework)
    make = _keras_stream if framework.startswith("keras") else (
        _sj_stream if framework == "spikingjelly" else _snntorch_stream)
    results = {}
    for net in nets:
        for batch in batches:
            step, reset, static = make(net, batch)
            steps = _inputs(framework, net, batch, static)
            for x in steps[:3]:  # warm-up: compiles the step on JAX and TensorFlow
                _block(step(x))
            reset()
            samples = []
            for _ in range(rounds):
                reset()
                start = time.perf_counter()
                for x in steps:
                    out = step(x)
                _block(out)
                samples.append((time.perf_counter() - start) / len(steps))
            results[f"{net}/b{batch}"] = samples
    return results


# ----------------------------------------------------------------------------- driver
def _render(report):
    machine = report["machine"]
    lines = [
        "# Streamed inference: time per step (one new step per call)",
        "",
        f"CPU: {machine['cpu']}{f', {k}' if (k := machine.get('cpu_kind')) else ''} ({machine['cores']} cores visible, {common.THREADS} threads per framework); "
        f"{report['rounds']} rounds of {STEPS} steps, median of the per-round mean. Frameworks ran one after "
        f"another in one run ({report['started']}); load average at the start {report['load']}.",
        "",
        "| network | batch | " + " | ".join(report["frameworks"]) + " | best keras-trt / SpikingJelly | best keras-trt / snnTorch |",
        "|---|---:|" + "---:|" * (len(report["frameworks"]) + 2),
    ]
    for key in report["workloads"]:
        net, batch = key.split("/b")
        medians = {f: float(np.median(report["samples"][f][key])) for f in report["frameworks"]
                   if key in report["samples"].get(f, {})}
        cells = [f"{1e3 * medians[f]:.2f} ms" if f in medians else "n/a" for f in report["frameworks"]]
        keras_best = min((v for f, v in medians.items() if f.startswith("keras")), default=None)

        def ratio(peer):
            return f"{keras_best / medians[peer]:.2f}x" if keras_best and peer in medians else "n/a"

        lines.append(f"| {net} | {batch} | " + " | ".join(cells) + f" | {ratio('spikingjelly')} | {ratio('snntorch')} |")
    lines += ["", "Ratios below 1 mean keras-trt's fastest backend takes less time per step than the peer."]
    return "\n".join(lines) + "\n"


def _write(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS))
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.rounds, args.nets, args.batches)))
        return None
    report = {
        "machine": common.machine(), "rounds": args.rounds, "frameworks": args.frameworks,
        "workloads": [f"{n}/b{b}" for n in args.nets for b in args.batches], "samples": {},
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": " ".join(f"{v:.1f}" for v in os.getloadavg()),
    }
    root = os.path.dirname(HERE)
    for i, framework in enumerate(args.frameworks):
        print(f"[{i + 1}/{len(args.frameworks)}] {framework} ...", flush=True)
        cmd = [sys.executable, "-m", "benchmarks.streaming", "--worker", framework, "--rounds", str(args.rounds),
               "--nets", *args.nets, "--batches", *map(str, args.batches)]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"{framework} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        report["samples"][framework] = json.loads(line[len("RESULT "):])
    os.makedirs(args.output, exist_ok=True)
    _write(os.path.join(args.output, "streaming.json"), json.dumps(report, indent=1))
    table = _render(report)
    _write(os.path.join(args.output, "streaming.md"), table)
    print(table)
    return report


if __name__ == "__main__":
    main()
