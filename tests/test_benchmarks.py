"""The benchmark's bookkeeping: its FLOP counts against PyTorch's FLOP counter on the peer's
network, and its target verdicts on a hand-made record. (Timings are never asserted.)"""

import json

import numpy as np
import pytest

from benchmarks import keras_net, report

pytestmark = pytest.mark.backend_independent


T = 2


@pytest.fixture(scope="module")
def torch_flops():
    """PyTorch's own count (``FlopCounterMode``) on SpikingJelly's ResNet-18, one image.

    Independent of ``keras_net``: it counts what torch's convolution and linear kernels are
    asked to do, forward and (for a training step) backward, with the input not requiring a
    gradient, as in training.
    """
    torch = pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks import torch_nets

    net = torch_nets.build("spikingjelly", T)
    x = torch.rand(T, 1, 3, 32, 32)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.eval()
        net(x)
    forward = counter.get_total_flops()
    net.reset_state()
    net.train()
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    net.reset_state()
    ops = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    return forward, ops


@pytest.fixture(scope="module")
def keras_models():
    return {rev: keras_net.build(T, reverse_at=rev) for rev in ("stem", "stage4")}


def test_flop_counts_match_torch_flop_counter(torch_flops, keras_models):
    forward, training = torch_flops
    model = keras_models["stem"]
    # The "about 1.11 GFLOP per image per time step".
    assert keras_net.inference_gflops_per_image_step(model) * 1e9 * T == pytest.approx(forward, rel=1e-9)
    # A training step's convolutions, forward and backward (the first one without an input
    # gradient). The classifiers differ on purpose: SpikingJelly's runs at every time step,
    # keras_trt's once on the time-averaged features (the same logits, 1/T of the work).
    convolutions = training["aten.convolution"] + training["aten.convolution_backward"]
    assert model.get_layer("classifier").output.shape == (None, 10)
    classifier = 3 * 2.0 * 512 * 10
    assert keras_net.conv_flops(model, trt=False) == pytest.approx(convolutions + classifier, rel=1e-12)


def test_trt_flop_ratio_counts_the_reversed_branch(keras_models):
    plain = keras_net.conv_flops(keras_models["stem"], trt=False)
    # After the stem, every layer but the stem runs twice and the classifier three times (the
    # star product's third branch). The stem is 3x3x3x64 MACs per pixel of 32x32 per time
    # step, forward (2 FLOP/MAC) + weight gradient (no input gradient).
    # The classifier runs once per image (on time-averaged features): forward + backward.
    stem = 2.0 * T * 32 * 32 * 64 * 3 * 3 * 3 * 2
    classifier = 2.0 * 512 * 10 * 3
    ratio = keras_net.conv_flops(keras_models["stem"], trt=True) / plain
    assert ratio == pytest.approx((2 * (plain - stem - classifier) + stem + 3 * classifier) / plain)
    # With the reversal after the last stage only the classifier runs on more than one branch.
    ratio4 = keras_net.conv_flops(keras_models["stage4"], trt=True) / plain
    assert ratio4 == pytest.approx(1 + 2 * classifier / plain)


def _slot(samples):
    return {"samples": samples, "median": float(np.median(samples))}


def _record():
    times = {
        "spikingjelly": {"train_T2": [1.0, 1.2, 1.1], "infer_T2": [0.5, 0.5, 0.4]},
        "keras-tensorflow": {
            "train_T2": [0.8, 0.9, 0.85], "infer_T2": [0.3, 0.45, 0.4],
            "trt_T2_stem": [1.7, 1.7, 1.7], "train2b_T2": [1.8, 1.8, 1.8],
            "trtinfer_T2_stem": [0.4, 0.4, 0.4],
        },
        "keras-jax": {"train_T2": [1.5, 1.5, 1.5], "infer_T2": [0.6, 0.6, 0.6]},
    }
    frameworks = {
        fw: {"label": fw, "times": {k: _slot(v) for k, v in t.items()},
             "memory": {"peak_rss_mib": 1000.0 if fw == "spikingjelly" else 900.0},
             "rss_after_import_mib": 200.0 if fw == "spikingjelly" else 300.0}
        for fw, t in times.items()
    }
    return {
        "frameworks": frameworks, "settings": {"timesteps": [2], "rounds": 3, "steps": 1},
        "flops": {"plain": 100.0, "stem": 200.0},
    }


