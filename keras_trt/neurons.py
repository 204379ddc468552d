"""Leaky integrate-and-fire neurons: pure step functions and the Keras layers around them.

The maths follows SpikingJelly's ``LIFNode`` / ``ParametricLIFNode`` (multi-step mode), so models
port between the two. With ``k = 1 / tau``:

- charge, ``decay_input=True``:  ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) * k``
- charge, ``decay_input=False``: ``H[t] = V[t-1] - (V[t-1] - V_reset) * k + X[t]``
- fire:  ``S[t] = Heaviside(H[t] - V_th)`` (surrogate gradient backward)
- reset: soft (``v_reset=None``) ``V[t] = H[t] - S[t] * V_th``;
  hard ``V[t] = (1 - S[t]) * H[t] + S[t] * V_reset``. ``detach_reset`` stops the gradient
  through the ``S[t]`` used by the reset.

The membrane starts at ``V_reset`` (hard reset) or 0 (soft reset). The layers take ``[B, T, ...]``
inputs (batch-major, time second) and return spikes of the same shape.
"""

import contextlib
import math
import threading

import keras
from keras import ops

from keras_trt import _fastpath, surrogates

_PACKAGE = "keras_trt"
_state = threading.local()


@contextlib.contextmanager
def gradient_free():
    """Within this context the LIF layers compute their spikes without any custom-gradient op.

    The forward is :func:`lif_sequence` with the plain Heaviside step: the same spikes as
    always (bit for bit), as ordinary tensor ops that graph exporters (ONNX through tf2onnx,
    jax2onnx or ``torch.onnx``) can trace, but no surrogate gradient. ``TRTModel.export``
    enters it; use it around ``export`` of any other model holding keras_trt neurons.

    >>> with keras_trt.neurons.gradient_free():
    ...     model.export("model.onnx", format="onnx")          # doctest: +SKIP
    """
    previous = getattr(_state, "gradient_free", False)
    _state.gradient_free = True
    try:
        yield
    finally:
        _state.gradient_free = previous


def charge(x, v, k, v_reset, decay_input):
    """Membrane after integrating input ``x`` into ``v`` with leak factor ``k = 1/tau``.

    The same expression forms as SpikingJelly 2.0, so float32 rounding matches it closely.
    """
    rest = 0.0 if v_reset is None else v_reset
    if decay_input:
        return v + (x - (v - rest)) * k
    return v - (v - rest) * k + x


def fire_and_reset(h, v_threshold, v_reset, detach_reset, spike_fn):
    """Spikes of the charged membrane ``h`` and the membrane after reset: ``(S, V)``."""
    spike = spike_fn(h - v_threshold)
    s = ops.stop_gradient(spike) if detach_reset else spike
    if v_reset is None:
        v = h - s * v_threshold
    else:
        v = (1.0 - s) * h + s * v_reset
    return spike, v


def lif_sequence(
    x, k, *, v_threshold=1.0, v_reset=0.0, decay_input=True, detach_reset=False, spike_fn=None
):
    """Runs a LIF population over ``x`` of shape ``[B, T, ...]``.

    Returns ``(spikes, membrane)``, both ``[B, T, ...]``; ``membrane`` is ``V[t]`` after reset.
    ``k`` is ``1/tau`` (a Python float or a scalar tensor). A Python loop over the static T is
    used rather than ``ops.scan``: it differentiates on every backend, XLA included.
    """
    spike_fn = spike_fn or surrogates.Sigmoid()
    timesteps = x.shape[1]
    v = ops.zeros_like(x[:, 0])
    if v_reset:
        v = v + v_reset
    spikes, membrane = [], []
    for t in range(timesteps):
        h = charge(x[:, t], v, k, v_reset, decay_input)
        s, v = fire_and_reset(h, v_threshold, v_reset, detach_reset, spike_fn)
        spikes.append(s)
        membrane.append(v)
    return ops.stack(spikes, axis=1), ops.stack(membrane, axis=1)


