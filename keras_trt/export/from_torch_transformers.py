"""Import SpikingJelly 2.0 transformer checkpoints: Spikformer, Spike-driven Transformer, QKFormer.

The transformers of :mod:`keras_trt.models` (``spikformer*``, ``sdt_*``, ``qkformer*``) name
every layer with weights after its SpikingJelly module path, ``.`` replaced by ``_``
(``blocks.0.attn.qkv_conv_bn.0`` is ``blocks_0_attn_qkv_conv_bn_0``), and ``head`` is the
``classifier``. So the key map is read off the checkpoint: each key's module path, with
underscores, names the Keras layer that takes it.

Conversions (the machinery of :mod:`keras_trt.export.from_torch`): Conv2d ``[out, in, kh, kw]``
-> ``[kh, kw, in, out]``; a 1x1 ``Conv1d`` / ``Conv2d`` on tokens or a ``Linear``,
``[out, in(, 1, 1)]`` -> the Dense kernel ``[in, out]``; BatchNorm ``weight/bias/running_mean/
running_var`` -> ``gamma/beta/moving_mean/moving_variance``; ``num_batches_tracked`` ignored.
SpikingJelly is time-major (``[T, N, C, H, W]``); our models take the static image and repeat it,
and our logits are the time average of its per-step outputs (Spikformer) or its output
(Spike-driven Transformer, QKFormer).

>>> import keras_trt
>>> from keras_trt.export import load_torch_transformer
>>> model = keras_trt.models.spikformer_cifar10(timesteps=4)
>>> report = load_torch_transformer(model, "spikformer_cifar10.pth")    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

import keras

from keras_trt import _graph, neurons
from keras_trt.export.from_torch import (
    _BN_KEYS,
    _IGNORED_SUFFIXES,
    assign_and_report,
    read_state_dict,
    state_dict_mismatch,
)

_TORCH_HEAD = "head"


def _keras_layer_name(torch_prefix):
    return "classifier" if torch_prefix == _TORCH_HEAD else torch_prefix.replace(".", "_")


def _layer_keys(layer, prefix):
    """``{torch_key: (variable, kind)}`` of one Keras layer whose SpikingJelly path is ``prefix``."""
    inner = _graph.inner_layer(layer)  # TimeFolded wraps Conv2D / BN / Dense
    keys = {}
    if isinstance(inner, keras.layers.Conv2D):
        keys[f"{prefix}.weight"] = (inner.kernel, "conv")
    elif isinstance(inner, keras.layers.Dense):
        keys[f"{prefix}.weight"] = (inner.kernel, "dense")
    elif isinstance(inner, keras.layers.BatchNormalization):
        for torch_name, attr in _BN_KEYS:
            if getattr(inner, attr, None) is not None:
                keys[f"{prefix}.{torch_name}"] = (getattr(inner, attr), "copy")
        return keys
    elif isinstance(inner, neurons.ParametricLIF):
        return {f"{prefix}.w": (inner.w, "copy")}
    elif inner.weights:
        raise ValueError(
            f"Layer {layer.name!r} ({type(inner).__name__}) has weights that load_torch_transformer "
            "does not know how to import."
        )
    if getattr(inner, "use_bias", False):
        keys[f"{prefix}.bias"] = (inner.bias, "copy")
    return keys


def torch_transformer_key_map(model, checkpoint_keys):
    """``(mapping, unmatched_layers)``: ``{torch_key: (keras_variable, kind)}`` for the keys whose
    module path names a layer of ``model``, and the names of the model's layers with weights that
    no key names.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=1, input_shape=(16, 16, 3))
    >>> mapping, unmatched = torch_transformer_key_map(model, ["blocks.0.attn.qkv_conv_bn.0.weight"])
    >>> mapping["blocks.0.attn.qkv_conv_bn.0.weight"][0].path.split("/")[0], "classifier" in unmatched
    ('blocks_0_attn_qkv_conv_bn_0', True)
    """
    layers = {layer.name: layer for layer in model.layers}
    prefixes = {key.rsplit(".", 1)[0] for key in checkpoint_keys if "." in key}
    mapping, matched = {}, set()
    for prefix in sorted(prefixes):
        layer = layers.get(_keras_layer_name(prefix))
        if layer is not None:
            mapping.update(_layer_keys(layer, prefix))
            matched.add(layer.name)
    unmatched = [name for name, layer in layers.items() if layer.weights and name not in matched]
    return mapping, unmatched


def _convert(value, kind, expected):
    if kind == "conv" and value.ndim == 4:
        return np.transpose(value, (2, 3, 1, 0))
    if kind == "dense":
        if value.ndim in (3, 4) and all(d == 1 for d in value.shape[2:]):  # Conv1d / 1x1 Conv2d
            value = value.reshape(value.shape[:2])
        if value.ndim == 2:
            return np.transpose(value)
    return value


def load_torch_transformer(model, state_dict_or_path, *, strict=True, skip_classifier=False):
    """Copies a SpikingJelly 2.0 transformer's weights into the matching keras-trt model.

    Works for ``spikformer_ti`` / ``spikformer_s`` / ``spikformer_cifar10`` / ``Spikformer(...)``
    (use :func:`keras_trt.models.spikformer` with the same ``embed_dims``, ``depths``,
    ``patch_size``), ``sdt_8_384`` / ``SpikeDrivenTransformer(...)``
    (:func:`~keras_trt.models.spike_driven_transformer`) and ``qkformer_10_384`` /
    ``QKFormer(...)`` (:func:`~keras_trt.models.qkformer`). Neuron options have no weights:
    build the model with the checkpoint's (``neuron="plif"`` for ``ParametricLIFNode``).

    Args:
        model: the Keras model (any backend).
        state_dict_or_path: a state dict, a checkpoint dict wrapping one, or a ``.pth`` file
            (:func:`keras_trt.export.read_state_dict`).
        strict: raise if a key has no layer or a layer with weights has no key.
        skip_classifier: keep the model's classifier and ignore the checkpoint's ``head``.

    Returns:
        An :class:`~keras_trt.export.ImportReport`. Nothing is written unless every tensor fits.

    >>> import keras_trt, torch
    >>> from spikingjelly.activation_based.model import spikformer as sj
    >>> net = sj.Spikformer(T=2, img_size_h=16, img_size_w=16, patch_size=4, num_classes=10,
    ...                     embed_dims=32, num_heads=2, depths=1)
    >>> model = keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=1,
    ...                                     input_shape=(16, 16, 3), timesteps=2)
    >>> print(load_torch_transformer(model, net.state_dict()))
    ImportReport(loaded=47, skipped=0, missing=0, unexpected=0)
    """
    arrays = read_state_dict(state_dict_or_path)
    checkpoint_keys = {k for k in arrays if not k.endswith(_IGNORED_SUFFIXES)}
    mapping, unmatched = torch_transformer_key_map(model, checkpoint_keys)
    skipped = sorted(k for k in mapping if skip_classifier and k.startswith(_TORCH_HEAD + "."))
    if skip_classifier:
        unmatched = [name for name in unmatched if name != "classifier"]
    wanted = set(mapping) - set(skipped)
    missing = sorted(wanted - checkpoint_keys) + [f"<layer {name}>" for name in unmatched]
    unexpected = sorted(checkpoint_keys - set(mapping) - set(skipped))
    if skip_classifier:
        unexpected = [k for k in unexpected if not k.startswith(_TORCH_HEAD + ".")]
    if strict and (missing or unexpected):
        raise state_dict_mismatch(
            model, missing, unexpected,
            "build the model with the checkpoint's family and depths (blocks.N / stageS.N keys), its patch "
            "stem (patch_size, pooling_stat) and neuron type ('.w' keys: neuron='plif'), or pass strict=False "
            "to load the keys that match",
        )
    updates = []
    for key in sorted(k for k in wanted if k in checkpoint_keys):
        variable, kind = mapping[key]
        value = _convert(arrays[key], kind, tuple(variable.shape))
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"Shape mismatch for {key!r} (Keras {variable.path!r}): the checkpoint has {tuple(arrays[key].shape)}, "
                f"the model {tuple(variable.shape)} (Keras layout). Build the model with the checkpoint's widths "
                "(embed_dims, mlp_ratio) and num_classes, or pass skip_classifier=True for another head."
            )
        updates.append((variable, value))
    return assign_and_report(updates, wanted, checkpoint_keys, skipped, missing, unexpected)


__all__ = ["load_torch_transformer", "torch_transformer_key_map"]
