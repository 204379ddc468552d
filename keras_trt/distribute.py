"""Data parallelism through Keras' own engines, with one call for every backend.

:func:`data_parallel` is a context manager: build, compile and ``fit`` the model inside it and
each global batch is split evenly across the devices, the gradients are summed across them, and
the result equals training on one device with the same global batch (TRT loss terms and
BatchNormalization statistics included, see :class:`keras_trt.TRTModel`).

- JAX: ``keras.distribution.DataParallel`` (``keras.distribution.set_distribution``), restored
  on exit. Multi-host: call ``keras.distribution.initialize(...)`` first in every process (or
  pass ``multi_host=True`` with the ``KERAS_DISTRIBUTION_*`` variables set).
- TensorFlow: ``tf.distribute.MirroredStrategy`` over the GPUs (or, on a machine without GPUs,
  over logical CPU devices, for testing); ``multi_host=True`` uses
  ``tf.distribute.MultiWorkerMirroredStrategy`` with the ``TF_CONFIG`` cluster resolver.
- torch: keras 3.15.1's ``fit`` has no data parallelism on torch; a clear error says so.

>>> from keras_trt import distribute
>>> distribute.per_device_batch(64, 8)
8
>>> with distribute.data_parallel(1) as setup:   # one device: nothing changes
...     setup.num_devices
1
"""

import contextlib
import dataclasses
import os

import keras

BACKENDS = ("jax", "tensorflow")


class DistributeError(ValueError):
    """A data-parallel setup that cannot work as asked (devices, batch sizes); says the fix."""


@dataclasses.dataclass(frozen=True)
class DataParallelSetup:
    """What :func:`data_parallel` set up: ``engine`` is the JAX distribution or the TF strategy
    (None for one device)."""

    backend: str
    num_devices: int
    devices: tuple
    engine: object = None


def per_device_batch(global_batch, num_devices):
    """The per-device share of ``global_batch``; a ValueError naming the fix if it does not divide.

    >>> per_device_batch(96, 4)
    24
    """
    global_batch, num_devices = int(global_batch), int(num_devices)
    if num_devices < 1:
        raise DistributeError(f"The number of devices must be >= 1, got {num_devices}.")
    if global_batch < 1 or global_batch % num_devices:
        lower = max(num_devices, global_batch - global_batch % num_devices)
        raise DistributeError(
            f"The global batch size {global_batch} does not split evenly across {num_devices} "
            f"devices. Use a multiple of {num_devices} (e.g. --batch-size {lower} or "
            f"{lower + num_devices}), or another number of devices."
        )
    return global_batch // num_devices


@contextlib.contextmanager
def data_parallel(devices=None, *, batch_size=None, multi_host=False):
    """Data parallelism for the current Keras backend, for the duration of the ``with`` block.

    Args:
        devices: the number of devices (the first ``devices`` accelerators, or CPU devices when
            there are none), or None for all of them.
        batch_size: the global batch size; checked to split evenly before anything starts.
        multi_host: run across processes/hosts (see the module docstring for the setup).

    Yields a :class:`DataParallelSetup`. Create (or load) the model inside the block: JAX lays
    out the variables when they are created, and TF creates them mirrored only in its scope:
    ``with data_parallel(8, batch_size=256): model = ...; model.compile(...); model.fit(...)``.
    """
    backend = keras.backend.backend()
    if batch_size is not None and devices is not None:  # refused before anything starts
        per_device_batch(batch_size, devices)
    if devices is not None and int(devices) == 1 and not multi_host:
        yield DataParallelSetup(backend, 1, ())
        return
    if backend not in BACKENDS:
        raise DistributeError(
            f"Data parallelism is not available on the {backend} backend with keras "
            f"{keras.__version__}: keras.distribution.DataParallel has no {backend} implementation "
            "(keras.src.backend.torch ships no distribution_lib), and "
            "Model.fit does not wrap the model in DistributedDataParallel (that arrived after "
            "keras 3.15.1). Train with KERAS_BACKEND=jax or tensorflow on several devices; the "
            "saved preset loads on torch."
        )
    if backend == "jax":
        make = _jax_setup
    else:
        make = _tf_setup
    setup, scope = make(devices, multi_host)
    if batch_size is not None:
        per_device_batch(batch_size, setup.num_devices)
    with scope:
        yield setup


