"""Is my SNN silent? Firing rates in inference vs training mode, and a fix for lagging BN statistics.

An SNN is unforgiving of BatchNormalization's moving statistics: when the moving variance is
larger than the batch variance seen in training (Keras' default ``momentum=0.99`` after a few
hundred steps still carries a large share of its initial 1.0), every normalised input shrinks,
no membrane reaches threshold, and inference outputs the classifier's bias for every input while
training accuracy looks fine. This module finds that and repairs it:

- :func:`check_silence` compares each spiking layer's firing rate in inference mode with its rate
  in training mode (batch statistics) on the same inputs, and checks whether the inference
  outputs depend on the input at all. It returns a :class:`SilenceReport`.
- :class:`SilenceCheck` is a Keras callback that runs the check on validation data during
  ``fit`` and warns (or stops training).
- :func:`recalibrate_batch_norm` re-estimates every BatchNormalization's moving statistics from
  data (the mean of the batch statistics), the usual fix for a model that was trained with a slow
  BN momentum.

>>> import numpy as np, keras, keras_trt
>>> from keras_trt import layers, diagnostics
>>> x = keras.Input((6,))
>>> h = layers.RepeatTime(4)(x)
>>> h = layers.TimeFolded(keras.layers.Dense(8))(h)
>>> h = layers.LIF(v_threshold=1e6, name="deaf")(h)         # a threshold no input reaches
>>> out = keras.layers.Dense(3, name="classifier")(layers.StarProduct()(h))
>>> x_val = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
>>> report = diagnostics.check_silence(keras_trt.TRTModel(x, out), x_val)
>>> report.silent, report.constant_output
(True, True)
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

#: Inference outputs whose spread across inputs is below this (relative to their magnitude)
#: do not depend on the input.
CONSTANT_TOLERANCE = 1e-6
#: A layer whose inference firing rate is at most this fraction of its training-mode rate is
#: silent (a handful of spikes in a million is as good as none).
QUIET_RATIO = 0.01

_CAUSES = (
    "Likely causes: (1) BatchNormalization moving statistics that lag the batch statistics "
    "(Keras' default momentum=0.99 needs thousands of steps; SNNs need PyTorch's pace, "
    "momentum=0.9, which keras_trt.layers.batch_norm() uses) - fix an existing model with "
    "keras_trt.diagnostics.recalibrate_batch_norm(model, x_train), or rebuild its BN with "
    "momentum=0.9 and train again; (2) a threshold too high for the input scale (normalise the "
    "inputs, or lower v_threshold); (3) too few time steps for the membranes to charge (raise T)."
)


class SilenceWarning(UserWarning):
    """Issued when a model's inference outputs ignore the input or a spiking layer goes quiet."""


@dataclasses.dataclass
class SilenceReport:
    """What :func:`check_silence` found.

    Attributes:
        layers: one dict per spiking layer: ``name``, ``inference_rate`` and ``training_rate``
            (mean spikes per neuron and step in inference mode and in training mode).
        silent_layers: names of the layers that fire in training mode but (almost) never in
            inference mode: at most :data:`QUIET_RATIO` of their training-mode rate.
        constant_output: the inference outputs are the same for every input.
        output_spread: the largest standard deviation across inputs of any output unit.
    """

    layers: list
    silent_layers: list
    constant_output: bool
    output_spread: float

    @property
    def silent(self) -> bool:
        """True if the model is silent: constant outputs or a layer quiet only at inference."""
        return bool(self.silent_layers) or self.constant_output

    @property
    def message(self) -> str:
        """A sentence saying what is wrong, why it usually happens and how to fix it ('' if healthy)."""
        if not self.silent:
            return ""
        parts = []
        if self.constant_output:
            parts.append(
                "The model's inference outputs do not depend on its input (every input gets the same "
                f"prediction; spread across inputs {self.output_spread:.2g})."
            )
        if self.silent_layers:
            rates = {l["name"]: l for l in self.layers}
            shown = ", ".join(
                f"{n} ({rates[n]['training_rate']:.3f} in training mode)" for n in self.silent_layers[:6]
            )
            more = "..." if len(self.silent_layers) > 6 else ""
            parts.append(
                f"These spiking layers fire in training mode but (almost) never in inference mode: {shown}{more}."
            )
        return " ".join(parts) + " " + _CAUSES

    def __str__(self):
        rows = [f"{l['name']:<24} inference {l['inference_rate']:.4f}  training {l['training_rate']:.4f}"
                for l in self.layers]
        head = self.message or "Healthy: every spiking layer fires in inference mode and the outputs depend on the input."
        return "\n".join([head, *rows])


def _batch_norms(model) -> list:
    import keras

    return [l for l in model._flatten_layers(include_self=False) if isinstance(l, keras.layers.BatchNormalization)]


