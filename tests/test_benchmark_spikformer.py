"""``benchmarks.run --model spikformer``: its workers build keras-trt's and SpikingJelly's
Spikformer-4-384 (spikformer_cifar10) with the same parameter count, and the driver drops what
has no Spikformer (snnTorch, the ResNet-only curve and shared-weights check)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_driver_options_for_the_spikformer(monkeypatch):
    from benchmarks import run

    monkeypatch.delenv("KERAS_TRT_BENCH_MODEL", raising=False)
    args = run.parse_args(["--model", "spikformer", "--frameworks", "keras-torch,spikingjelly,snntorch"])
    assert args.frameworks == ["keras-torch", "spikingjelly"]
    assert args.curve_backend == "none" and args.no_check
    assert args.out.endswith(os.path.join("results", "spikformer"))
    assert os.environ["KERAS_TRT_BENCH_MODEL"] == "spikformer"
    monkeypatch.delenv("KERAS_TRT_BENCH_MODEL")
    assert run.parse_args([]).out.endswith("results")


def test_workers_build_the_same_spikformer():
    pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    code = (
        "import numpy as np, torch\n"
        "from benchmarks import keras_net, torch_nets\n"
        "model = keras_net.build(2)\n"
        "net = torch_nets.build('spikingjelly', 2)\n"
        "ours = sum(int(np.prod(v.shape)) for v in model.trainable_weights)\n"
        "theirs = sum(p.numel() for p in net.parameters())\n"
        "out = net(torch.zeros(2, 1, 3, 32, 32)); net.reset_state()\n"
        "print(model.name, ours, theirs, tuple(out.shape))\n"
    )
    env = dict(os.environ, KERAS_TRT_BENCH_MODEL="spikformer", PYTHONPATH=ROOT, KERAS_BACKEND="torch")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-5:] == ["spikformer_cifar10", "9310906", "9310906", "(1,", "10)"]
