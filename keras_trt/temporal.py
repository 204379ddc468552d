"""Time-axis plumbing: direct encoding, time folding, firing rates, and the two TRT points.

Layout: spiking tensors are ``[B, T, ...]`` (batch-major, time second). Ordinary layers
(Conv2D, BatchNormalization, Dense, pooling) run on the *folded* tensor ``[B*T, ...]``, where row
``b * T + t`` holds sample ``b`` at step ``t`` (:func:`fold_time` / :func:`unfold_time` are the
only place this is decided). BatchNormalization on the folded tensor therefore normalises over
batch, time and space together (tdBN-style, as SpikingJelly's ``SeqToANNContainer``).

TRT (Temporal Reversed Training) is switched on only inside :func:`trt_branches`, which
``TRTModel.train_step`` enters. There, :class:`TemporalReversal` doubles the batch to
``[original; time-reversed]`` and :class:`StarProduct` returns three stacked groups of features
``[r; r_rev; r * r_rev]``. With a ``batch_fraction`` below 1 only the first
``m = paired_count(B)`` samples get a reversed copy, ``[x; reverse(x[:m])]``, and the star
product pairs those, ``[r; r_rev; r[:m] * r_rev]``. Everywhere else (``predict``, ``evaluate``, a plain call, a
``training=True`` call by the user) both layers are the plain network: identity and firing rate.
"""

import contextlib
import fractions
import inspect
import threading

import keras
from keras import ops

from keras_trt import _fastpath
from keras_trt.neurons import static_timesteps

_PACKAGE = "keras_trt"
_state = threading.local()


@contextlib.contextmanager
def trt_branches(active=True, batch_fraction=1.0):
    """Within this context, TRT layers emit the original and reversed branches.

    It is read when a function is traced (JAX ``jit``, ``tf.function``) or run (torch), so the
    branch structure is fixed for the compiled train step and absent from everything else.
    ``batch_fraction``: the share of the batch that gets a reversed branch (see
    :func:`paired_count`).
    """
    _ratio(batch_fraction)  # refuses a bad fraction on entry
    previous = getattr(_state, "active", False), getattr(_state, "fraction", 1.0)
    _state.active, _state.fraction = bool(active), float(batch_fraction)
    try:
        yield
    finally:
        _state.active, _state.fraction = previous


def trt_batch_fraction():
    """The ``batch_fraction`` of the enclosing :func:`trt_branches` (1.0 outside)."""
    return getattr(_state, "fraction", 1.0)


def _ratio(fraction):
    fraction = float(fraction)
    if not 0 < fraction <= 1:
        raise ValueError(f"batch_fraction must be in (0, 1], got {fraction!r}.")
    ratio = fractions.Fraction(fraction).limit_denominator(1000)
    return max(ratio, fractions.Fraction(1, 1000))


def paired_count(batch, fraction=1.0):
    """``m = ceil(fraction * batch)``, the leading samples of a batch that get a reversed copy.

    ``fraction`` is taken as the nearest ``p/q`` with ``q <= 1000`` and the count is computed in
    integers, so ``batch`` may be an int or (TensorFlow, unknown batch size) an integer tensor.

    >>> paired_count(64, 0.25), paired_count(10, 0.25), paired_count(1, 0.25)
    (16, 3, 1)
    """
    ratio = _ratio(fraction)
    p, q = ratio.numerator, ratio.denominator
    return batch if p == q else (p * batch + q - 1) // q


def original_count(rows, fraction=1.0):
    """``B`` from ``rows = B + paired_count(B, fraction)``, the batch after the reversal.

    Exact in integers: ``B (p + q) <= rows q < B (p + q) + q``, so ``rows q // (p + q) == B``.

    >>> [original_count(b + paired_count(b, 0.25), 0.25) for b in (1, 10, 13, 64)]
    [1, 10, 13, 64]
    """
    ratio = _ratio(fraction)
    p, q = ratio.numerator, ratio.denominator
    return (rows * q) // (p + q)


@contextlib.contextmanager
def fast_paths(enabled=True):
    """Switches keras_trt's fast paths: :class:`TimeFolded`'s backend kernels (see
    ``keras_trt/_fastpath.py``) and the LIF layers' fused op (:func:`~keras_trt.neurons.lif_spikes`).

    They are on by default (``KERAS_TRT_FAST_PATHS=0`` turns them off at import). The switch is
    read when a step is traced (TensorFlow, JAX) or run (torch). Results agree either way up to
    floating-point rounding.

    >>> import keras, keras_trt
    >>> bn = keras_trt.layers.TimeFolded(keras.layers.BatchNormalization())
    >>> with keras_trt.temporal.fast_paths(False):
    ...     y = bn(keras.ops.ones((2, 3, 4)), training=True)   # Keras' generic BatchNormalization code
    """
    previous = _fastpath.ENABLED, _fastpath.FUSED_LIF
    _fastpath.ENABLED = _fastpath.FUSED_LIF = bool(enabled)
    try:
        yield
    finally:
        _fastpath.ENABLED, _fastpath.FUSED_LIF = previous