def _restoring_state(model):
    """Snapshot of the non-trainable variables (BN moving statistics), to undo a training-mode call."""
    import keras

    saved = [(v, keras.ops.convert_to_numpy(v)) for v in model.non_trainable_variables]

    def restore():
        for variable, value in saved:
            variable.assign(value)

    return restore


def _outputs(model, x, batch_size):
    import keras

    n = len(keras.tree.flatten(x)[0])
    parts = []
    for start in range(0, n, batch_size):
        xb = keras.tree.map_structure(lambda a: a[start:start + batch_size], x)
        parts.append(keras.ops.convert_to_numpy(keras.tree.flatten(model(xb, training=False))[0]))
    return np.concatenate(parts)


def check_inputs(model, x, entry):
    """The checks of :mod:`keras_trt.trt.data_checks` (shape and T, NaN/Inf, scale), then: at
    least 2 inputs that are not all the same. Identical inputs (all zero, or one sample
    repeated) give identical outputs whatever the model, so they cannot tell a silent model;
    and their batch statistics (variance 0) would ruin every BatchNormalization."""
    import keras

    from keras_trt.trt import data_checks

    if not data_checks._is_arrays(x):
        raise TypeError(f"{entry} takes in-memory inputs (a NumPy array or a structure of them), "
                        f"got {type(x).__name__}; e.g. x = np.concatenate([b[0] for b in ds.take(4)]).")
    data_checks.check(model, x, entry=entry, labels=False)
    leaves = [np.asarray(keras.ops.convert_to_numpy(a)) for a in keras.tree.flatten(x)]
    n = len(leaves[0])
    if n < 2:
        raise data_checks.DataError(
            f"{entry} needs at least 2 different inputs, got {n}. Pass a batch of real inputs, "
            "e.g. a few hundred validation samples.")
    if all(np.all(a == a[:1]) for a in leaves):
        what = "all zero" if all(not np.any(a) for a in leaves) else "all the same sample"
        raise data_checks.DataError(
            f"{entry} got {n} identical inputs ({what}): this is an input problem, not the "
            "model's. Identical inputs give identical outputs whatever the model (so a constant "
            "output tells nothing), and give BatchNormalization a batch variance of 0. Pass real, "
            "varied inputs, e.g. a few hundred validation samples (check the loader if these "
            "were meant to be real data).")


