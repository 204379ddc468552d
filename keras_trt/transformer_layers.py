"""Per-step layers of the spiking transformers: attention products and PyTorch's max-pool padding.

Every layer here acts on one time step: wrapped in :class:`~keras_trt.layers.TimeFolded`, it runs
on the folded ``[B*T, L, channels]`` token tensor (``L`` tokens, channels last). The neurons
between them (``LIF``) are separate layers, so all time mixing of a transformer stays inside its
neurons, as in every other keras-trt family.

Operation counting (:func:`keras_trt.analysis.profile`): each layer has ``accumulates(x)``, the
accumulates (ACs) its product costs on the NumPy input ``x``. The rule: in a sum of products, a
term whose two factors are both spikes (0/1) is an AND and costs **one accumulate when both are
1**, nothing otherwise; a term with one spike factor and one real factor costs one accumulate
when the spike is 1 (the real value is added); no multiply-accumulate arises, because every
product here has at least one spike factor. Scales (Spikformer's 0.125) are free: a constant
factor before a neuron folds into its threshold.

>>> import keras, keras_trt
>>> qkv = keras.Input((2, 16, 3 * 8))                          # [B, T, L, 3C] spikes
>>> keras_trt.layers.TimeFolded(keras_trt.layers.SelfAttentionProduct(num_heads=2))(qkv).shape
(None, 2, 16, 8)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_PACKAGE = "keras_trt"


def _check_heads(num_heads, channels, what):
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"{what}: num_heads must be a positive integer, got {num_heads!r}.")
    if channels is not None and channels % num_heads:
        raise ValueError(
            f"{what}: {channels} channels do not split into {num_heads} heads; use a width that "
            f"num_heads divides (e.g. {num_heads * max(1, round(channels / num_heads))})."
        )


def _as_tokens(x):
    """NumPy ``x`` as ``[samples, L, channels]`` (leading batch and time axes merged)."""
    x = np.asarray(x)
    return x.reshape((-1,) + x.shape[-2:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SelfAttentionProduct(keras.layers.Layer):
    """Spikformer's spiking self-attention without softmax: ``scale * Q K^T V`` per head.

    Input ``[N, L, 3C]``: the Q, K and V spikes side by side (channel ``s*C + h*C/heads + c``
    holds part ``s`` of head ``h``, SpikingJelly's ``qkv.reshape(..., 3, heads, C/heads, L)``).
    Output ``[N, L, C]``. It computes ``Q (K^T V)`` (SpikingJelly's ``(V K^T) Q``): for spike
    inputs all partial sums are integers, so every order gives the same float32 result.

    ACs: ``K^T V`` costs one per pair of co-active key and value spikes of a token, summed per
    head; ``Q M`` (``M = K^T V``) one per spike of ``Q`` times the non-zero entries of ``M`` in
    its row.

    >>> import numpy as np
    >>> layer = SelfAttentionProduct(num_heads=1, scale=1.0)
    >>> qkv = np.array([[[1, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 1]]], "float32")  # L=2, C=2
    >>> keras.ops.convert_to_numpy(layer(qkv)).tolist()      # Q K^T V
    [[[1.0, 1.0], [1.0, 0.0]]]
    >>> layer.accumulates(qkv)                               # K^T V: 2+1 pairs; Q M: 2+1 terms
    6
    """

    def __init__(self, num_heads, scale=0.125, **kwargs):
        super().__init__(**kwargs)
        _check_heads(num_heads, None, "SelfAttentionProduct")
        self.num_heads = int(num_heads)
        self.scale = float(scale)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels % 3:
            raise ValueError(
                f"SelfAttentionProduct takes Q, K and V side by side ([..., L, 3C]); got {channels} channels."
            )
        _check_heads(self.num_heads, None if channels is None else channels // 3, "SelfAttentionProduct")

    def _heads(self, x):
        length, channels = x.shape[-2], x.shape[-1] // 3
        x = ops.reshape(x, (-1, length, 3, self.num_heads, channels // self.num_heads))
        x = ops.transpose(x, (2, 0, 3, 1, 4))  # [3, N, heads, L, C/heads]
        return x[0], x[1], x[2]

    def call(self, inputs):
        q, k, v = self._heads(inputs)
        out = ops.matmul(q, ops.matmul(ops.swapaxes(k, -1, -2), v)) * self.scale  # [N, heads, L, Cph]
        length, channels = inputs.shape[-2], inputs.shape[-1] // 3
        return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, length, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 3,)

    def accumulates(self, x):
        x = _as_tokens(x)
        n, length, channels = x.shape[0], x.shape[1], x.shape[2] // 3
        parts = (x.reshape(n, length, 3, self.num_heads, channels // self.num_heads) != 0).astype("float64")
        q, k, v = (np.transpose(parts[:, :, s], (0, 2, 1, 3)) for s in range(3))  # [N, heads, L, Cph]
        kv_pairs = np.sum(k.sum(-1) * v.sum(-1))
        m = np.swapaxes(k, -1, -2) @ v  # co-activity counts [N, heads, Cph, Cph]
        q_terms = np.sum(q @ (m != 0))
        return int(round(kv_pairs + q_terms))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "scale": self.scale}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QKTokenSum(keras.layers.Layer):
    """QKFormer's Q-K token attention, first half: the sum of each head's Q spikes per token.

    Input ``[N, L, 2C]`` (Q then K, SpikingJelly ``QKAttention``'s ``qk``; channel
    ``h*C/heads + c`` of each half belongs to head ``h``), output ``[N, L, heads]``
    (``q.sum`` over a head's channels, ``qka_type="token"``); the attention neuron follows.
    ACs: one per Q spike.

    >>> import numpy as np
    >>> qk = np.array([[[1, 1, 0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]]], "float32")  # L=2, C=4
    >>> keras.ops.convert_to_numpy(QKTokenSum(num_heads=2)(qk)).tolist()
    [[[2.0, 1.0], [0.0, 1.0]]]
    """

    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        _check_heads(num_heads, None, "QKTokenSum")
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        _check_heads(self.num_heads, input_shape[-1] // 2, "QKTokenSum")

    def call(self, inputs):
        length, channels = inputs.shape[-2], inputs.shape[-1] // 2
        q = ops.reshape(inputs[..., :channels], (-1, length, self.num_heads, channels // self.num_heads))
        return ops.sum(q, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_heads,)

    def accumulates(self, x):
        x = np.asarray(x)
        return int(np.count_nonzero(x[..., : x.shape[-1] // 2]))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QKTokenGate(keras.layers.Layer):
    """QKFormer's Q-K token attention, second half: every head's K masked by its token gate.

    Input ``[N, L, heads + 2C]``: the attention neuron's spikes (one per head and token), then
    Q and K; output ``[N, L, C]``, ``K[l, h, :] * gate[l, h]``. A mask of spikes by spikes: no
    accumulate.

    >>> import numpy as np
    >>> x = np.array([[[1, 0, 0, 0, 0, 0, 1, 1, 1, 1]]], "float32")  # gates (1, 0), Q = 0, K = 1
    >>> keras.ops.convert_to_numpy(QKTokenGate(num_heads=2)(x)).tolist()
    [[[1.0, 1.0, 0.0, 0.0]]]
    """

    def __init__(self, num_heads, **kwargs):
        super().__init__(**kwargs)
        _check_heads(num_heads, None, "QKTokenGate")
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        _check_heads(self.num_heads, (input_shape[-1] - self.num_heads) // 2, "QKTokenGate")

    def call(self, inputs):
        length = inputs.shape[-2]
        channels = (inputs.shape[-1] - self.num_heads) // 2
        gate = ops.expand_dims(inputs[..., : self.num_heads], -1)
        k = ops.reshape(inputs[..., self.num_heads + channels :], (-1, length, self.num_heads, channels // self.num_heads))
        return ops.reshape(k * gate, (-1, length, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + ((input_shape[-1] - self.num_heads) // 2,)

    def accumulates(self, x):
        return 0

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TokenProductSum(keras.layers.Layer):
    """The Spike-driven Transformer's SDSA core: ``sum_l K[l] * V[l]`` per channel.

    Input ``[N, L, 2C]`` (K then V), output ``[N, 1, C]``; the attention neuron follows and its
    spikes mask Q (a ``Multiply``; SpikingJelly ``SpikeDrivenSelfAttention``: heads do not mix
    channels, so they do not enter). ACs: one per co-active K and V spike.

    >>> import numpy as np
    >>> x = np.array([[[1, 1, 1, 0], [1, 0, 1, 1]]], "float32")   # L=2: K=(1,1),(1,0); V=(1,0),(1,1)
    >>> keras.ops.convert_to_numpy(TokenProductSum()(x)).tolist()
    [[[2.0, 0.0]]]
    >>> TokenProductSum().accumulates(x)
    2
    """

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(f"TokenProductSum takes K and V side by side ([..., L, 2C]); got {input_shape[-1]} channels.")

    def call(self, inputs):
        k, v = ops.split(inputs, 2, axis=-1)
        return ops.sum(k * v, axis=-2, keepdims=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (1, input_shape[-1] // 2)

    def accumulates(self, x):
        k, v = np.split(np.asarray(x), 2, axis=-1)
        return int(np.count_nonzero((k != 0) & (v != 0)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaxPoolPadding2D(keras.layers.Layer):
    """Pads ``[N, H, W, C]`` by ``padding`` pixels on every side with the lowest float.

    What PyTorch's ``MaxPool2d(padding=p)`` pads with (``-inf``), so that a ``"valid"``
    ``MaxPooling2D`` after it is PyTorch-exact on real values (a BatchNorm output), where zero
    padding would win over negative values.

    >>> import numpy as np
    >>> y = MaxPoolPadding2D(1)(np.zeros((1, 2, 2, 1), "float32"))
    >>> tuple(y.shape), float(keras.ops.convert_to_numpy(y).min()) < -1e38
    ((1, 4, 4, 1), True)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"MaxPoolPadding2D: padding must be a non-negative integer, got {padding!r}.")
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        lowest = float(np.finfo(keras.backend.standardize_dtype(inputs.dtype)).min)
        return ops.pad(inputs, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=lowest)

    def compute_output_shape(self, input_shape):
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


#: The attention layers (NIR export refuses them; profiling counts them with ``accumulates``).
ATTENTION_LAYERS = (SelfAttentionProduct, QKTokenSum, QKTokenGate, TokenProductSum)

__all__ = [
    "SelfAttentionProduct",
    "QKTokenSum",
    "QKTokenGate",
    "TokenProductSum",
    "MaxPoolPadding2D",
    "ATTENTION_LAYERS",
]
