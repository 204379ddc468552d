"""Import PyTorch ResNet weights (SpikingJelly ``spiking_resnet`` / ``sew_resnet``, torchvision).

SpikingJelly's spiking and SEW ResNets keep torchvision's module names, so their state dicts
and torchvision's ``resnet18`` / ``resnet34`` checkpoints share one key scheme::

    conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
    layer{s}.{b}.conv1.weight, layer{s}.{b}.bn1.*, layer{s}.{b}.conv2.weight, layer{s}.{b}.bn2.*,
    layer{s}.{b}.downsample.0.weight, layer{s}.{b}.downsample.1.*, fc.weight, fc.bias

plus ``<neuron>.w`` for SpikingJelly's ``ParametricLIFNode``. The ResNets of
:mod:`keras_trt.models.resnet` name their layers after these modules (``layer1_0_conv1``,
``layer2_0_downsample_bn``, ``classifier`` for ``fc``), and pad exactly as PyTorch does, so an
imported network computes the same logits (SpikingJelly is time-major ``[T, B, C, H, W]``;
its multi-step ``fc`` output averaged over T equals our classifier on the firing rates).

Conversions: Conv2d ``[out, in, kh, kw]`` -> Keras ``[kh, kw, in, out]``; Linear ``[out, in]`` ->
``[in, out]``; BatchNorm ``weight/bias/running_mean/running_var`` -> ``gamma/beta/
moving_mean/moving_variance``; ``num_batches_tracked`` is ignored.

>>> import keras_trt
>>> from keras_trt.export import load_torch_resnet
>>> model = keras_trt.models.sew_resnet34(num_classes=1000, timesteps=4)
>>> report = load_torch_resnet(model, "sew34_checkpoint.pth")          # doctest: +SKIP
>>> model = keras_trt.models.sresnet18(num_classes=10, timesteps=4)    # new head for CIFAR-10
>>> load_torch_resnet(model, torchvision_state_dict, skip_classifier=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

import numpy as np

import keras

from keras_trt import _graph, neurons

_BLOCK = re.compile(r"^layer(\d+)_(\d+)_(.+)$")
_DOWNSAMPLE = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}
_BN_KEYS = (
    ("weight", "gamma"),
    ("bias", "beta"),
    ("running_mean", "moving_mean"),
    ("running_var", "moving_variance"),
)
_IGNORED_SUFFIXES = (".num_batches_tracked",)
_CHECKPOINT_WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "module")


@dataclasses.dataclass
class ImportReport:
    """What :func:`load_torch_resnet` did.

    Attributes:
        loaded: the PyTorch keys copied into the model.
        skipped: the model's keys deliberately left as they are (``skip_classifier``).
        missing: keys the model needs that the state dict lacks (empty unless ``strict=False``).
        unexpected: keys of the state dict the model has no place for (empty unless
            ``strict=False``); ``num_batches_tracked`` buffers are never listed.
    """

    loaded: list
    skipped: list
    missing: list
    unexpected: list

    def __str__(self):
        return (
            f"ImportReport(loaded={len(self.loaded)}, skipped={len(self.skipped)}, "
            f"missing={len(self.missing)}, unexpected={len(self.unexpected)})"
        )


def torch_resnet_key_map(model):
    """``{torch_key: (keras_variable, kind)}`` for a ResNet built by :mod:`keras_trt.models`.

    ``kind`` is ``"conv"``, ``"dense"`` or ``"copy"`` (the conversion applied). Use it to see
    where each PyTorch tensor goes, or to write a converter for a variant.

    >>> import keras_trt
    >>> mapping = torch_resnet_key_map(keras_trt.models.sresnet18(num_classes=10))
    >>> variable, kind = mapping["layer2.0.downsample.0.weight"]
    >>> variable.path.split("/")[0], kind
    ('layer2_0_downsample_conv', 'conv')
    """
    names = {layer.name for layer in model.layers}
    if "conv1" not in names or "layer1_0_conv1" not in names or "classifier" not in names:
        raise ValueError(
            f"{model.name!r} is not a ResNet built by keras_trt.models (sresnet18, sresnet34, "
            "sew_resnet18, sew_resnet34, sresnet19, sresnet20, spiking_resnet): it has no layers "
            "named 'conv1', 'layer1_0_conv1' and 'classifier'."
        )
    hidden = sorted(int(n[2:]) for n in names if re.fullmatch(r"fc\d+", n))
    mapping = {}
    for layer in model.layers:
        inner = _graph.inner_layer(layer)  # TimeFolded wraps Conv2D / BN / Dense
        prefix = _torch_prefix(layer.name, len(hidden))
        if prefix is None:
            if inner.weights:
                raise ValueError(
                    f"Layer {layer.name!r} of {model.name!r} has weights but no PyTorch "
                    "counterpart in the torchvision ResNet layout."
                )
            continue
        if isinstance(inner, keras.layers.Conv2D):
            mapping[f"{prefix}.weight"] = (inner.kernel, "conv")
            if inner.use_bias:
                mapping[f"{prefix}.bias"] = (inner.bias, "copy")
        elif isinstance(inner, keras.layers.BatchNormalization):
            for torch_name, attr in _BN_KEYS:
                variable = getattr(inner, attr, None)
                if variable is not None:
                    mapping[f"{prefix}.{torch_name}"] = (variable, "copy")
        elif isinstance(inner, keras.layers.Dense):
            mapping[f"{prefix}.weight"] = (inner.kernel, "dense")
            if inner.use_bias:
                mapping[f"{prefix}.bias"] = (inner.bias, "copy")
        elif isinstance(inner, neurons.ParametricLIF):
            mapping[f"{prefix}.w"] = (inner.w, "copy")
        elif inner.weights:
            raise ValueError(
                f"Layer {layer.name!r} ({type(inner).__name__}) has weights that "
                "load_torch_resnet does not know how to import."
            )
    return mapping


def _torch_prefix(name, num_hidden):
    """The PyTorch module path of a Keras layer name, or None for layers without one."""
    match = _BLOCK.match(name)
    if match:
        stage, block, part = match.groups()
        return f"layer{stage}.{block}.{_DOWNSAMPLE.get(part, part)}"
    if name in ("conv1", "bn1", "sn1"):
        return name
    if name == "classifier":
        return "fc" if num_hidden == 0 else f"fc{num_hidden + 1}"  # ResNet-19: fc1, fc2
    if re.fullmatch(r"fc\d+(_sn)?", name):
        return name
    return None


def torch_resnet_state_dict(model):
    """The model's weights as a PyTorch-layout ``{key: numpy array}`` state dict.

    The inverse of :func:`load_torch_resnet`: ``torch.nn.Module.load_state_dict`` of the
    matching SpikingJelly / torchvision ResNet accepts it after ``torch.from_numpy`` (add
    ``strict=False`` or zero ``num_batches_tracked`` buffers, which Keras does not keep).

    >>> import keras_trt, torch
    >>> model = keras_trt.models.sresnet18(num_classes=10)
    >>> state = {k: torch.from_numpy(v) for k, v in torch_resnet_state_dict(model).items()}
    >>> tuple(state["layer2.0.downsample.0.weight"].shape)
    (128, 64, 1, 1)
    """
    out = {}
    for key, (variable, kind) in torch_resnet_key_map(model).items():
        value = np.asarray(keras.ops.convert_to_numpy(variable.value))
        if kind == "conv":
            value = np.transpose(value, (3, 2, 0, 1))
        elif kind == "dense":
            value = np.transpose(value)
        out[key] = np.ascontiguousarray(value)
    return out


def read_state_dict(state_dict_or_path):
    """A ``{key: numpy array}`` dict from a state dict, a checkpoint dict or a file path.

    Accepts ``{key: torch.Tensor | numpy array}``, a training checkpoint that wraps one
    (``{"model": ...}``, ``{"state_dict": ...}``, ``{"net": ...}``), and a ``.pth`` / ``.pt``
    file of either (read with ``torch.load(..., weights_only=True)``). A ``module.`` prefix
    (``DataParallel`` / DDP) is removed.

    >>> arrays = read_state_dict("checkpoint_max.pth")       # doctest: +SKIP
    >>> arrays["conv1.weight"].shape                          # doctest: +SKIP
    (64, 3, 7, 7)
    """
    source = state_dict_or_path
    if isinstance(source, (str, os.PathLike)):
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                "Reading a PyTorch checkpoint file needs PyTorch (`pip install torch`); or pass "
                "the state dict as a {key: numpy array} dict."
            ) from e
        source = torch.load(os.fspath(source), map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise TypeError(
            f"Expected a state dict (a mapping of names to tensors) or a path to one, got "
            f"{type(source).__name__}."
        )
    for _ in range(3):  # unwrap {"model": {"state_dict": ...}} and the like
        if any(_is_array(v) for v in source.values()):
            break
        inner = next((source[k] for k in _CHECKPOINT_WRAPPERS if isinstance(source.get(k), Mapping)), None)
        if inner is None:
            break
        source = inner
    arrays = {str(k): _to_numpy(v) for k, v in source.items() if _is_array(v)}
    if not arrays:
        raise ValueError(
            "The checkpoint holds no tensors. Pass the model's state_dict(), or a checkpoint "
            f"dict with one under one of {list(_CHECKPOINT_WRAPPERS)}; top-level keys were "
            f"{sorted(map(str, source))[:10]}."
        )
    if all(k.startswith("module.") for k in arrays):
        arrays = {k[len("module."):]: v for k, v in arrays.items()}
    return arrays


def _is_array(value):
    return isinstance(value, np.ndarray) or (hasattr(value, "detach") and hasattr(value, "shape"))


def _to_numpy(value):
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu()
        if getattr(value, "dtype", None) is not None and "bfloat16" in str(value.dtype):
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def _convert(value, kind):
    if kind == "conv":
        return np.transpose(value, (2, 3, 1, 0)) if value.ndim == 4 else value
    if kind == "dense":
        return np.transpose(value) if value.ndim == 2 else value
    return value


def _torch_shape(shape, kind):
    """The PyTorch shape whose conversion gives the Keras ``shape`` (for error messages)."""
    shape = tuple(shape)
    if kind == "conv" and len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if kind == "dense" and len(shape) == 2:
        return (shape[1], shape[0])
    return shape


def _stage_blocks(keys):
    blocks = {}
    for key in keys:
        match = re.match(r"^layer(\d+)\.(\d+)\.", key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    return [blocks[s] for s in sorted(blocks)]


def _key_hints(missing, unexpected, checkpoint_keys, model_keys):
    hints = []
    if any(".conv3." in k or ".bn3." in k for k in unexpected):
        hints.append(
            "the checkpoint has Bottleneck blocks (conv3/bn3: ResNet-50 and deeper), which "
            "keras_trt.models does not build"
        )
    theirs, ours = _stage_blocks(checkpoint_keys), _stage_blocks(model_keys)
    if theirs and theirs != ours:
        hints.append(
            f"the checkpoint has {theirs} blocks per stage, the model {ours} (ResNet-18: "
            "[2, 2, 2, 2], ResNet-34: [3, 4, 6, 3]); build the matching depth"
        )
    if any(k.endswith(".w") for k in unexpected):
        hints.append("the checkpoint has ParametricLIF neurons ('.w' keys): build the model with neuron='plif'")
    if any(k.endswith(".w") for k in missing):
        hints.append(
            "the model has ParametricLIF neurons but the checkpoint has none: build it with "
            "neuron='lif', or pass strict=False to keep the model's initial time constants"
        )
    if not hints:
        hints.append("pass strict=False to load the keys that match and report the rest")
    return "; ".join(hints)


def _shape_hint(key, expected, got):
    if key == "conv1.weight" and len(got) == 4 and len(expected) == 4 and got[2:] != expected[2:]:
        stem = {7: "stem='imagenet' (7x7/2 conv + max-pool)", 3: "stem='cifar' (3x3/1 conv)"}
        return (
            f"The checkpoint's stem is {got[2]}x{got[3]}, the model's {expected[2]}x{expected[3]}: build the "
            f"model with {stem.get(got[2], f'a {got[2]}x{got[3]} stem')}."
        )
    if key.startswith("fc") and key.endswith(("weight", "bias")) and got[0] != expected[0]:
        return (
            f"The checkpoint has {got[0]} classes, the model {expected[0]}: pass skip_classifier=True to keep "
            f"the model's newly initialised classifier (fine-tuning), or build it with num_classes={got[0]}."
        )
    if len(got) == len(expected):
        return (
            "The widths differ: build the model with the checkpoint's widths (width_multiplier=1.0, "
            "the default, for torchvision and SpikingJelly ResNets)."
        )
    return "Build the model with the checkpoint's architecture."


def _short(keys, limit=8):
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def state_dict_mismatch(model, missing, unexpected, hint):
    """The KeyError of a strict import whose keys do not match: how many, the first few, the fix."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {_short(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {_short(unexpected)}")
    return KeyError(f"The state dict does not match {model.name!r}: " + "; ".join(parts) + ". Hint: " + hint + ".")


