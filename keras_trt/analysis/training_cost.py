"""Training FLOPs of a model under a TRT config: full TRT, its cheaper variants, the plain SNN.

The count is the dense one of :func:`~keras_trt.analysis.dense_macs` (convolutions and Dense
layers; BN, neurons and pooling are element-wise and left out), 2 FLOPs per multiply-add, for
one training step per image: the forward pass, and a backward pass of twice the forward (input
and weight gradients) except for the first synaptic layer, whose input gradient is not needed.

Under TRT each layer runs on more samples than the batch:

- before the :class:`~keras_trt.layers.TemporalReversal`: ``B`` (once per image);
- after it: ``B + m``, with ``m = B`` for full TRT and ``m = ceil(batch_fraction * B)``
  otherwise (:func:`keras_trt.temporal.paired_count`);
- after the :class:`~keras_trt.layers.StarProduct` (the classifier): ``B + 2m`` (original,
  reversed and star features).

A schedule (``start_epoch``, ``stop_epoch``, ``every_steps``) mixes TRT and plain steps; the
run's FLOPs per image and epoch average them over its steps (:func:`training_flops` with
``epochs`` and ``steps_per_epoch``).

>>> import keras_trt
>>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
>>> plain = training_flops(model, None)
>>> round(training_flops(model, keras_trt.TRTConfig()) / plain, 2)    # reversal at the input
2.0
>>> round(training_flops(model, keras_trt.TRTConfig(batch_fraction=0.25)) / plain, 2)
1.25
"""

from __future__ import annotations

from keras_trt import temporal
from keras_trt.analysis.counting import dense_macs


def layer_costs(model):
    """``[(name, flops, place)]`` of every synaptic layer: forward + backward FLOPs per image of
    one plain step, and ``place``: ``"before"`` the reversal, ``"after"`` it or ``"star"``
    (after the StarProduct)."""
    out = []
    place = "before"
    first = True
    for layer in model.layers:
        if isinstance(layer, temporal.TemporalReversal):
            place = "after"
            continue
        if isinstance(layer, temporal.StarProduct) and place == "after":
            place = "star"
            continue
        macs = dense_macs(layer)
        if not macs:
            continue
        forward = 2.0 * macs
        out.append((layer.name, forward + forward * (1.0 if first else 2.0), place))
        first = False
    return out


def step_flops(model, trt, batch_size=None):
    """FLOPs per image of one training step: a TRT step under ``trt`` (a TRTConfig), or the
    plain step (``trt=None``). ``batch_size`` makes ``m / B`` exact for a fraction that does
    not divide it (``ceil``); by default ``m / B = batch_fraction``."""
    if trt is None:
        paired = 0.0
    elif batch_size is None:
        paired = float(trt.batch_fraction)
    else:
        paired = trt.paired_count(int(batch_size)) / int(batch_size)
    multiplicity = {"before": 1.0, "after": 1.0 + paired, "star": 1.0 + 2.0 * paired}
    return sum(flops * multiplicity[place] for _, flops, place in layer_costs(model))


def trt_step_share(trt, epochs, steps_per_epoch):
    """The share of the run's steps that are TRT steps under ``trt``'s schedule."""
    if trt is None:
        return 0.0
    epochs, steps = int(epochs), int(steps_per_epoch)
    if epochs < 1 or steps < 1:
        raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {steps}.")
    count = sum(trt.is_trt_step(e, b) for e in range(epochs) for b in range(steps))
    return count / (epochs * steps)


def training_flops(model, trt, *, epochs=None, steps_per_epoch=None, batch_size=None):
    """Training FLOPs per image and epoch (forward + backward), averaged over the run.

    ``trt``: a :class:`~keras_trt.TRTConfig` (or None for the plain SNN). For a config with a
    schedule give ``epochs`` and ``steps_per_epoch``: the result is then
    ``plain + share * (trt_step - plain)``, ``share`` the fraction of TRT steps in the run.
    """
    plain = step_flops(model, None)
    if trt is None:
        return plain
    full = step_flops(model, trt, batch_size)
    if not trt.scheduled:
        return full
    if epochs is None or steps_per_epoch is None:
        raise ValueError(
            "This TRTConfig has a schedule (start_epoch, stop_epoch or every_steps): pass "
            "epochs= and steps_per_epoch= to average its TRT and plain steps."
        )
    return plain + trt_step_share(trt, epochs, steps_per_epoch) * (full - plain)
