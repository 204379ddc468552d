"""Backbone and head apart: the feature extractor, the classification head, and surgery on them.

Every keras-trt classifier is a *backbone* that maps the input to spike features ``[B, T, C]``
followed by one *head*: a :class:`~keras_trt.layers.StarProduct` named ``star`` (firing rates;
the TRT star product in training) and a Dense layer named ``classifier``. Because the head is
always the same two layers, it can be taken off (:func:`backbone`), swapped for another number of
classes (:func:`replace_head`) or kept trainable while the backbone is frozen
(:func:`freeze_backbone`), on any builder's model and any zoo preset, without editing configs.

>>> import keras_trt
>>> from keras_trt.models import heads
>>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=4)
>>> heads.backbone(model).output_shape                     # spike features [B, T, C]
(None, 6, 8)
>>> heads.replace_head(model, 2).output_shape
(None, 2)
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.temporal import StarProduct

CLASSIFIER = "classifier"
STAR = "star"


def classifier_head(h, num_classes):
    """StarProduct (firing rates; the TRT star in training) then the Dense ``classifier``.

    ``h`` is ``[B, T, C]``. For a linear classifier, classifying the firing rate equals the
    mean over T of the per-step logits (SpikingJelly's multi-step ``fc`` then ``mean(0)``).
    """
    h = layers.StarProduct(name=STAR)(h)
    return keras.layers.Dense(num_classes, name=CLASSIFIER)(h)


def _functional(model, what):
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None) or not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            f"{what} needs a functional keras.Model (every keras_trt builder and zoo preset is one), got "
            f"{type(model).__name__}. Fix: build the model with keras.Model(inputs, outputs) / keras_trt.TRTModel."
        )


def _head_layers(model, what):
    """``(star or None, classifier)`` of ``model``, with an error naming the fix when absent."""
    _functional(model, what)
    names = [layer.name for layer in model.layers]
    if CLASSIFIER not in names:
        raise ValueError(
            f"{what} needs the model's head to be a Dense layer named '{CLASSIFIER}', but {model.name!r} has none "
            f"(last layers: {', '.join(names[-4:])}). Fix: build the head with "
            "keras_trt.models.heads.classifier_head(features, num_classes)."
        )
    classifier = model.get_layer(CLASSIFIER)
    if len(model.outputs) != 1:
        raise ValueError(f"{what} needs a single-output model; {model.name!r} has {len(model.outputs)}.")
    stars = [layer for layer in model.layers if isinstance(layer, StarProduct)]
    return (stars[0] if stars else None), classifier


def _new_model(model, inputs, outputs, name):
    from keras_trt.trt import TRTModel

    cls = TRTModel if isinstance(model, TRTModel) else keras.Model
    return cls(inputs, outputs, name=name)


def _inputs(model):
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def backbone(model):
    """The feature extractor of ``model``: same inputs and weights, outputs the spike features.

    The output is the input of the head's StarProduct, ``[B, T, C]`` (spikes per time step), or
    the classifier's input for a model without a StarProduct. The layers (and so the weights) are
    shared with ``model``.

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=4)
    >>> keras_trt.models.heads.backbone(model).name
    'smlp_backbone'
    """
    star, classifier = _head_layers(model, "backbone()")
    features = star.input if star is not None else classifier.input
    return _new_model(model, _inputs(model), features, f"{model.name}_backbone")


def replace_head(model, num_classes: int):
    """A model with the same backbone (shared layers and weights) and a new, freshly initialised
    ``classifier`` with ``num_classes`` outputs (the StarProduct, which has no weights, is kept).

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=4)
    >>> new = keras_trt.models.heads.replace_head(model, 7)
    >>> new.get_layer("classifier").units, new.get_layer("fc1") is model.get_layer("fc1")
    (7, True)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    star, classifier = _head_layers(model, "replace_head()")
    old = classifier.get_config()
    config = {k: old[k] for k in ("use_bias", "kernel_initializer", "bias_initializer") if k in old}
    head = keras.layers.Dense(num_classes, name=CLASSIFIER, **config)
    features = star.output if star is not None else classifier.input
    out = head(features)
    if model.outputs[0] is not classifier.output:
        out = _reapply_tail(model, classifier, out)
    return _new_model(model, _inputs(model), out, model.name)


def _reapply_tail(model, classifier, out):
    """Re-run the weight-free chain of layers after ``classifier`` (a Softmax, an Activation) on ``out``."""
    prev = classifier
    for layer in model.layers[model.layers.index(classifier) + 1:]:
        if layer.weights or len(layer._inbound_nodes) != 1 or layer.input is not prev.output:
            raise ValueError(
                f"replace_head() keeps layers after '{CLASSIFIER}' only when they form a chain of weight-free "
                f"layers (a Softmax, an Activation); {model.name!r} has {layer.name!r} there. Fix: replace the head "
                "by hand."
            )
        out, prev = layer(out), layer
    return out


def freeze_backbone(model) -> None:
    """Make every layer except ``classifier`` non-trainable (frozen BatchNormalization layers run
    in inference mode, so their moving statistics stay as trained). Compile afterwards.

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=4)
    >>> keras_trt.models.heads.freeze_backbone(model)
    >>> [w.path for w in model.trainable_weights]
    ['classifier/kernel', 'classifier/bias']
    """
    _head_layers(model, "freeze_backbone()")
    for layer in model.layers:
        layer.trainable = layer.name == CLASSIFIER


__all__ = ["CLASSIFIER", "STAR", "classifier_head", "backbone", "replace_head", "freeze_backbone"]
