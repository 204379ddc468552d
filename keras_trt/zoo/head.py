"""Classifier-head surgery for fine-tuning: new number of classes, frozen backbone.

Presets follow one convention: the output head is a layer named ``classifier`` with a ``units``
argument (a ``keras.layers.Dense`` or a keras_trt layer with the same signature).

>>> import copy, keras
>>> from keras_trt.zoo.head import replace_classifier_units
>>> inp = keras.Input((8,))
>>> model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
>>> config, old = replace_classifier_units(keras.saving.serialize_keras_object(model), 5)
>>> old
3
"""

from __future__ import annotations

import copy
from typing import Any

CLASSIFIER = "classifier"


def _layer_entries(config: dict) -> list:
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        raise ValueError(
            f"num_classes needs a functional or Sequential model whose config lists its layers; this preset's "
            f"top-level object is '{config.get('class_name') if isinstance(config, dict) else type(config).__name__}'. "
            "Fix: load without num_classes and replace the head yourself."
        )
    return layers


def _entry_name(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    cfg = entry.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
        return cfg["name"]
    return entry.get("name") if isinstance(entry.get("name"), str) else None


def classifier_units(config: dict) -> int | None:
    """Return the ``units`` of the layer named ``classifier`` in a model config, or ``None``.

    >>> import keras
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> classifier_units(keras.saving.serialize_keras_object(m))
    3
    """
    try:
        layers = _layer_entries(config)
    except ValueError:
        return None
    for entry in layers:
        if _entry_name(entry) == CLASSIFIER:
            units = entry.get("config", {}).get("units")
            return units if isinstance(units, int) else None
    return None


def replace_classifier_units(config: dict, num_classes: int) -> tuple[dict, int]:
    """Return ``(new_config, old_units)`` with the ``classifier`` layer resized to ``num_classes``.

    Only the head's ``units`` changes; the build configs of the head and of the layers after it are
    dropped so Keras rebuilds them for the new shape. Raises :class:`ValueError` (saying how to fix
    it) when the model has no suitable ``classifier`` layer.

    >>> import keras
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> new, old = replace_classifier_units(keras.saving.serialize_keras_object(m), 10)
    >>> old
    3
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    config = copy.deepcopy(config)
    layers = _layer_entries(config)
    index = next((i for i, e in enumerate(layers) if _entry_name(e) == CLASSIFIER), None)
    if index is None:
        names = [n for n in (_entry_name(e) for e in layers) if n]
        raise ValueError(
            f"num_classes needs the model's output head to be a layer named '{CLASSIFIER}', but this preset has "
            f"none (layers: {', '.join(names[-6:])}{'...' if len(names) > 6 else ''}). Fix: load without "
            "num_classes, or save presets with the head built as keras.layers.Dense(k, name='classifier')."
        )
    entry = layers[index]
    units = entry.get("config", {}).get("units")
    if not isinstance(units, int):
        raise ValueError(
            f"num_classes needs the '{CLASSIFIER}' layer to have a 'units' argument (like keras.layers.Dense); "
            f"this preset's '{CLASSIFIER}' is a {entry.get('class_name')} without one. Fix: load without num_classes."
        )
    entry["config"]["units"] = num_classes
    for later in layers[index:]:
        if isinstance(later, dict):
            later.pop("build_config", None)
    return config, units


def transfer_weights(source, target, skip=(CLASSIFIER,)) -> list[str]:
    """Copy weights layer by layer (matched by name) from ``source`` to ``target``, except ``skip``.

    Returns the names of the layers whose weights were copied.

    >>> import keras
    >>> def make(k):
    ...     inp = keras.Input((8,), name="x")
    ...     h = keras.layers.Dense(4, name="hidden")(inp)
    ...     return keras.Model(inp, keras.layers.Dense(k, name="classifier")(h))
    >>> transfer_weights(make(3), make(5))
    ['hidden']
    """
    copied = []
    for layer in target.layers:
        if layer.name in skip:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError as err:
            raise ValueError(
                f"Cannot transfer weights: layer '{layer.name}' exists in the new model but not in the preset."
            ) from err
        weights = src.get_weights()
        if weights or layer.weights:
            layer.set_weights(weights)
            copied.append(layer.name)
    return copied


def freeze_backbone(model) -> None:
    """Mark every layer except ``classifier`` non-trainable (compile the model afterwards).

    >>> import keras
    >>> inp = keras.Input((8,))
    >>> h = keras.layers.Dense(4, name="hidden")(inp)
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(h))
    >>> freeze_backbone(m)
    >>> [w.name for w in m.trainable_weights]
    ['kernel', 'bias']
    """
    names = [layer.name for layer in model.layers]
    if CLASSIFIER not in names:
        raise ValueError(
            f"freeze_backbone needs a layer named '{CLASSIFIER}' (the head that stays trainable); this model has "
            f"none. Fix: freeze layers yourself (layer.trainable = False) or name the head '{CLASSIFIER}'."
        )
    for layer in model.layers:
        layer.trainable = layer.name == CLASSIFIER


__all__ = ["CLASSIFIER", "classifier_units", "replace_classifier_units", "transfer_weights", "freeze_backbone"]