def lif_spikes(
    x, k, *, v_threshold=1.0, v_reset=0.0, decay_input=True, detach_reset=False, surrogate=None
):
    """The spikes of :func:`lif_sequence`, computed as one op with a hand-written BPTT backward.

    Forward and gradients are those of :func:`lif_sequence` (the same expressions, so the same
    float32 spikes; gradients equal up to rounding), but the forward runs only the charge, the
    threshold comparison and the reset, keeps only the charged membrane ``H[t]`` for the
    backward, and the backward is the closed-form recursion

        dL/dH[t] = dL/dS[t] * g'(H[t] - V_th) + dL/dV[t] * dV[t]/dH[t]
        dL/dX[t] = dL/dH[t] * (k if decay_input else 1),   dL/dV[t-1] = dL/dH[t] * (1 - k)

    with ``g'`` the surrogate's :meth:`~keras_trt.surrogates.Surrogate.derivative` and
    ``dV/dH`` the reset's (``1 - S`` for a detached hard reset). ``k`` may be a tensor (the
    ParametricLIF leak); its gradient is returned too. ``surrogate`` must define
    ``derivative``.

    >>> x = keras.ops.full((1, 3, 1), 1.5)   # a tensor [B, T, features]
    >>> spikes = lif_spikes(x, 0.5, detach_reset=True, surrogate=surrogates.ATan())
    >>> keras.ops.convert_to_numpy(spikes).ravel().tolist()   # H = 0.75, 1.125 (fires), 0.75
    [0.0, 1.0, 0.0]
    """
    surrogate = surrogate or surrogates.Sigmoid()
    if not surrogate.has_derivative:
        raise ValueError(
            f"lif_spikes needs a surrogate with a closed-form `derivative`; {surrogate!r} has "
            "none. Use lif_sequence, which differentiates the primitive."
        )
    timesteps = x.shape[1]
    rest = 0.0 if v_reset is None else v_reset
    hard = v_reset is not None

    def forward(x, k):
        """The spikes ``[B, T, ...]`` and what the backward keeps: the charged membranes ``H[t]``
        and (for a tensor ``k``) the input steps, as tuples of per-step tensors (no copies)."""
        steps = ops.unstack(x, axis=1) if timesteps > 1 else [x[:, 0]]
        charged, spikes = [], []
        v = None
        for t in range(timesteps):
            if t == 0:
                # V[-1] = rest, so charge() reduces exactly to rest + X*k (or rest + X): with
                # rest == 0 the only difference is the sign of a zero, which nothing observes.
                h = steps[0] * k if decay_input else steps[0]
                if rest:
                    h = h + rest
            else:
                h = charge(steps[t], v, k, v_reset, decay_input)
            fired = ops.greater_equal(h, v_threshold)  # == heaviside(h - v_threshold)
            if t + 1 < timesteps:  # the last membrane is not an output
                if hard:
                    v = ops.where(fired, v_reset, h)  # == (1 - S) * H + S * V_reset
                else:
                    v = h - ops.cast(fired, h.dtype) * v_threshold
            charged.append(h)
            spikes.append(ops.cast(fired, h.dtype))
        return _stack_steps(spikes), tuple(charged), tuple(steps) if k_is_tensor else ()

    def backward(upstream, charged, steps, k):
        grads_x = [None] * timesteps
        grad_k = None
        carry = None  # dL/dV[t]
        ups = ops.unstack(upstream, axis=1) if timesteps > 1 else [upstream[:, 0]]
        for t in reversed(range(timesteps)):
            h = charged[t]
            sg = surrogate.derivative(h - v_threshold)
            grad_h = ups[t] * sg
            if carry is not None:
                if hard:
                    through = ops.where(ops.greater_equal(h, v_threshold), 0.0, carry)
                    if not detach_reset:
                        through = through + carry * (v_reset - h) * sg
                else:
                    through = carry if detach_reset else carry * (1.0 - v_threshold * sg)
                grad_h = grad_h + through
            grads_x[t] = grad_h * k if decay_input else grad_h
            if t:
                carry = grad_h * (1.0 - k)
            if k_is_tensor:
                # dH[t]/dk = X[t] - (V[t-1] - rest) (decay_input) or -(V[t-1] - rest).
                v_prev = _membrane_after(charged[t - 1], v_threshold, v_reset) if t else rest
                dh_dk = (steps[t] - (v_prev - rest)) if decay_input else -(v_prev - rest)
                term = ops.sum(grad_h * dh_dk)
                grad_k = term if grad_k is None else grad_k + term
        grad_x = _stack_steps(grads_x)
        if k_is_tensor:
            return grad_x, ops.reshape(ops.cast(grad_k, k.dtype), ops.shape(k))
        return grad_x

    k_is_tensor = not isinstance(k, (int, float))
    forward, backward = _compiled(forward), _compiled(backward)

    def op(x, k):
        out, charged, steps = forward(x, k)

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow / JAX: grad(upstream); torch: grad(*inputs, upstream=)
                (upstream,) = args
            return backward(upstream, charged, steps, k)

        return out, grad

    if k_is_tensor:
        return ops.custom_gradient(op)(x, ops.convert_to_tensor(k, x.dtype))
    return ops.custom_gradient(lambda x: op(x, k))(x)


