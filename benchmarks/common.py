"""Settings shared by the driver and the workers: the workload, threads, memory, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

BATCH = 32
IMAGE = (32, 32, 3)
NUM_CLASSES = 10
TAU = 2.0
THREADS = 2
SEED = 1234
#: The benchmarked network: "resnet18" (the CIFAR-stem spiking ResNet-18, default) or "spikformer"
#: (Spikformer-4-384, SpikingJelly's ``spikformer_cifar10``). ``benchmarks.run --model`` sets it
#: for its workers.
MODEL = __import__("os").environ.get("KERAS_TRT_BENCH_MODEL", "resnet18")
MODELS = ("resnet18", "spikformer")


def limit_threads(framework):
    """Pins every framework to ``THREADS`` compute threads. Call before any tensor work."""
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    os.environ.setdefault("MKL_NUM_THREADS", str(THREADS))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(THREADS))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if framework in ("spikingjelly", "snntorch", "keras-torch"):
        import torch

        torch.set_num_threads(THREADS)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set
            pass
    if framework == "keras-tensorflow":
        import keras_trt  # noqa: F401  (loads TensorFlow with keras-trt's options, as users do)
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(THREADS)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the runtime is already initialised
            pass


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def memory():
    """``{"rss_mib", "hwm_mib"}``: the process's resident set now and its high-water mark."""
    rss, hwm = _status_kib("VmRSS"), _status_kib("VmHWM")
    return {"rss_mib": rss / 1024 if rss else None, "hwm_mib": hwm / 1024 if hwm else None}


def reset_peak_memory():
    """Resets the kernel's resident-set high-water mark (VmHWM) of this process to VmRSS.

    Returns False where the kernel refuses (then the peak covers the process's whole life).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# AMD's core generations by (family, model range), from AMD's processor programming references:
# the model name of a cloud VM ("AMD EPYC") does not say which one it is, and the generations
# differ in what speeds these networks up (Zen 3: AVX2 only; Zen 4: AVX-512 with AVX512_BF16).
_AMD_CORES = (
    (23, range(0x00, 0x30), "Zen/Zen+"), (23, range(0x30, 0x100), "Zen 2"),
    (25, range(0x00, 0x10), "Zen 3"), (25, range(0x10, 0x20), "Zen 4"),
    (25, range(0x20, 0x60), "Zen 3"), (25, range(0x60, 0x80), "Zen 4"),
    (25, range(0xA0, 0xB0), "Zen 4c"), (26, range(0x00, 0x100), "Zen 5"),
)


def cpu_kind(vendor, family, model, flags):
    """The CPU kind a speed table holds for: the core generation where the vendor's numbering
    tells it (AMD) and the vector/matrix extensions that decide the fast paths.

    >>> cpu_kind("AuthenticAMD", 25, 0x11, {"avx2", "avx512f", "avx512_bf16"})
    'AMD Zen 4; AVX-512, AVX512_BF16, no AMX'
    >>> cpu_kind("GenuineIntel", 6, 143, {"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})
    'Intel; AVX-512, AVX512_BF16, AMX'
    >>> cpu_kind("AuthenticAMD", 25, 0x01, {"avx2", "fma"})
    'AMD Zen 3; AVX2, no AVX-512'
    """
    name = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(vendor, vendor or "unknown CPU")
    if name == "AMD":
        name += next((f" {core}" for fam, models, core in _AMD_CORES if fam == family and model in models), "")
    if "avx512f" not in flags:
        isa = ["AVX2" if "avx2" in flags else "no AVX2", "no AVX-512"]
    else:
        isa = ["AVX-512"] + (["AVX512_BF16"] if "avx512_bf16" in flags else [])
        isa.append("AMX" if "amx_bf16" in flags else "no AMX")
    return f"{name}; {', '.join(isa)}"


def machine():
    """A description of this machine and the software versions."""
    cpu = platform.processor() or "?"
    flags, vendor, family, model = set(), None, None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name":
                    cpu = value
                elif key == "flags":
                    flags = set(value.split())
                elif key == "vendor_id":
                    vendor = value
                elif key == "cpu family" and value.isdigit():
                    family = int(value)
                elif key == "model" and value.isdigit():
                    model = int(value)
                if key == "flags":
                    break  # the first core's entry is enough
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in ("keras", "tensorflow", "jax", "jaxlib", "torch", "spikingjelly", "snntorch", "numpy"):
        try:
            from importlib.metadata import version

            versions[name] = version(name if name != "tensorflow" else "tensorflow-cpu")
        except Exception:
            try:
                versions[name] = version(name)
            except Exception:
                versions[name] = None
    try:
        import keras_trt

        versions["keras_trt"] = keras_trt.__version__
    except Exception:
        versions["keras_trt"] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=10,
        ).stdout.strip() or None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=10,
        ).stdout.strip()
        if commit and dirty:
            commit += "+dirty"
    except Exception:
        commit = None
    return {
        "cpu": cpu,
        "cpu_kind": cpu_kind(vendor, family, model, flags),
        "cores": os.cpu_count(),
        "ram_gib": mem_gib,
        "isa": sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "fma"))),
        "os": platform.platform(),
        "python_executable": sys.executable,
        "versions": versions,
        "git_commit": commit,
    }