def assign_and_report(updates, wanted, checkpoint_keys, skipped, missing, unexpected):
    """Assigns the checked ``(variable, value)`` pairs (all shapes checked first: a failed import
    changes nothing) and returns the :class:`ImportReport`."""
    for variable, value in updates:
        variable.assign(value.astype(variable.dtype))
    return ImportReport(
        loaded=sorted(wanted & checkpoint_keys), skipped=skipped, missing=missing, unexpected=unexpected
    )


def load_torch_resnet(model, state_dict_or_path, *, strict=True, skip_classifier=False):
    """Copies PyTorch ResNet weights into a ResNet built by :mod:`keras_trt.models`.

    Works for SpikingJelly ``spiking_resnet18/34`` (use ``sresnet18/34``) and ``sew_resnet18/34``
    with ``cnf="ADD"`` (use ``sew_resnet18/34``; ``"AND"``/``"IAND"`` with the matching
    ``sew_function``), for torchvision ``resnet18/34`` weights (the ImageNet initialisation of
    both), and for CIFAR variants whose stem conv is 3x3 (build with ``stem="cifar"``). The
    parameter keys of the classic and the SEW blocks are the same, so the block type (and the
    neuron options, which have no weights) must be chosen to match the checkpoint's network.

    Args:
        model: the Keras model (any backend), e.g. ``keras_trt.models.sresnet34(...)``.
        state_dict_or_path: a ``{key: tensor or array}`` state dict, a checkpoint dict wrapping
            one (``"model"``, ``"state_dict"``, ``"net"``), or a ``.pth`` file of either.
        strict: raise if the state dict lacks a key the model needs or has one the model cannot
            hold (like ``torch.nn.Module.load_state_dict``). Shape mismatches always raise.
        skip_classifier: leave the model's classifier as it is and ignore the checkpoint's
            ``fc`` (e.g. to fine-tune ImageNet weights on a dataset with another number of
            classes).

    Returns:
        An :class:`ImportReport`. Nothing is written unless every tensor fits (no half-loaded
        model on error).

    Raises:
        KeyError: ``strict`` and keys are missing or unexpected (the message names them and
            suggests the fix: depth, neuron type, stem...).
        ValueError: a tensor's shape does not fit (the message names the key and the fix).

    >>> import keras_trt
    >>> from keras_trt.export import load_torch_resnet
    >>> model = keras_trt.models.sresnet18(num_classes=1000, timesteps=4)
    >>> report = load_torch_resnet(model, "spiking_resnet18.pth")          # doctest: +SKIP
    >>> print(report)                                                        # doctest: +SKIP
    ImportReport(loaded=122, skipped=0, missing=0, unexpected=0)
    """
    arrays = read_state_dict(state_dict_or_path)
    mapping = torch_resnet_key_map(model)
    checkpoint_keys = {k for k in arrays if not k.endswith(_IGNORED_SUFFIXES)}
    classifier_prefix = _torch_prefix("classifier", sum(1 for l in model.layers if re.fullmatch(r"fc\d+", l.name)))
    skipped = sorted(k for k in mapping if skip_classifier and k.startswith(classifier_prefix + "."))
    wanted = set(mapping) - set(skipped)
    missing = sorted(wanted - checkpoint_keys)
    unexpected = sorted(checkpoint_keys - set(mapping))
    if strict and (missing or unexpected):
        raise state_dict_mismatch(model, missing, unexpected, _key_hints(missing, unexpected, checkpoint_keys, mapping))
    updates = []
    for key in [k for k in mapping if k in wanted and k in checkpoint_keys]:  # network order
        variable, kind = mapping[key]
        value = _convert(arrays[key], kind)
        expected = tuple(variable.shape)
        if tuple(value.shape) != expected:
            got = tuple(arrays[key].shape)
            raise ValueError(
                f"Shape mismatch for {key!r} (Keras {variable.path!r}): the checkpoint has "
                f"{got}, the model expects {_torch_shape(expected, kind)} (PyTorch layout). "
                + _shape_hint(key, _torch_shape(expected, kind), got)
            )
        updates.append((variable, value))
    return assign_and_report(updates, wanted, checkpoint_keys, skipped, missing, unexpected)
