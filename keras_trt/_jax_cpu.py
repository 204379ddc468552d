"""Two process settings that make JAX's training steps on the CPU faster.

Both apply at ``import keras_trt`` on the JAX backend, only where they were measured to help,
never leak into subprocesses, and each has its own switch (``KERAS_TRT_FAST_PATHS=0`` refuses
both):

- :func:`configure_xla_cpu`: XLA's YNNPACK convolutions were 1.5-2x slower than its Eigen ones
  on this project's CPUs; one XLA option keeps single convolutions out of YNNPACK (it keeps
  YNNPACK's reductions, which are the fast ones). ``KERAS_TRT_XLA_CPU_OPTION=0`` refuses it.
- :func:`configure_cpu_malloc`: XLA on the CPU allocates every step's buffers afresh
  (hundreds of MB for a ResNet step), and glibc hands such blocks to the kernel with ``mmap``
  and returns them on ``free``, so each step page-faults all of them in again (about 240,000
  minor faults and 0.6 s of kernel time per spiking ResNet-18 step, T=2, B=32). glibc's
  ``mallopt`` keeps them in the heap for reuse instead. ``KERAS_TRT_CPU_MALLOC=0`` refuses it.
"""

from __future__ import annotations

import ctypes
import functools
import os

import keras

from keras_trt import _fastpath

#: The XLA option :func:`configure_xla_cpu` applies, and the jaxlib releases it was measured on
#: (XLA aborts the process on a flag it does not know, so it is never guessed for others).
XLA_CPU_OPTION = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
XLA_CPU_OPTION_JAXLIB = ("0.10.",)


def _jax_setting_allowed(environ, switch):
    """The gate both settings share: Keras on JAX, the fast paths on, ``switch`` not ``0``."""
    return (_fastpath.ENABLED and environ.get(switch, "1") != "0"
            and keras.backend.backend() == "jax")


def xla_cpu_option_wanted(environ=None):
    """Whether :data:`XLA_CPU_OPTION` should apply under ``environ`` (default ``os.environ``).

    Yes when the Keras backend is JAX, the fast paths are on (``KERAS_TRT_FAST_PATHS``),
    ``KERAS_TRT_XLA_CPU_OPTION`` is not ``0``, the installed jaxlib is one the option was measured
    on, and ``XLA_FLAGS`` does not already set YNNPACK fusions (yours win).

    >>> xla_cpu_option_wanted({"KERAS_TRT_XLA_CPU_OPTION": "0"})
    False
    >>> xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"})
    False
    """
    environ = os.environ if environ is None else environ
    if not _jax_setting_allowed(environ, "KERAS_TRT_XLA_CPU_OPTION"):
        return False
    if "ynn_fusion_type" in environ.get("XLA_FLAGS", ""):
        return False
    try:
        from jaxlib import version as jaxlib_version
    except ImportError:  # pragma: no cover - the JAX backend always has jaxlib
        return False
    return jaxlib_version.__version__.startswith(XLA_CPU_OPTION_JAXLIB)


def configure_xla_cpu():
    """Applies :data:`XLA_CPU_OPTION` to this process's XLA when safe and useful; returns whether.

    Measured on this project's CPU (JAX 0.10.2, spiking ResNet-18, B=32): training step T=2
    2.0-2.6 s -> 1.7-1.8 s, T=4 5.7 s -> 3.4 s, inference 0.53-0.62 s -> 0.43 s; a 3x3
    convolution's forward+backward at [64, 32, 32, 64] 210-270 ms -> 120-150 ms. Only the
    convolution kernel changes (results differ by float rounding).

    ``import keras_trt`` calls it once. It applies when :func:`xla_cpu_option_wanted` says so and
    JAX has not started a backend yet. XLA reads ``XLA_FLAGS`` once per process; this function
    adds the option to ``XLA_FLAGS``, makes XLA read them now (without starting a backend) and
    puts ``XLA_FLAGS`` back as it was, so subprocesses (and TensorFlow's own XLA in this process)
    never see it. Consequently, set any ``XLA_FLAGS`` of your own before importing keras_trt on
    JAX. ``KERAS_TRT_XLA_CPU_OPTION=0`` refuses the option; to use it without keras_trt::

        XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution python train.py
    """
    if not xla_cpu_option_wanted():
        return False
    try:
        from jax._src import xla_bridge
        from jax._src.lib import xla_client
    except ImportError:  # pragma: no cover - moved in a jaxlib this was not measured on
        return False
    if xla_bridge.backends_are_initialized():
        return False  # XLA has read its flags already: too late, and nothing to undo
    saved = os.environ.get("XLA_FLAGS")
    os.environ["XLA_FLAGS"] = f"{saved or ''} {XLA_CPU_OPTION}".strip()
    try:
        # Building compile options makes XLA parse XLA_FLAGS (once per process); no backend starts.
        xla_client.CompileOptions().executable_build_options.debug_options  # noqa: B018
        return True
    except Exception:  # pragma: no cover - an internal that moved: leave XLA's defaults
        return False
    finally:
        if saved is None:
            del os.environ["XLA_FLAGS"]
        else:
            os.environ["XLA_FLAGS"] = saved