def test_targets_verdicts():
    got = {t["target"]: t for t in report.targets(_record())}
    best = got["train T=2: fastest keras-trt / SpikingJelly"]
    assert best["value"] == pytest.approx(0.85 / 1.1) and not best["met"]  # the goal is 0.75x
    assert best["limit"] == 0.75 and best["note"] == "fastest: keras-tensorflow"
    assert not got["train T=2: keras-jax / SpikingJelly"]["met"]  # 1.5 / 1.1 > 1.0
    assert got["train T=2: keras-tensorflow / SpikingJelly"]["met"]  # 0.85 / 1.1
    infer = got["infer T=2: fastest keras-trt / SpikingJelly"]
    assert infer["value"] == pytest.approx(0.4 / 0.5) and infer["met"]
    # Memory above the post-import RSS: 600 MiB vs SpikingJelly's 800 MiB.
    mem = got["training memory (peak RSS - RSS after import): keras-tensorflow / SpikingJelly"]
    assert mem["value"] == pytest.approx(0.75) and mem["met"]
    trt = got["TRT step / plain step T=2 (reverse_at=stem): keras-tensorflow"]
    assert trt["value"] == pytest.approx(2.0) and trt["met"]
    # Against the same work (the plain step on 2B): medians, and the ratio of each round's pair.
    double = got["TRT step / plain step on 2B T=2: keras-tensorflow"]
    assert double["value"] == pytest.approx(1.7 / 1.8) and double["met"]
    assert "per round 0.944-0.944 (3 rounds)" in double["note"]
    trt_infer = got["TRT-trained inference / plain inference T=2: keras-tensorflow"]
    assert trt_infer["value"] == pytest.approx(1.0) and trt_infer["met"]


def test_targets_catch_a_slow_trt_round():
    record = _record()
    record["frameworks"]["keras-tensorflow"]["times"]["trt_T2_stem"] = _slot([1.7, 2.2, 1.8])
    got = {t["target"]: t for t in report.targets(record)}
    double = got["TRT step / plain step on 2B T=2: keras-tensorflow"]
    assert double["value"] == pytest.approx(1.0) and double["met"]  # the median is fine
    assert "per round 0.944-1.222" in double["note"]  # the slow round shows


def test_report_renders_a_saved_record_again(tmp_path, capsys):
    record = _record()
    record.update(machine={"cpu": "CPU", "cores": 2, "ram_gib": 1, "versions": {}},
                  threads=2, load_before=[0.1], load_after=[0.2], started="now")
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record))
    report.main([str(path)])
    md = (tmp_path / "run.md").read_text()
    assert "**Targets**" in md and "| train T=2: keras-jax / SpikingJelly | 1.364 | 1.0 | **no** |" in md


def test_markdown_table_and_readme_update(tmp_path):
    record = _record()
    record.update(machine={"cpu": "CPU", "cores": 2, "ram_gib": 1, "versions": {}},
                  threads=2, load_before=[0.1], load_after=[0.2], started="now")
    record["targets"] = report.targets(record)
    md = report.markdown(record)
    # Columns in the record's order; ratios against SpikingJelly.
    assert "| training step, T=2 | 1.100 | 0.850 (0.77x) | 1.500 (1.36x) |" in md
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- b -->\nold\n<!-- e -->\nafter\n")
    report.update_readme(str(readme), md, "<!-- b -->", "<!-- e -->")
    text = readme.read_text()
    assert text.startswith("intro\n<!-- b -->\n") and text.endswith("<!-- e -->\nafter\n")
    assert "old" not in text and "0.850 (0.77x)" in text


