"""The JAX-on-CPU process settings of keras_trt/_jax_cpu.py: applied where they help, never
leaked to subprocesses, each with a working switch; their effect checked (XLA's debug options,
page faults), not their speed."""

import os
import subprocess
import sys

import pytest

from backend_utils import BACKEND
from keras_trt import _jax_cpu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_TRT_", "XLA_", "GLIBC_TUNABLES"))}
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    return env


def _jaxlib_is_measured():
    try:
        from jaxlib import version as jaxlib_version
    except ImportError:
        return False
    return jaxlib_version.__version__.startswith(_jax_cpu.XLA_CPU_OPTION_JAXLIB)


def test_xla_cpu_option_only_where_measured_and_never_over_the_users_flags():
    wanted = BACKEND == "jax" and _jaxlib_is_measured()
    assert _jax_cpu.xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_enable_fast_math=false"}) is wanted
    assert _jax_cpu.xla_cpu_option_wanted({}) is wanted
    # The user's own YNNPACK setting wins; the opt-out switch refuses it.
    assert not _jax_cpu.xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"})
    assert not _jax_cpu.xla_cpu_option_wanted({"KERAS_TRT_XLA_CPU_OPTION": "0"})
    # Whatever happened at import, the option never stays in this process's environment.
    assert _jax_cpu.XLA_CPU_OPTION not in os.environ.get("XLA_FLAGS", "")


# The child imports keras_trt on JAX with a user flag of its own (an XLA dump folder, which also
# records the debug options XLA compiled with), checks its environment is untouched, starts a
# grandchild, and compiles one convolution.
_XLA_CHILD = """
import os, subprocess, sys
before = os.environ.get("XLA_FLAGS")
import keras_trt, jax, jax.numpy as jnp
from keras_trt import _jax_cpu
assert os.environ.get("XLA_FLAGS") == before, os.environ.get("XLA_FLAGS")
grandchild = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('XLA_FLAGS'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
conv(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 2))).block_until_ready()
print("CONFIGURED", _jax_cpu.XLA_CPU_CONFIGURED, "GRANDCHILD", grandchild)
"""


@pytest.mark.backend_independent
@pytest.mark.parametrize("opt_out", [False, True], ids=["default", "opted-out"])
def test_xla_cpu_option_applies_in_process_and_never_leaks_to_subprocesses(tmp_path, opt_out):
    pytest.importorskip("jax")
    if not _jaxlib_is_measured():
        pytest.skip("the option is only applied on the jaxlib releases it was measured on")
    dump = tmp_path / "xla-dump"
    user_flags = f"--xla_dump_to={dump}"
    env = _child_env(XLA_FLAGS=user_flags, **({"KERAS_TRT_XLA_CPU_OPTION": "0"} if opt_out else {}))
    done = subprocess.run([sys.executable, "-c", _XLA_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"CONFIGURED {not opt_out} GRANDCHILD {user_flags}" in done.stdout, done.stdout
    # XLA compiled with the option (it removes single convolutions from the YNNPACK fusions;
    # XLA's default list is not written out, a changed one is).
    options = "".join(p.read_text() for p in dump.glob("*.debug_options"))
    assert "xla_dump_to" in options, sorted(p.name for p in dump.iterdir())
    assert ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT" in options) is not opt_out
    assert "INDIVIDUAL_CONVOLUTION" not in options


def test_cpu_malloc_only_for_jax_on_the_cpu_and_never_when_refused():
    expected = BACKEND == "jax" and _jax_cpu._glibc() is not None
    assert _jax_cpu.cpu_malloc_wanted({"JAX_PLATFORMS": "cpu"}) is expected
    assert not _jax_cpu.cpu_malloc_wanted({"JAX_PLATFORMS": "cpu", "KERAS_TRT_CPU_MALLOC": "0"})
    assert not _jax_cpu.cpu_malloc_wanted({"JAX_PLATFORMS": "cuda,cpu"})
    assert "GLIBC_TUNABLES" not in os.environ or "mmap_max" not in os.environ["GLIBC_TUNABLES"]


# A 128 MB block is above glibc's largest mmap threshold: by default every allocation maps fresh
# pages (one minor fault per 4 KiB page written; numpy's huge-page request is switched off so
# that pages are 4 KiB); with the setting the freed block is reused from the heap.
_MALLOC_CHILD = """
import os, resource
import numpy as np
import keras_trt
from keras_trt import _jax_cpu
np._core.multiarray._set_madvise_hugepage(False)
np.ones(32 * 2**20, np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    np.ones(32 * 2**20, np.float32)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5
print("CONFIGURED", _jax_cpu.CPU_MALLOC_CONFIGURED, "FAULTS", faults, "ENV", os.environ.get("GLIBC_TUNABLES"))
"""


@pytest.mark.backend_independent
@pytest.mark.parametrize("opt_out", [False, True], ids=["default", "opted-out"])
def test_cpu_malloc_reuses_freed_blocks_in_this_process_only(opt_out):
    pytest.importorskip("jax")
    if _jax_cpu._glibc() is None:
        pytest.skip("the setting is for glibc")
    env = _child_env(**({"KERAS_TRT_CPU_MALLOC": "0"} if opt_out else {}))
    done = subprocess.run([sys.executable, "-c", _MALLOC_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    configured, faults, environ = words[1], int(words[3]), words[5]
    assert configured == str(not opt_out)
    pages = 32 * 2**20 * 4 // 4096
    if opt_out:
        assert faults >= pages // 2, faults  # glibc's default: fresh pages for every block
    else:
        assert faults < pages // 100, faults  # the block is reused
    assert environ == "None"  # nothing for subprocesses to inherit


@pytest.mark.skipif(BACKEND != "jax", reason="reads XLA's compiled program: JAX leg only")
def test_xla_cpu_runs_mixed_bfloat16_convolutions_in_float32():
    """What the speed page says of JAX bfloat16 on CPUs: Keras traces bfloat16 convolutions and
    XLA's CPU compiler turns each into a float32 one between conversions. If a jaxlib changes
    that, this fails and the page's reading is to be measured again."""
    import keras
    import numpy as np

    from benchmarks.xla_precision import training_step_census

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.ReLU(),
                                  keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(3)])
        got = training_step_census(model, np.ones((2, 8, 8, 3), "float32"), np.array([0, 2]))
    finally:
        keras.config.set_dtype_policy(previous)
    assert got["traced"][("convolution", "bf16")] >= 2  # forward and backward ones, asked in bfloat16
    assert ("convolution", "bf16") not in got["compiled"]
    assert got["compiled"][("convolution", "f32")] >= 2 and got["converts"] > 0