XLA_CPU_CONFIGURED = configure_xla_cpu()


#: ``mallopt`` parameters (glibc's ``malloc.h``) and the values :func:`configure_cpu_malloc` sets:
#: no ``mmap`` for large blocks, one arena (threads' arenas cannot hold blocks above 64 MB,
#: which then go to ``mmap``), and no trimming of the heap's free top (up to 2 GiB), so a
#: step's freed buffers are reused by the next step instead of returned and faulted in again.
CPU_MALLOC_OPTIONS = {"M_MMAP_MAX": (-4, 0), "M_ARENA_MAX": (-8, 1), "M_TRIM_THRESHOLD": (-1, 2**31 - 1)}


def _jax_on_cpu(environ):
    """Whether JAX will run on the CPU, decided without starting a JAX backend."""
    platforms = environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    import importlib.util
    import pkgutil

    # No platform named: JAX takes an accelerator when a plugin for one is installed.
    try:
        import jax_plugins

        if any(True for _ in pkgutil.iter_modules(jax_plugins.__path__)):
            return False
    except ImportError:
        pass
    return importlib.util.find_spec("libtpu") is None


@functools.cache  # one lookup per process: both the check and the setting need it
def _glibc():
    """The C library if it is glibc (``mallopt`` with glibc's parameter numbers), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        return libc
    except (OSError, AttributeError):  # not Linux, or musl and the like
        return None


def cpu_malloc_wanted(environ=None):
    """Whether :func:`configure_cpu_malloc` should apply under ``environ`` (default ``os.environ``).

    Yes when the Keras backend is JAX and JAX runs on the CPU (``JAX_PLATFORMS``, or no
    accelerator plugin installed), the C library is glibc, and neither ``KERAS_TRT_CPU_MALLOC``
    nor ``KERAS_TRT_FAST_PATHS`` is ``0``.

    >>> cpu_malloc_wanted({"KERAS_TRT_CPU_MALLOC": "0"})
    False
    >>> cpu_malloc_wanted({"JAX_PLATFORMS": "cuda"})
    False
    """
    environ = os.environ if environ is None else environ
    if not _jax_setting_allowed(environ, "KERAS_TRT_CPU_MALLOC") or not _jax_on_cpu(environ):
        return False
    return _glibc() is not None


def configure_cpu_malloc():
    """Makes glibc reuse freed heap memory instead of unmapping it; returns whether it applied.

    Measured (spiking ResNet-18 CIFAR, B=32, T=2, JAX 0.10.2, 2-core CPU, idle, medians of 5-6
    steps): plain step 1.71-1.75 s -> 1.51-1.52 s, TRT step 3.38-3.41 s -> 3.02-3.13 s,
    plain step on 2B 3.44-3.45 s -> 3.02-3.09 s; minor page faults per step about 240,000 ->
    14,000 (none when set before the process starts); peak resident memory of that process
    2.86 -> 3.29 GB. The cost: memory freed by the program stays with the process
    (its resident size stays at its peak instead of shrinking between steps).

    ``import keras_trt`` calls it once when :func:`cpu_malloc_wanted` says so. It changes this
    process's allocator only (the environment is untouched, subprocesses start with glibc's
    defaults). To get the same outside keras_trt, or from the first allocation on::

        GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=2147483647 python train.py
    """
    if not cpu_malloc_wanted():
        return False
    libc = _glibc()
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(libc.mallopt(param, value) == 1 for param, value in CPU_MALLOC_OPTIONS.values())


CPU_MALLOC_CONFIGURED = configure_cpu_malloc()
