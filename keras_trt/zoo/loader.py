"""``keras_trt.zoo.load``: resolve a handle (folder, ``hf://`` repo or registered name) to a model.

>>> from keras_trt import zoo
>>> model = zoo.load("hf://org/tiny-snn@main")                        # doctest: +SKIP
>>> model = zoo.load("smlp-basicmotions-t20", num_classes=5, freeze_backbone=True)
>>> model.output_shape
(None, 5)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from keras_trt.zoo import head as _head
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


def _check_num_classes(num_classes) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}.")


def _build_architecture(entry: _registry.Entry, num_classes, freeze_backbone):
    card = entry.card
    architecture = card.get("architecture")
    if not architecture:
        raise PresetFormatError(
            f"Zoo entry {entry.name!r} has neither weights nor an 'architecture' to build. Fix: add 'architecture' "
            "and 'build' to its card.json."
        )
    try:
        from keras_trt.models import build
    except ImportError as err:
        raise ImportError(
            f"Building {entry.name!r} needs keras_trt.models.build, which this keras-trt does not provide. "
            "Fix: upgrade keras-trt (`pip install -U keras-trt`)."
        ) from err
    kwargs = dict(card.get("build") or {})
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    model = build(architecture, **kwargs)
    if freeze_backbone:
        _head.freeze_backbone(model)
    return model


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


def _load_registered(entry: _registry.Entry, *, weights, num_classes, freeze_backbone):
    pins = entry.card.get("files") or {}
    status = entry.weights
    source = f"zoo model {entry.name!r}"
    if status == "local":
        return _preset.load_folder(
            entry.folder,
            weights=weights,
            num_classes=num_classes,
            freeze_backbone=freeze_backbone,
            pins=pins,
            source=f"{source} ({entry.folder})",
        )
    if status == "hub":
        if _preset.METADATA_FILE not in pins:
            warnings.warn(
                f"{source} does not pin the sha256 of {_preset.METADATA_FILE} in its card; its files are checked only "
                "against the Hub's own metadata.json. Fix: publish it with `python -m training.publish`, which pins them.",
                stacklevel=3,
            )
        hub = entry.hub
        folder, meta, _ = _hub.fetch_preset(hub["repo"], hub["revision"], weights=weights, pins=pins)
        return _preset.build_model(
            folder,
            meta,
            weights=weights,
            num_classes=num_classes,
            freeze_backbone=freeze_backbone,
            source=f"{source} ({_hub.format_handle(hub['repo'], hub['revision'])})",
        )
    if weights:
        raise _no_weights_error(entry)
    return _build_architecture(entry, num_classes, freeze_backbone)


def load(handle, weights: bool = True, num_classes: int | None = None, freeze_backbone: bool = False, revision: str | None = None):
    """Load a model from a preset and return a ``keras.Model``.

    ``handle`` is one of:

    * a local preset folder (a path or ``pathlib.Path``);
    * ``"hf://org/repo"`` or ``"hf://org/repo@revision"``: a preset on the Hugging Face Hub, fetched
      through ``huggingface_hub`` (its cache, ``HF_HOME``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and
      ``HF_TOKEN`` apply; ``revision=`` is the same as ``@revision``);
    * a registered name (see :func:`keras_trt.zoo.list`), whose card pins the sha256 of its files.

    Every file used is checked against the sha256 in ``metadata.json`` (and, for registered names,
    against the card's pins, which anchor ``metadata.json`` itself); the format version must be one
    this keras-trt reads; the model is rebuilt from ``config.json`` with ``safe_mode=True`` after
    refusing anything that would run code (``Lambda`` layers, unregistered classes).

    Args:
        weights: load the trained weights (``False``: architecture only, nothing large downloaded).
        num_classes: if different from the preset's, the ``classifier`` head is replaced by a fresh
            one with that many units; every other weight is kept.
        freeze_backbone: make every layer except ``classifier`` non-trainable (compile afterwards).
        revision: Hub revision (branch, tag or commit) for ``hf://`` handles.

    >>> from keras_trt import zoo
    >>> model = zoo.load("runs/my-preset")                                    # doctest: +SKIP
    >>> model = zoo.load("hf://org/tiny-snn@v1", num_classes=5, freeze_backbone=True)  # doctest: +SKIP
    >>> model = zoo.load("smlp-basicmotions-t20", num_classes=2, freeze_backbone=True)
    >>> model.compile("adam", metrics=["accuracy"])   # TRTModel's default loss: cross-entropy on logits
    """
    _check_num_classes(num_classes)
    if isinstance(handle, os.PathLike):
        handle = os.fspath(handle)
        is_path = True
    elif isinstance(handle, str):
        is_path = False
    else:
        raise TypeError(
            f"load() takes a folder path, 'hf://org/repo[@revision]' or a registered name, got {type(handle).__name__}."
        )
    kwargs = dict(weights=weights, num_classes=num_classes, freeze_backbone=freeze_backbone)

    if not is_path and _hub.is_hf_handle(handle):
        repo_id, rev = _hub.parse_hf_handle(handle)
        if revision is not None and rev is not None and revision != rev:
            raise ValueError(f"Two different revisions given: {handle!r} and revision={revision!r}. Fix: give one.")
        rev = rev or revision
        folder, meta, _ = _hub.fetch_preset(repo_id, rev, weights=weights)
        return _preset.build_model(folder, meta, source=_hub.format_handle(repo_id, rev), **kwargs)

    if not is_path and not _looks_like_path(handle):
        entry = _registry.lookup(handle)
        if entry is not None:
            if revision is not None:
                raise ValueError(
                    f"revision= cannot be used with the registered name {handle!r}: its card pins the revision and file "
                    "hashes. Fix: load another revision explicitly with 'hf://org/repo@revision'."
                )
            return _load_registered(entry, **kwargs)

    path = Path(handle).expanduser()
    if path.is_dir():
        if revision is not None:
            raise ValueError(f"revision= only applies to 'hf://' handles, not to the folder {handle!r}.")
        return _preset.load_folder(path, **kwargs)
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


__all__ = ["load"]