def _not_enough(backend, available, wanted):
    if backend == "jax":
        how = (
            "On a machine without accelerators, simulate CPU devices by setting "
            f"JAX_NUM_CPU_DEVICES={wanted} (or XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{wanted}) before Python starts."
        )
    elif not any("GPU" in str(d) for d in available):
        how = ("TensorFlow splits the CPU into logical devices only before its runtime starts, "
               "and something ran a TensorFlow op first (a model built or trained outside the "
               f"block): enter distribute.data_parallel({wanted}) before anything else in the "
               "process (later blocks then reuse the devices), or run on a machine with GPUs.")
    else:
        how = "Pass a smaller number of devices, or run on a machine with more GPUs."
    return DistributeError(f"{wanted} devices requested but the {backend} backend sees "
                           f"{len(available)}: {', '.join(map(str, available)) or 'none'}. {how}")


def _jax_setup(devices, multi_host):
    if multi_host:
        keras.distribution.initialize()  # KERAS_DISTRIBUTION_JOB_ADDRESSES/NUM_PROCESSES/PROCESS_ID
    available = keras.distribution.list_devices()
    wanted = len(available) if devices is None else int(devices)
    if wanted > len(available):
        raise _not_enough("jax", available, wanted)
    chosen = tuple(available[:wanted])
    distribution = keras.distribution.DataParallel(devices=list(chosen))

    @contextlib.contextmanager
    def scope():
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)

    return DataParallelSetup("jax", wanted, chosen, distribution), scope()


def _tf_setup(devices, multi_host):
    import tensorflow as tf

    if multi_host:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        setup = DataParallelSetup("tensorflow", strategy.num_replicas_in_sync, (), strategy)
        return setup, strategy.scope()
    if tf.config.list_physical_devices("GPU"):  # (listing logical devices starts the runtime)
        available = [d.name for d in tf.config.list_logical_devices("GPU")]
    else:
        available = _logical_cpus(tf, devices)
    wanted = len(available) if devices is None else int(devices)
    if wanted > len(available):
        raise _not_enough("tensorflow", available, wanted)
    chosen = tuple(available[:wanted])
    strategy = tf.distribute.MirroredStrategy(devices=list(chosen))
    return DataParallelSetup("tensorflow", wanted, chosen, strategy), strategy.scope()


def _logical_cpus(tf, wanted):
    """The logical CPU devices; splits the CPU into ``wanted`` of them if TF has not started."""
    cpus = tf.config.list_physical_devices("CPU")
    if wanted and int(wanted) > 1 and tf.config.get_logical_device_configuration(cpus[0]) is None:
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(int(wanted))]
            )
        except RuntimeError:  # the runtime is already initialised: keep what exists
            pass
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def check_last_batch(num_samples, batch_size, what="data"):
    """On JAX under a multi-device distribution, checks that the last (partial) batch of
    ``num_samples`` still splits across the devices: keras 3.15.1 cannot shard it otherwise
    (keras issue 21167) and fails mid-run. ``TRTModel.fit`` / ``evaluate`` / ``predict`` pad
    in-memory arrays themselves (:func:`even_batches`); this is for a stream you batch yourself.
    TensorFlow splits uneven batches itself.

    >>> check_last_batch(45, 8)   # no distribution active: nothing to check
    """
    count = device_count()
    if count == 1:
        return
    last = int(num_samples) % int(batch_size)
    if last % count:
        raise DistributeError(
            f"The {what} set has {num_samples} samples: with batch size {batch_size} its last "
            f"batch holds {last}, which does not split across {count} devices on JAX (keras "
            f"3.15.1 cannot shard it). Pass the data as arrays (TRTModel.fit, evaluate and "
            "predict pad the last batch themselves), batch a tf.data set with "
            "drop_remainder=True, or train with KERAS_BACKEND=tensorflow."
        )


def device_count():
    """The devices a batch is split across by the active JAX distribution (1 without one, and
    on TensorFlow, whose MirroredStrategy splits an uneven batch itself).

    >>> device_count()
    1
    """
    if keras.backend.backend() != "jax":
        return 1
    distribution = keras.distribution.distribution()
    return 1 if distribution is None else int(distribution.device_mesh.devices.size)


LAST_BATCH = ("pad", "drop", "error")