def check_silence(model, x, *, batch_size: int = 256) -> SilenceReport:
    """Check whether ``model`` has gone silent at inference on the inputs ``x``.

    Runs ``x`` through the model twice: in inference mode (moving BN statistics, what ``predict``
    does) and in training mode (batch statistics, what ``fit`` sees; the model's variables are
    restored afterwards, so the check changes nothing). The inputs are checked first
    (:func:`check_inputs`): NaN/Inf, absurdly scaled, wrongly shaped or identical inputs (all
    zero, one sample repeated) raise a ``DataError`` that says so, rather than a report that
    blames the model. A layer is *silent* when it fires in
    training mode and its inference firing rate is at most 1 % of that (:data:`QUIET_RATIO`);
    the output is *constant* when
    no output unit varies across the inputs (give at least two different inputs).

    Args:
        model: a functional Keras model (every ``keras_trt.models`` builder and zoo model).
        x: a batch of inputs (a NumPy array or a structure of arrays), e.g. validation data.
        batch_size: inputs per forward pass.

    Returns:
        A :class:`SilenceReport`; ``report.silent`` is the verdict and ``report.message`` says why
        and how to fix it.

    An untrained model is a fair example: its BN moving statistics are the initial mean 0 and
    variance 1, far from what the data gives, and recalibrating them makes it fire.

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> x = np.random.default_rng(0).normal(size=(64, 6, 5)).astype("float32")
    >>> report = keras_trt.diagnostics.check_silence(model, x)
    >>> report.silent, report.silent_layers
    (True, ['sn2'])
    >>> _ = keras_trt.diagnostics.recalibrate_batch_norm(model, x)
    >>> keras_trt.diagnostics.check_silence(model, x).silent
    False
    """
    import keras

    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise TypeError(
            "check_silence needs a built functional keras.Model (one made with keras.Model(inputs, outputs), "
            f"as every keras_trt builder and zoo model is), got {type(model).__name__}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    check_inputs(model, x, "check_silence")
    from keras_trt import analysis

    probe = analysis.spike_probe(model)
    out_inf = _outputs(model, x, batch_size)
    rates_inf = analysis.firing_rates(model, x, batch_size, probe=probe)
    restore = _restoring_state(model)
    try:
        rates_train = analysis.firing_rates(model, x, batch_size, probe=probe, training=True)
    finally:
        restore()
    out_inf = out_inf.reshape(len(out_inf), -1).astype("float64")
    spread = float(out_inf.std(axis=0).max()) if out_inf.size else 0.0
    scale = max(1.0, float(np.abs(out_inf).max()) if out_inf.size else 1.0)
    per_layer = [
        dict(name=name, inference_rate=float(rate), training_rate=float(rates_train[name]))
        for name, rate in rates_inf.items()
    ]
    silent = [
        d["name"] for d in per_layer
        if d["training_rate"] > 0.0 and d["inference_rate"] <= QUIET_RATIO * d["training_rate"]
    ]
    return SilenceReport(per_layer, silent, spread <= CONSTANT_TOLERANCE * scale, spread)


def warn_if_silent(model, x, *, batch_size: int = 256, context: str = "") -> SilenceReport:
    """Run :func:`check_silence` and issue a :class:`SilenceWarning` if the model is silent.

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> x = np.random.default_rng(0).normal(size=(64, 6, 5)).astype("float32")
    >>> _ = keras_trt.diagnostics.recalibrate_batch_norm(model, x)
    >>> keras_trt.diagnostics.warn_if_silent(model, x, context="smlp").silent   # no warning
    False
    """
    report = check_silence(model, x, batch_size=batch_size)
    if report.silent:
        warnings.warn((f"{context}: " if context else "") + report.message, SilenceWarning, stacklevel=2)
    return report


def recalibrate_batch_norm(model, x, *, batch_size: int = 256) -> int:
    """Set every BatchNormalization's moving statistics to the mean of its batch statistics on ``x``.

    The fix for a model whose moving statistics lag (see :func:`check_silence`): training-mode
    forward passes over ``x`` (no weight changes) with a cumulative average instead of Keras'
    exponential one, so afterwards inference normalises with the statistics the network was
    trained with. Use training inputs (without augmentation), a few thousand samples are plenty.
    Returns the number of BatchNormalization layers updated.

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> x = np.random.default_rng(0).normal(size=(32, 6, 5)).astype("float32")
    >>> keras_trt.diagnostics.recalibrate_batch_norm(model, x, batch_size=16)
    2
    """
    import keras

    check_inputs(model, x, "recalibrate_batch_norm")
    bns = _batch_norms(model)
    if not bns:
        return 0
    n = len(keras.tree.flatten(x)[0])
    saved = [layer.momentum for layer in bns]
    try:
        for i, start in enumerate(range(0, n, batch_size)):
            # moving = m * moving + (1 - m) * batch with m = i / (i + 1): the running mean of the
            # batch statistics (the first batch replaces the old statistics entirely).
            for layer in bns:
                layer.momentum = i / (i + 1)
            xb = keras.tree.map_structure(lambda a: a[start:start + batch_size], x)
            model(xb, training=True)
    finally:
        for layer, momentum in zip(bns, saved):
            layer.momentum = momentum
    return len(bns)


def _callback_base():
    import keras

    return keras.callbacks.Callback


class SilenceCheck(_callback_base()):
    """Keras callback: check for silence on validation inputs every ``every`` epochs during ``fit``.

    Args:
        x: validation inputs (a batch of a few hundred samples is enough).
        every: run every this many epochs (and always after the last epoch).
        action: ``"warn"`` (a :class:`SilenceWarning`), ``"stop"`` (warn and stop training) or
            ``"raise"`` (a RuntimeError).
        batch_size: inputs per forward pass.

    The latest report is kept in ``callback.report`` and its verdict is added to the epoch logs
    as ``silent`` (1.0 or 0.0).

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> model.compile("adam", trt=keras_trt.TRTConfig())
    >>> x = np.random.default_rng(0).normal(size=(64, 6, 5)).astype("float32")
    >>> check = keras_trt.diagnostics.SilenceCheck(x[:32], every=4, action="warn")
    >>> history = model.fit(x, np.arange(64) % 3, epochs=4, batch_size=8, verbose=0, callbacks=[check])
    >>> history.history["silent"], check.report.silent      # checked after the 4th epoch only
    ([0.0], False)
    """

    def __init__(self, x, *, every: int = 1, action: str = "warn", batch_size: int = 256):
        super().__init__()
        if action not in ("warn", "stop", "raise"):
            raise ValueError(f"action must be 'warn', 'stop' or 'raise', got {action!r}.")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}.")
        self.x, self.every, self.action, self.batch_size = x, every, action, batch_size
        self.report = None

    def on_train_begin(self, logs=None):
        self._epochs = (self.params or {}).get("epochs")

    def on_epoch_end(self, epoch, logs=None):
        last = self._epochs is not None and epoch + 1 >= self._epochs
        if (epoch + 1) % self.every and not last:
            return
        self.report = check_silence(self.model, self.x, batch_size=self.batch_size)
        if logs is not None:
            logs["silent"] = float(self.report.silent)
        if not self.report.silent:
            return
        text = f"Epoch {epoch + 1}: {self.report.message}"
        if self.action == "raise":
            raise RuntimeError(text)
        warnings.warn(text, SilenceWarning, stacklevel=2)
        if self.action == "stop":
            self.model.stop_training = True


__all__ = [
    "SilenceWarning",
    "SilenceReport",
    "SilenceCheck",
    "check_silence",
    "check_inputs",
    "warn_if_silent",
    "recalibrate_batch_norm",
]