def _stack_steps(steps):
    return ops.stack(steps, axis=1) if len(steps) > 1 else ops.expand_dims(steps[0], 1)


def _compiled(fn):
    """``fn`` as one XLA computation on TensorFlow (``_fastpath.TF_XLA_LIF``), else itself.

    TensorFlow runs a graph op by op: the LIF's dozen element-wise ops each pass over the whole
    ``[B, T, ...]`` tensor. XLA fuses them into one loop; the arithmetic is the same, so are the
    spikes (tests/test_neurons.py). JAX compiles the step with XLA already; torch has no such path.
    """
    if not (_fastpath.TF_XLA_LIF and _fastpath.FUSED_LIF) or keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    return tf.function(fn, jit_compile=True, autograph=False, reduce_retracing=False)


def _membrane_after(h, v_threshold, v_reset):
    """``V[t]`` from the charged membrane ``H[t]`` (the reset, recomputed)."""
    fired = ops.greater_equal(h, v_threshold)
    if v_reset is not None:
        return ops.where(fired, v_reset, h)
    return h - ops.cast(fired, h.dtype) * v_threshold


def static_timesteps(shape, layer_name):
    """The static T of a ``[B, T, ...]`` shape, or a ValueError that names the fix."""
    if len(shape) < 3:
        raise ValueError(
            f"{layer_name} expects inputs of shape [batch, timesteps, features...] (rank >= 3), "
            f"got shape {tuple(shape)}. Add the time axis first, e.g. with "
            "keras_trt.layers.RepeatTime(T) for static inputs."
        )
    if shape[1] is None:
        raise ValueError(
            f"{layer_name} needs a static number of time steps, but the time axis of shape "
            f"{tuple(shape)} is None. Build the model with a fixed T, e.g. "
            "keras.Input(shape=(T, ...)) or RepeatTime(T)."
        )
    return int(shape[1])


