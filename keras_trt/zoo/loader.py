"""``keras_trt.zoo.load``: resolve a handle (folder, ``hf://`` repo or registered name) to a model.

One pipeline for every handle: resolve it to a preset folder (downloading from the Hub if
needed), verify the files' sha256, rebuild the model from its config with its weights, then shape
it for the caller (head swapped or removed, backbone frozen) and compile it for fine-tuning.

>>> from keras_trt import zoo
>>> model = zoo.load("smlp-basicmotions-t20", num_classes=2, freeze_backbone=True)
>>> [w.path for w in model.trainable_weights]
['classifier/kernel', 'classifier/bias']
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from keras_trt.zoo import hub as _hub
from keras_trt.zoo import preset as _preset
from keras_trt.zoo import registry as _registry
from keras_trt.zoo.errors import PresetFormatError, WeightsUnavailableError


def _looks_like_path(handle: str) -> bool:
    return (
        os.sep in handle
        or "/" in handle
        or (os.altsep is not None and os.altsep in handle)
        or handle.startswith((".", "~"))
    )


def _build_architecture(entry: _registry.Entry):
    card = entry.card
    architecture = card.get("architecture")
    if not architecture:
        raise PresetFormatError(
            f"Zoo entry {entry.name!r} has neither weights nor an 'architecture' to build. Fix: add 'architecture' "
            "and 'build' to its card.json."
        )
    from keras_trt.models import build

    return build(architecture, **dict(card.get("build") or {}))


def _no_weights_error(entry: _registry.Entry) -> WeightsUnavailableError:
    card = entry.card
    what = ", ".join(
        str(x)
        for x in (card.get("architecture"), card.get("dataset"), f"T={card['timesteps']}" if card.get("timesteps") else None)
        if x
    )
    recipe = card.get("recipe")
    steps = []
    if recipe:
        steps.append(
            f"train them with the recipe, `python -m training.train {recipe}` (from a keras-trt checkout, "
            "with the dataset at hand), which writes a preset folder that keras_trt.zoo.load() takes "
            f"(publish it with `python -m training.publish zoo/{entry.name} --repo org/name`)"
        )
    else:
        steps.append("train the architecture yourself and save it with keras_trt.zoo.save_preset()")
    steps.append(
        "or convert a PyTorch checkpoint of the same architecture into it (build it with weights=False, copy the "
        "tensors with layer.set_weights(), then save_preset())"
    )
    notes = f" Notes: {card['notes']}" if card.get("notes") else ""
    return WeightsUnavailableError(
        f"The zoo model {entry.name!r} ({what}) has no published weights. To get weights, "
        + "; ".join(steps)
        + f". To build the untrained architecture: keras_trt.zoo.load({entry.name!r}, weights=False).{notes}"
    )


def _load_registered(entry: _registry.Entry, *, weights):
    pins = entry.card.get("files") or {}
    status = entry.weights
    source = f"zoo model {entry.name!r}"
    if status == "local":
        return _preset.load_folder(entry.folder, weights=weights, pins=pins, source=f"{source} ({entry.folder})")
    if status == "hub":
        if _preset.METADATA_FILE not in pins:
            warnings.warn(
                f"{source} does not pin the sha256 of {_preset.METADATA_FILE} in its card; its files are checked only "
                "against the Hub's own metadata.json. Fix: publish it with `python -m training.publish`, which pins them.",
                stacklevel=4,
            )
        hub = entry.hub
        folder, meta, _ = _hub.fetch_preset(hub["repo"], hub["revision"], weights=weights, pins=pins)
        return _preset.build_model(
            folder, meta, weights=weights, source=f"{source} ({_hub.format_handle(hub['repo'], hub['revision'])})"
        )
    if weights:
        raise _no_weights_error(entry)
    return _build_architecture(entry)


def _resolve_and_build(handle, *, weights, revision, is_path):
    """The model a handle names, with its weights (``weights=True``), uncompiled."""
    if not is_path and _hub.is_hf_handle(handle):
        repo_id, rev = _hub.parse_hf_handle(handle)
        if revision is not None and rev is not None and revision != rev:
            raise ValueError(f"Two different revisions given: {handle!r} and revision={revision!r}. Fix: give one.")
        rev = rev or revision
        folder, meta, _ = _hub.fetch_preset(repo_id, rev, weights=weights)
        return _preset.build_model(folder, meta, weights=weights, source=_hub.format_handle(repo_id, rev))

    if not is_path and not _looks_like_path(handle):
        entry = _registry.lookup(handle)
        if entry is not None:
            if revision is not None:
                raise ValueError(
                    f"revision= cannot be used with the registered name {handle!r}: its card pins the revision and file "
                    "hashes. Fix: load another revision explicitly with 'hf://org/repo@revision'."
                )
            return _load_registered(entry, weights=weights)

    path = Path(handle).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision= only applies to 'hf://' handles, not to the folder {handle!r}.")
        return _preset.load_folder(path, weights=weights)
    if path.exists():
        raise PresetFormatError(
            f"{handle!r} is a file; a preset is a folder (holding {', '.join(_preset.PRESET_FILES)}). Fix: pass the folder."
        )
    hint = ""
    if is_path or _looks_like_path(handle):
        hint = f"No folder {str(path)!r} exists."
        if handle.count("/") == 1 and not handle.startswith((".", "/", "~")):
            hint += f" For a Hub repo write 'hf://{handle}'."
    raise _registry.unknown_name_error(handle, hint=hint)


#: The optimizer ``zoo.load`` compiles with: Adam at a fine-tuning learning rate.
FINETUNE_LEARNING_RATE = 1e-3


def compile_for_finetuning(model, learning_rate: float = FINETUNE_LEARNING_RATE):
    """Compile ``model`` as :func:`load` does: Adam(``learning_rate``), sparse categorical
    cross-entropy on logits, accuracy, and TRT (``TRTConfig()`` defaults) when the model has a
    TemporalReversal (the plain SNN otherwise). Returns the model.

    Call ``model.compile(...)`` yourself for anything else (``trt=None`` for the plain SNN).

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> compile_for_finetuning(model).trt_config is not None
    True
    """
    import keras

    from keras_trt.temporal import TemporalReversal
    from keras_trt.trt import TRTConfig, TRTModel

    optimizer = keras.optimizers.Adam(learning_rate)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(model, TRTModel):
        has_reversal = any(isinstance(l, TemporalReversal) for l in model._flatten_layers())
        model.compile(optimizer, loss, metrics=["accuracy"], trt=TRTConfig() if has_reversal else None)
    else:
        model.compile(optimizer, loss, metrics=["accuracy"])
    return model


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}.")


def load(
    handle,
    weights: bool = True,
    num_classes: int | None = None,
    freeze_backbone: bool = False,
    include_top: bool = True,
    compile: bool = True,  # noqa: A002 - Keras' own name for it (keras.saving.load_model)
    revision: str | None = None,
):
    """Load a model from a preset and return a ``keras.Model`` ready to ``predict`` and ``fit``.

    ``handle`` is one of:

    * a registered name (see :func:`keras_trt.zoo.list`), whose card pins the sha256 of its files;
    * a local preset folder (a path or ``pathlib.Path``);
    * ``"hf://org/repo"`` or ``"hf://org/repo@revision"``: a preset on the Hugging Face Hub, fetched
      through ``huggingface_hub`` (its cache, ``HF_HOME``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and
      ``HF_TOKEN`` apply; ``revision=`` is the same as ``@revision``).

    Every file used is checked against the sha256 in ``metadata.json`` (and, for registered names,
    against the card's pins, which anchor ``metadata.json`` itself); the format version must be one
    this keras-trt reads; the model is rebuilt from ``config.json`` with ``safe_mode=True`` after
    refusing anything that would run code (``Lambda`` layers, unregistered classes). Nothing of
    the training run that made the preset (optimizer state, learning-rate schedule, TRT settings)
    comes with it.

    Args:
        weights: load the trained weights (``False``: architecture only, nothing large downloaded).
        num_classes: if different from the preset's, the head's ``classifier`` is replaced by a fresh
            one with that many units; every other weight is kept.
        freeze_backbone: make every layer except ``classifier`` non-trainable (frozen
            BatchNormalization layers keep their moving statistics); with ``include_top=False``
            the whole backbone is frozen.
        include_top: ``False`` returns the backbone alone, whose output is the spike features
            ``[B, T, C]`` (no StarProduct, no classifier); it is not compiled.
        compile: compile the model for fine-tuning (see :func:`compile_for_finetuning`: Adam 1e-3,
            sparse categorical cross-entropy on logits, accuracy, TRT when the model has a
            TemporalReversal). ``False`` returns it uncompiled, as ``keras.saving.load_model`` can.
        revision: Hub revision (branch, tag or commit) for ``hf://`` handles.

    Fine-tune the shipped BasicMotions model on a two-class problem, training only the new head:

    >>> import numpy as np
    >>> from keras_trt import zoo
    >>> model = zoo.load("smlp-basicmotions-t20", num_classes=2, freeze_backbone=True)
    >>> x, y = np.random.default_rng(0).normal(size=(16, 20, 6)).astype("float32"), np.arange(16) % 2
    >>> _ = model.fit(x, y, epochs=1, verbose=0)
    >>> zoo.load("smlp-basicmotions-t20", include_top=False).output_shape    # spike features
    (None, 20, 64)
    """
    from keras_trt.models import heads

    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}.")
    for flag, value in (("weights", weights), ("freeze_backbone", freeze_backbone),
                        ("include_top", include_top), ("compile", compile)):
        _check_flag(flag, value)
    if not include_top and num_classes is not None:
        raise ValueError(
            "num_classes has no effect with include_top=False (the backbone has no classifier). Fix: drop one of them."
        )
    if isinstance(handle, os.PathLike):
        handle, is_path = os.fspath(handle), True
    elif isinstance(handle, str):
        is_path = False
    else:
        raise TypeError(
            f"load() takes a folder path, 'hf://org/repo[@revision]' or a registered name, got {type(handle).__name__}."
        )
    if not handle.strip():
        raise ValueError(
            "load() got an empty handle. Fix: pass a registered name (keras_trt.zoo.list()), a preset folder "
            "(use '.' for the current folder) or 'hf://org/repo'."
        )

    model = _resolve_and_build(handle, weights=weights, revision=revision, is_path=is_path)
    if not include_top:
        model = heads.backbone(model)
    elif num_classes is not None and _preset._classifier_units(model) != num_classes:
        model = heads.replace_head(model, num_classes)
    if freeze_backbone and include_top:
        heads.freeze_backbone(model)
    elif freeze_backbone:
        model.trainable = False  # a frozen feature extractor
    if compile and include_top:
        compile_for_finetuning(model)
    return model


__all__ = ["load", "compile_for_finetuning", "FINETUNE_LEARNING_RATE"]