def trt_branches_active():
    """Whether the TRT branches are on (inside :func:`trt_branches`)."""
    return getattr(_state, "active", False)


def fold_time(x):
    """``[B, T, ...] -> [B*T, ...]`` (row ``b*T + t``)."""
    inner = tuple(x.shape[2:])
    if any(d is None for d in inner):
        inner = tuple(ops.shape(x)[2:])
    return ops.reshape(x, (-1,) + inner)


def unfold_time(y, timesteps):
    """Inverse of :func:`fold_time`: ``[B*T, ...] -> [B, T, ...]``."""
    inner = tuple(y.shape[1:])
    if any(d is None for d in inner):
        inner = tuple(ops.shape(y)[1:])
    return ops.reshape(y, (-1, timesteps) + inner)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RepeatTime(keras.layers.Layer):
    """Direct encoding: repeats a static input over ``timesteps`` steps, ``[B, ...] -> [B, T, ...]``.

    >>> import keras, keras_trt
    >>> x = keras.Input((28, 28, 1))
    >>> keras_trt.layers.RepeatTime(4)(x).shape
    (None, 4, 28, 28, 1)
    """

    def __init__(self, timesteps, **kwargs):
        super().__init__(**kwargs)
        if int(timesteps) != timesteps or timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}.")
        self.timesteps = int(timesteps)

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.timesteps, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.timesteps) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config["timesteps"] = self.timesteps
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TimeFolded(keras.layers.Wrapper):
    """Applies an ordinary layer to all time steps at once by folding T into the batch.

    Faster than ``keras.layers.TimeDistributed`` (one call on ``[B*T, ...]``, no per-step loop)
    and statistics of a wrapped BatchNormalization cover all steps. A wrapped
    ``BatchNormalization`` (TensorFlow, torch) or ``Conv2D`` (torch) runs through the backend's
    fused kernel, with the layer's own variables and results (see :func:`fast_paths`).

    >>> import keras, keras_trt
    >>> conv = keras_trt.layers.TimeFolded(keras.layers.Conv2D(32, 3, padding="same"))
    >>> conv(keras.Input((4, 28, 28, 1))).shape
    (None, 4, 28, 28, 32)

    Args:
        layer: the layer to apply at every time step.
        static_input: declares that the input is the same at every time step (a static input
            repeated by :class:`RepeatTime`, before any neuron). The layer then runs once on
            step 0, ``[B, ...]``, and its output is repeated over T: the same values, moving
            statistics and gradients as the folded call (a BatchNormalization's statistics of T
            identical copies are those of one), for 1/T of the work. Off by default; see
            :func:`hoist_static_layers` to set it on a model's stem.
    """

    def __init__(self, layer, static_input=False, **kwargs):
        super().__init__(layer, **kwargs)
        self.static_input = bool(static_input)

    def get_config(self):
        config = super().get_config()
        if self.static_input:
            config["static_input"] = True
        return config

    def build(self, input_shape):
        static_timesteps(input_shape, f"TimeFolded({type(self.layer).__name__})")
        if not self.layer.built:
            self.layer.build((None,) + tuple(input_shape[2:]))
        self.built = True

    def call(self, inputs, training=None):
        timesteps = static_timesteps(inputs.shape, f"TimeFolded({type(self.layer).__name__})")
        if self.static_input:
            out = self._call_folded(inputs[:, 0], training)
            return ops.repeat(ops.expand_dims(out, 1), timesteps, axis=1)
        return unfold_time(self._call_folded(fold_time(inputs), training), timesteps)

    def _call_folded(self, folded, training):
        # A backend fast path computes what the layer computes (see keras_trt/_fastpath.py).
        out = _fastpath.folded_call(self.layer, folded, training)
        if out is None:
            # `training` is passed on explicitly: JAX's stateless training step calls the
            # model's `call` directly, without the call context that would otherwise carry it.
            kwargs = {"training": training} if self._takes_training else {}
            out = self.layer(folded, **kwargs)
        return out

    @property
    def _takes_training(self):
        return "training" in inspect.signature(self.layer.call).parameters

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])


