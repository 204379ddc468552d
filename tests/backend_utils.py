"""Backend-specific gradient helpers for the tests (the library itself never needs them)."""

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()
ALL_BACKENDS = ("tensorflow", "jax", "torch")


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def vjp(fn, inputs, upstream):
    """Gradients of ``sum(upstream * fn(*inputs))`` w.r.t. each array in ``inputs``.

    Returns ``(output, [grad per input])`` as NumPy arrays.
    """
    inputs = [np.asarray(a, dtype="float32") for a in inputs]
    upstream = np.asarray(upstream, dtype="float32")
    if BACKEND == "jax":
        import jax

        out, pullback = jax.vjp(fn, *inputs)
        return np.asarray(out), [np.asarray(g) for g in pullback(upstream)]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in inputs]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            out = fn(*tensors)
            total = tf.reduce_sum(out * upstream)
        grads = tape.gradient(total, tensors)
        return out.numpy(), [np.zeros_like(a) if g is None else g.numpy() for a, g in zip(inputs, grads)]
    import torch

    tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
    out = fn(*tensors)
    (out * torch.tensor(upstream)).sum().backward()
    return out.detach().numpy(), [
        np.zeros_like(a) if t.grad is None else t.grad.numpy() for a, t in zip(inputs, tensors)
    ]


def layer_vjp(layer, x, upstream, **call_kwargs):
    """Output of ``layer(x)`` and the gradients of ``sum(upstream * output)`` w.r.t. ``x`` and
    each trainable variable of the (built) layer: ``(out, dx, [dvar...])``."""
    variables = layer.trainable_variables
    values = [to_numpy(v) for v in variables]

    def fn(x, *var_values):
        out, _ = layer.stateless_call(
            list(var_values), [v.value for v in layer.non_trainable_variables], x, **call_kwargs
        )
        return out

    out, grads = vjp(fn, [x] + values, upstream)
    return out, grads[0], grads[1:]