def even_batches(x, y=None, sample_weight=None, *, batch_size=None, entry="fit", last_batch="pad"):
    """In-memory data made to split across the devices of the active JAX distribution.

    Returns ``(x, y, sample_weight, scale)``: unchanged, with ``scale`` None, when nothing needs
    doing. Otherwise, for ``n`` samples that are not a multiple of the devices:

    - ``"pad"`` (the default): copies of the first samples are appended with sample weight 0,
      so they count in no loss, gradient or metric; ``scale = (n + pad) / n`` turns Keras'
      logged loss (a mean over the padded count) back into the mean over the ``n`` samples.
      They do take part in BatchNormalization's batch statistics of the one batch they land in.
    - ``"drop"``: the last ``n % devices`` samples are left out, with a warning.
    - ``"error"``: a :class:`DistributeError` naming the sample counts that would split.

    The batch size itself must split (:func:`per_device_batch`), checked before anything runs.

    >>> import numpy as np
    >>> even_batches(np.zeros((5, 2)))[3] is None   # no distribution: unchanged
    True
    """
    if last_batch not in LAST_BATCH:
        raise ValueError(f"last_batch must be one of {LAST_BATCH}, got {last_batch!r}.")
    if replicas_in_sync() > 1:
        # TensorFlow splits an uneven last batch itself, but a batch size that does not split
        # fails deep inside the step (an AddN of unequal replica shapes): refused here.
        per_device_batch(32 if batch_size is None else batch_size, replicas_in_sync())
        return x, y, sample_weight, None
    count = device_count()
    leaves = keras.tree.flatten(x)
    if count == 1 or not leaves or not all(hasattr(a, "shape") for a in leaves):
        return x, y, sample_weight, None
    import numpy as np

    per_device_batch(32 if batch_size is None else batch_size, count)
    n = int(leaves[0].shape[0])
    extra = n % count
    if not extra or n == 0:
        return x, y, sample_weight, None
    pad = count - extra
    if last_batch == "error":
        raise DistributeError(
            f"{entry} got {n} samples, which do not split across {count} devices. Use "
            f"{n - extra} or {n + pad} samples, or pass last_batch='pad' (the default: "
            "zero-weight copies make up the difference) or last_batch='drop'.")
    take = lambda a, index: keras.tree.map_structure(lambda t: np.asarray(t)[index], a)  # noqa: E731
    if last_batch == "drop":
        import warnings

        warnings.warn(f"{entry}: {n} samples do not split across {count} devices; the last "
                      f"{extra} are dropped (last_batch='drop').", stacklevel=3)
        keep = np.arange(n - extra)
        return (take(x, keep), None if y is None else take(y, keep),
                None if sample_weight is None else np.asarray(sample_weight)[keep], None)
    index = np.concatenate([np.arange(n), np.arange(pad) % n])
    weights = np.ones(n, "float32") if sample_weight is None else np.asarray(sample_weight, "float32")
    weights = np.concatenate([weights, np.zeros(pad, "float32")])
    return take(x, index), None if y is None else take(y, index), weights, (n + pad) / n


def process_count():
    """The number of processes (hosts) taking part in the training: 1 unless multi-host.

    >>> process_count()
    1
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_count()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        resolver = getattr(tf.distribute.get_strategy(), "cluster_resolver", None)
        if resolver is not None and resolver.cluster_spec().jobs:
            return sum(resolver.cluster_spec().num_tasks(job) for job in resolver.cluster_spec().jobs)
    return 1


def replicas_in_sync():
    """The number of replicas whose gradients are summed by a ``tf.distribute`` strategy (1
    outside one, and on JAX/torch, whose losses are computed over the global batch)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def unscale_loss(value):
    """Undoes Keras' per-replica loss scaling (``1/replicas`` under ``tf.distribute``), for logging."""
    replicas = replicas_in_sync()
    return value if replicas == 1 else keras.ops.multiply(value, float(replicas))


@contextlib.contextmanager
def synchronized_batch_norm(model):
    """Within the block, the model's BatchNormalization layers use statistics over the global
    batch under a multi-replica ``tf.distribute`` strategy (``synchronized=True``, a TF-only
    option); their saved config is unchanged. JAX computes over the global batch already."""
    if replicas_in_sync() == 1:
        yield
        return
    layers = [
        layer for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ]
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def simulated_devices_env(count, env=None):
    """Environment variables under which a new process sees ``count`` simulated CPU devices on
    JAX (TensorFlow's logical CPUs are made by :func:`data_parallel` itself).

    >>> simulated_devices_env(2, env={})["JAX_NUM_CPU_DEVICES"]
    '2'
    """
    env = dict(os.environ if env is None else env)
    env["JAX_NUM_CPU_DEVICES"] = str(int(count))
    flag = f"--xla_force_host_platform_device_count={int(count)}"
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if not f.startswith("--xla_force_host_platform_device_count")) + " " + flag
    env["XLA_FLAGS"] = env["XLA_FLAGS"].strip()
    return env