def hoist_static_layers(model):
    """Opt-in model-level optimisation: runs the stem's per-step layers once per image.

    A static input repeated over T by :class:`RepeatTime` stays identical at every step through
    time-folded per-step layers (convolution, batch normalisation, padding, pooling) until the
    first neuron. This marks those :class:`TimeFolded` layers ``static_input=True``, so they
    compute on ``[B, ...]`` instead of ``[B*T, ...]`` and repeat their output: the same
    function, moving statistics and gradients (BatchNormalization's statistics of T identical
    copies equal those of one), for 1/T of their work. Call it before ``compile``/training;
    the flag is saved with the model. Returns the names of the layers it marked.

    >>> import keras_trt
    >>> model = keras_trt.models.build("sresnet18_cifar", timesteps=4)
    >>> keras_trt.temporal.hoist_static_layers(model)
    ['conv1', 'bn1']
    """
    static = set()
    marked = []
    for layer in model.layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        if isinstance(layer, RepeatTime):
            static.update(id(t) for node in nodes for t in node.output_tensors)
            continue
        if len(nodes) != 1:
            continue
        inputs = nodes[0].input_tensors
        if len(inputs) != 1 or id(inputs[0]) not in static:
            continue
        if isinstance(layer, TimeFolded):
            layer.static_input = True
            marked.append(layer.name)
        elif not isinstance(layer, TemporalReversal):
            continue  # a neuron or anything else ends the static part
        static.update(id(t) for t in nodes[0].output_tensors)
    return marked


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FiringRate(keras.layers.Layer):
    """Mean over the time axis: ``[B, T, ...] -> [B, ...]``."""

    def call(self, inputs):
        return ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TemporalReversal(keras.layers.Layer):
    """The TRT reversal point.

    Under TRT training the batch continues as the original sequences followed by their
    time-flipped copies, ``x_rev[t] = x[T-1-t]``: ``[B, T, ...] -> [2B, T, ...]``, so every
    layer downstream processes both with shared weights. Otherwise it is the identity and costs
    nothing. Place it at the input for temporal data (event frames, time series) and after a
    spiking layer for static data, where reversing the repeated input would be a no-op.

    >>> import keras, keras_trt
    >>> h = keras_trt.layers.RepeatTime(4)(keras.Input((28, 28, 1)))
    >>> stem_output = keras_trt.layers.TimeFolded(keras.layers.Conv2D(8, 3, padding="same"))(h)
    >>> h = keras_trt.layers.LIF()(stem_output)
    >>> h = keras_trt.layers.TemporalReversal()(h)
    >>> h.shape   # training under TRT doubles the batch here; the symbolic shape is unchanged
    (None, 4, 28, 28, 8)
    """

    def call(self, inputs):
        if not trt_branches_active():
            return inputs
        fraction = trt_batch_fraction()
        paired = inputs if fraction == 1.0 else inputs[: paired_count(_batch(inputs), fraction)]
        return ops.concatenate([inputs, ops.flip(paired, axis=1)], axis=0)

    def build(self, input_shape):
        static_timesteps(input_shape, "TemporalReversal")

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        if trt_branches_active() and batch is not None:
            batch = batch + paired_count(batch, trt_batch_fraction())
        return (batch,) + tuple(input_shape[1:])


def _batch(x):
    """The batch size: an int where it is static, else (TensorFlow) a scalar tensor."""
    return x.shape[0] if x.shape[0] is not None else ops.shape(x)[0]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StarProduct(keras.layers.Layer):
    """The TRT star-product point, on pooled spike features ``[B, T, C]``.

    Inference: the firing rates ``r = mean_t S[t]``, ``[B, C]``. Under TRT training the input
    holds the original and the reversed halves ``[2B, T, C]``; the output stacks their rates and
    the Hadamard product, ``[r; r_rev; r * r_rev]`` (``[3B, C]``), so the shared classifier
    that follows produces the logits ``O``, ``O_rev`` and ``O_star`` in one call. With a
    ``batch_fraction`` below 1 the input is ``[B + m, T, C]`` and the output
    ``[r; r_rev; r[:m] * r_rev]`` (``[B + 2m, C]``).
    """

    def call(self, inputs):
        rates = ops.mean(inputs, axis=1)
        if not trt_branches_active():
            return rates
        fraction = trt_batch_fraction()
        if fraction == 1.0:
            r, r_rev = ops.split(rates, 2, axis=0)
            return ops.concatenate([r, r_rev, r * r_rev], axis=0)
        batch = original_count(_batch(rates), fraction)
        r, r_rev = rates[:batch], rates[batch:]
        return ops.concatenate([rates, r[: paired_count(batch, fraction)] * r_rev], axis=0)

    def build(self, input_shape):
        static_timesteps(input_shape, "StarProduct")

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        if trt_branches_active() and batch is not None:
            if batch % 2:
                raise ValueError(
                    "StarProduct received an undoubled batch under TRT: it has no "
                    "TemporalReversal upstream."
                )
            fraction = trt_batch_fraction()
            if fraction == 1.0:
                batch = batch // 2 * 3
            else:
                batch = batch + paired_count(original_count(batch, fraction), fraction)
        return (batch,) + tuple(input_shape[2:])
