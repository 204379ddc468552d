"""Helpers shared by the tests of keras_trt.models (imported as a top-level module)."""

import contextlib
import re

import keras
import numpy as np

BATCH, CLASSES = 2, 5

# Registered configurations whose small test instance is the very network of another's: the
# small kwargs override every argument in which the two differ (width, depth, heads), so
# testing both proves nothing more. The per-architecture tests run the first of each group;
# test_architectures.py::test_same_small_instance checks that each pair builds equal configs,
# and the full-size configurations' parameter counts are tested in test_transformers.py.
SAME_SMALL_INSTANCE = {
    "spikformer_s": "spikformer_ti",
    "spikformer_8_384": "spikformer_ti",
    "spikformer_8_768": "spikformer_ti",
    "sdt_8_768": "sdt_8_384",
    "qkformer_10_768": "qkformer_10_384",
}


def architectures_under_test():
    """The registry's architectures, less those in SAME_SMALL_INSTANCE."""
    from keras_trt import models

    return [name for name in models.list_architectures() if name not in SAME_SMALL_INSTANCE]


@contextlib.contextmanager
def numpy_initializers(seed=0):
    """Under JAX, draws initial weights with NumPy while the context is open.

    Speed only: eager JAX compiles a random kernel for every new weight shape (about 1 s each
    on a small CPU), which dominates building a model. The distributions (normal, uniform,
    truncated normal at two standard deviations, with Keras' mean/stddev/bounds) are the same;
    the library is not involved. Other backends are left alone.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    from keras.src.backend.jax import random as jax_random

    rng = np.random.default_rng(seed)

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return (rng.standard_normal(shape) * stddev + mean).astype(dtype or "float32")

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return rng.uniform(minval, maxval, shape).astype(dtype or "float32")

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        x = rng.standard_normal(shape)
        while np.any(np.abs(x) > 2.0):
            bad = np.abs(x) > 2.0
            x[bad] = rng.standard_normal(int(bad.sum()))
        return (x * stddev + mean).astype(dtype or "float32")

    saved = jax_random.normal, jax_random.uniform, jax_random.truncated_normal
    jax_random.normal, jax_random.uniform, jax_random.truncated_normal = normal, uniform, truncated_normal
    try:
        yield
    finally:
        jax_random.normal, jax_random.uniform, jax_random.truncated_normal = saved


def build(name, seed=0, **kwargs):
    """``keras_trt.models.build(name, **kwargs)`` with reproducible, quickly drawn weights."""
    from keras_trt import models

    keras.utils.set_random_seed(seed)
    with numpy_initializers(seed):
        return models.build(name, **kwargs)


def small_model(name, seed=0, **overrides):
    """The registry's small instance of ``name`` (its ``small`` kwargs) with CLASSES classes."""
    from keras_trt import models

    arch = models.get_architecture(name)
    kwargs = {**arch.small, "num_classes": CLASSES, **overrides}
    return build(name, seed=seed, **kwargs)


def inputs_for(model, n=BATCH, seed=0):
    shape = (n,) + tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(seed).normal(size=shape)
    # Sample i at scale 1 + i: different spike counts from the first layer on.
    x *= (1.0 + np.arange(n)).reshape((n,) + (1,) * (len(shape) - 1))
    return x.astype("float32")


def activate(model, seed=0):
    """Randomises BatchNorm statistics and affine parameters (and the kernels of the transformers),
    and hidden Dense layers that feed
    a neuron without a BatchNorm in between, so that neurons fire at every depth of a freshly
    initialised small network and logit comparisons are not between constants."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            for attr, draw in (
                ("gamma", lambda s: rng.uniform(0.5, 1.5, s)),
                ("beta", lambda s: rng.uniform(0.2, 1.2, s)),
                ("moving_mean", lambda s: rng.normal(0.0, 0.1, s)),
                ("moving_variance", lambda s: rng.uniform(0.2, 0.6, s)),
            ):
                variable = getattr(layer, attr, None)
                if variable is not None:
                    variable.assign(draw(variable.shape).astype("float32"))
    names = {layer.name for layer in model.layers}
    if any(name.startswith("patch_embed") for name in names):
        # Transformers: Spikformer's init (std 0.02) under random BN statistics gives features that
        # hardly depend on the input; kernels of unit gain (std 1.5 / sqrt(fan_in)) do.
        for layer in model.layers:
            inner = getattr(layer, "layer", None)
            if isinstance(inner, (keras.layers.Conv2D, keras.layers.Dense)):
                shape = inner.kernel.shape
                fan_in = int(np.prod(shape[:-1]))
                inner.kernel.assign(rng.normal(0.0, 1.5 / fan_in**0.5, shape).astype("float32"))
    for layer in model.layers:
        inner = getattr(layer, "layer", None)
        if (
            isinstance(inner, keras.layers.Dense)
            and re.fullmatch(r"fc\d+", layer.name)
            and f"{layer.name}_bn" not in names
            and inner.use_bias
        ):
            inner.kernel.assign(rng.normal(0.0, 1.0, inner.kernel.shape).astype("float32"))
            inner.bias.assign(rng.uniform(0.5, 1.5, inner.bias.shape).astype("float32"))


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def predict(model, x):
    """Inference logits by a direct call (no compiled predict function per model)."""
    return to_numpy(model(x, training=False))


def forward(model, x, training=False):
    """``model(x, training=training)`` as NumPy (each output of a multi-output model); jit-compiled on JAX, a direct call elsewhere.

    Speed only: eager JAX compiles every op on its own (a direct call of a small transformer
    took 15-30 s here, the jit-compiled call a few seconds). Training-mode batch statistics are
    computed the same way; the updated moving statistics are discarded.
    """
    if keras.backend.backend() != "jax":
        return keras.tree.map_structure(to_numpy, model(x, training=training))
    import jax

    def call(trainable, non_trainable, inputs):
        return model.stateless_call(trainable, non_trainable, inputs, training=training)[0]

    values = [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]
    return keras.tree.map_structure(np.asarray, jax.jit(call)(*values, x))