def _finite(name, value):
    """``value`` as a float, or a ValueError: a NaN or infinite constant silences the neurons."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number, got {value!r}.") from None
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value}.")
    return value


class _LIFBase(keras.layers.Layer):
    """Shared options, validation and serialization of the LIF layers."""

    def __init__(
        self,
        v_threshold=1.0,
        v_reset=0.0,
        decay_input=True,
        detach_reset=False,
        surrogate="sigmoid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.v_threshold = _finite("v_threshold", v_threshold)
        self.v_reset = None if v_reset is None else _finite("v_reset", v_reset)
        self.decay_input = bool(decay_input)
        self.detach_reset = bool(detach_reset)
        self.surrogate = surrogates.get(surrogate)
        if self.v_reset is not None and self.v_reset >= self.v_threshold:
            raise ValueError(
                f"v_reset ({self.v_reset}) must be below v_threshold ({self.v_threshold}), "
                "or None for a soft reset."
            )

    def build(self, input_shape):
        static_timesteps(input_shape, type(self).__name__)

    def leak(self, dtype=None):
        """``k = 1 / tau`` as used in the charge equation (a tensor of ``dtype`` if learnable)."""
        raise NotImplementedError

    def call(self, inputs, return_membrane=False):
        """Spikes ``[B, T, ...]``; with ``return_membrane=True`` also the membrane ``V[t]``.

        >>> import numpy as np, keras_trt
        >>> lif = keras_trt.layers.LIF(tau=2.0)
        >>> spikes, v = lif(np.ones((2, 4, 3), "float32"), return_membrane=True)
        >>> tuple(spikes.shape), tuple(v.shape)
        ((2, 4, 3), (2, 4, 3))
        """
        static_timesteps(inputs.shape, type(self).__name__)
        options = dict(
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            decay_input=self.decay_input,
            detach_reset=self.detach_reset,
        )
        # Under a float16/bfloat16 policy the membrane is still integrated in float32 (an
        # 8-bit mantissa cannot resolve the threshold crossings); spikes are exact either way.
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if not dtype.startswith(("float", "bfloat")):  # integer/bool inputs, e.g. event counts
            dtype = self.compute_dtype
            inputs = ops.cast(inputs, dtype)
        if dtype in ("float16", "bfloat16"):
            inputs = ops.cast(inputs, "float32")
        leak = self.leak(inputs.dtype)
        # Export (see gradient_free): plain ops, no custom-gradient op for a tracer to meet.
        gradient_free = getattr(_state, "gradient_free", False)
        if not (return_membrane or gradient_free) and self.surrogate.has_derivative and _fastpath.FUSED_LIF:
            # One custom-gradient op with hand-written BPTT (the same numbers, fewer kernels).
            spikes = lif_spikes(inputs, leak, surrogate=self.surrogate, **options)
            return ops.cast(spikes, dtype)
        spike_fn = surrogates.heaviside if gradient_free else self.surrogate
        spikes, membrane = lif_sequence(inputs, leak, spike_fn=spike_fn, **options)
        if return_membrane:
            return ops.cast(spikes, dtype), ops.cast(membrane, dtype)
        return ops.cast(spikes, dtype)

    def compute_output_spec(self, inputs, return_membrane=False):
        spec = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        return (spec, keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)) if return_membrane else spec

    @classmethod
    def from_config(cls, config):
        # The surrogate is resolved before Keras' from_config: Keras wraps any error raised in
        # __init__ in a TypeError that dumps the whole config first, so a surrogate class that
        # was not imported would be named only at the end of a long message.
        config = dict(config)
        if isinstance(config.get("surrogate"), dict):
            config["surrogate"] = surrogates.get(config["surrogate"])
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            decay_input=self.decay_input,
            detach_reset=self.detach_reset,
            surrogate=surrogates.serialize(self.surrogate),
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LIF(_LIFBase):
    """Leaky integrate-and-fire neurons (SpikingJelly ``LIFNode`` semantics and defaults).

    Args:
        tau: membrane time constant (> 1 for a leak between 0 and 1).
        v_threshold: firing threshold.
        v_reset: hard-reset potential; ``None`` selects the soft (subtractive) reset.
        decay_input: whether the input is scaled by ``1/tau`` too.
        detach_reset: stop the gradient through the reset.
        surrogate: a name (``"sigmoid"``, ``"atan"``, ``"rectangular"``, ``"triangle"``), a
            :class:`keras_trt.surrogates.Surrogate`, or its config.

    Input ``[B, T, ...]`` (any rank >= 3, static T), output spikes of the same shape.

    >>> import numpy as np, keras_trt
    >>> x = np.random.rand(2, 4, 16).astype("float32") * 2
    >>> spikes = keras_trt.layers.LIF(tau=2.0)(x)                  # [2, 4, 16] of 0/1
    >>> spikes, v = keras_trt.layers.LIF()(x, return_membrane=True)  # membrane trace too
    """

    def __init__(self, tau=2.0, **kwargs):
        super().__init__(**kwargs)
        self.tau = _finite("tau", tau)
        if self.tau < 1.0:
            raise ValueError(f"tau must be >= 1 (the leak 1/tau is a fraction), got {tau}.")

    def leak(self, dtype=None):
        return 1.0 / self.tau

    def get_config(self):
        config = super().get_config()
        config["tau"] = self.tau
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ParametricLIF(_LIFBase):
    """LIF with a learnable time constant (SpikingJelly ``ParametricLIFNode``).

    One scalar weight ``w`` per layer, ``1/tau = sigmoid(w)``, initialised so that
    ``tau = init_tau`` (``w = -log(init_tau - 1)``). Other arguments as :class:`LIF`.

    >>> import numpy as np, keras_trt
    >>> plif = keras_trt.layers.ParametricLIF(init_tau=2.0)
    >>> spikes = plif(np.ones((2, 4, 3), "float32"))
    >>> round(float(plif.tau()), 6)  # before training
    2.0
    """

    def __init__(self, init_tau=2.0, **kwargs):
        super().__init__(**kwargs)
        self.init_tau = _finite("init_tau", init_tau)
        if self.init_tau <= 1.0:
            raise ValueError(f"init_tau must be > 1 (1/tau = sigmoid(w) < 1), got {init_tau}.")

    def build(self, input_shape):
        super().build(input_shape)
        self.w = self.add_weight(
            name="w",
            shape=(),
            initializer=keras.initializers.Constant(-math.log(self.init_tau - 1.0)),
            trainable=True,
        )

    def leak(self, dtype=None):
        return ops.sigmoid(ops.cast(self.w, dtype or self.compute_dtype))

    def tau(self):
        """The current time constant ``1 / sigmoid(w)``."""
        return 1.0 / ops.sigmoid(self.w)

    def get_config(self):
        config = super().get_config()
        config["init_tau"] = self.init_tau
        return config