@pytest.mark.parametrize("vendor, family, model, flags, kind", [
    # /proc/cpuinfo of the three machine kinds this project has run on, and a Zen 5.
    ("AuthenticAMD", 25, 1, {"avx2", "fma"}, "AMD Zen 3; AVX2, no AVX-512"),
    ("AuthenticAMD", 25, 17, {"avx2", "avx512f", "avx512_bf16", "avx512_vnni"},
     "AMD Zen 4; AVX-512, AVX512_BF16, no AMX"),
    ("GenuineIntel", 6, 143, {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"},
     "Intel; AVX-512, AVX512_BF16, AMX"),
    ("AuthenticAMD", 26, 2, {"avx2", "avx512f", "avx512_bf16"}, "AMD Zen 5; AVX-512, AVX512_BF16, no AMX"),
    (None, None, None, set(), "unknown CPU; no AVX2, no AVX-512"),
])
def test_cpu_kind_names_the_core_and_extensions(vendor, family, model, flags, kind):
    from benchmarks import common

    assert common.cpu_kind(vendor, family, model, flags) == kind


def test_table_header_names_the_cpu_kind():
    record = _record()
    record.update(machine={"cpu": "AMD EPYC", "cpu_kind": "AMD Zen 4; AVX-512, AVX512_BF16, no AMX",
                           "cores": 2, "ram_gib": 1, "versions": {}},
                  threads=2, load_before=[0.1], load_after=[0.2], started="now")
    record["targets"] = report.targets(record)
    assert "AMD EPYC (AMD Zen 4; AVX-512, AVX512_BF16, no AMX), 2 cores" in report.markdown(record)


def _bf16_record():
    """A bfloat16 run: SpikingJelly under autocast and two keras-trt backends in bfloat16."""
    record = _record()
    times = {"keras-tensorflow-bf16": [0.80, 0.90, 0.85], "keras-torch-bf16": [1.2, 1.3, 1.25],
             "spikingjelly-bf16": [1.0, 1.0, 1.0]}
    record["frameworks"] = {fw: {"label": report_label, "times": {"train_T2": _slot(t), "infer_T2": _slot([x / 3 for x in t])}}
                            for (fw, t), report_label in zip(times.items(), ("keras-trt TF bf16", "keras-trt torch bf16", "SpikingJelly bf16"))}
    record.update(machine={"cpu": "AMD EPYC", "cpu_kind": "AMD Zen 4; AVX-512, AVX512_BF16, no AMX", "cores": 2,
                           "ram_gib": 1, "versions": {}},
                  threads=2, load_before=[0.1], load_after=[0.2], started="2026-12-02 10:00")
    return record


def test_bf16_target_against_autocast():
    got = {t["target"]: t for t in report.targets(_bf16_record())}
    train = got["train T=2, bfloat16: fastest keras-trt / SpikingJelly (autocast)"]
    assert train["value"] == pytest.approx(0.85) and train["met"] and train["note"] == "fastest: keras-tensorflow-bf16"
    assert report.complete(_bf16_record())


def test_kinds_table_one_row_per_kind_and_precision():
    fp32 = _record()
    fp32["frameworks"]["keras-torch"] = fp32["frameworks"]["keras-jax"]
    fp32.update(machine={"cpu": "AMD EPYC", "cpu_kind": "AMD Zen 3; AVX2, no AVX-512", "cores": 2, "ram_gib": 1,
                         "versions": {}}, threads=2, load_before=[0.3], load_after=[2.0], started="2026-11-29 13:20")
    assert report.complete(fp32) and report.cpu_slug(fp32) == "amd-zen-3"
    bf16 = _bf16_record()
    assert report.cpu_slug(bf16) == "amd-zen-4-bf16"
    table = report.kinds_table([bf16, fp32])
    header, rule, first, second = table.strip().splitlines()
    assert first.startswith("| AMD Zen 3; AVX2, no AVX-512 (2026-11-29, 3 rounds, load 0.3 before) | TF 0.77x · JAX 1.36x · torch 1.36x |")
    assert second.startswith("| AMD Zen 4; AVX-512, AVX512_BF16, no AMX, bfloat16 (2026-12-02") and "TF bf16 0.85x · torch bf16 1.25x" in second
    assert first.count("| – |") == 2  # T=4 not measured: marked, not invented


def test_incomplete_runs_do_not_stand_for_a_cpu_kind(tmp_path):
    smoke = _record()  # no keras-torch
    assert not report.complete(smoke)
    one_round = _bf16_record()
    one_round["settings"]["rounds"] = 1
    assert not report.complete(one_round)
    path = report.file_by_cpu(_bf16_record(), "table", str(tmp_path))
    assert path.endswith("cpus/amd-zen-4-bf16.json") and (tmp_path / "cpus" / "amd-zen-4-bf16.md").read_text() == "table"
