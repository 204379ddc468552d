"""The preset folder format: save a Keras model to a folder and rebuild it safely.

A preset is a folder with four files::

    config.json        keras.saving.serialize_keras_object(model)
    model.weights.h5   model.save_weights(...)
    metadata.json      format_version, versions, backend, dataset, T, metrics, sha256 of the other files
    README.md          a Hugging Face model card (YAML front matter + text)

Other files in the folder (for example the registry's ``card.json``) are ignored.

>>> import keras, tempfile
>>> from keras_trt import zoo
>>> inp = keras.Input((8,))
>>> model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
>>> folder = zoo.save_preset(model, tempfile.mkdtemp() + "/tiny", dataset="toy", timesteps=4)
>>> sorted(p.name for p in folder.iterdir())
['README.md', 'config.json', 'metadata.json', 'model.weights.h5']
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Mapping

from keras_trt.zoo import card as _card
from keras_trt.zoo.errors import PresetFormatError
from keras_trt.zoo.integrity import sha256_file, validate_hash_table, verify_file
from keras_trt.zoo.safety import check_config

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
README_FILE = "README.md"
PRESET_FILES = (METADATA_FILE, CONFIG_FILE, WEIGHTS_FILE, README_FILE)


def keras_trt_version() -> str:
    """The installed keras-trt version (``"unknown"`` if it cannot be determined).

    >>> isinstance(keras_trt_version(), str)
    True
    """
    try:
        import keras_trt

        version = getattr(keras_trt, "__version__", None)
        if version:
            return str(version)
    except Exception:  # noqa: BLE001
        pass
    try:
        from importlib.metadata import version as _v

        return _v("keras-trt")
    except Exception:  # noqa: BLE001
        return "unknown"


def _jsonable(value: Any, where: str) -> Any:
    """Convert numpy scalars/arrays and tuples to JSON types; raise TypeError naming ``where``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{where} is {value!r}; JSON (and the Hub) only accept finite numbers.")
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) == "f" and getattr(value, "ndim", None) == 0:
        return _jsonable(float(str(value)), where)  # float32(0.9) -> 0.9, not 0.8999999761581421
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar / array, tensors
        return _jsonable(value.tolist(), where)
    if hasattr(value, "item") and callable(value.item):
        return _jsonable(value.item(), where)
    raise TypeError(f"{where} is a {type(value).__name__}, which cannot be stored in metadata.json (use numbers, strings, lists, dicts).")


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def _input_shape(model) -> list | None:
    try:
        shape = model.input_shape
    except Exception:  # noqa: BLE001 - subclassed / multi-input models
        return None
    if isinstance(shape, tuple) and shape and all(d is None or isinstance(d, int) for d in shape):
        return list(shape[1:])
    return None


def model_config(model) -> dict:
    """The model's architecture as ``config.json`` stores it: no optimizer, loss or compile state.

    A preset holds a model, not a training run: whoever loads it compiles it for their own use.

    >>> import keras
    >>> inp = keras.Input((8,))
    >>> model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> model.compile("adam", "mse")
    >>> "compile_config" in model_config(model)
    False
    """
    import keras

    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    return config


def trainable_parameters(model) -> int:
    """Parameters that training updates (BatchNorm moving statistics excluded), frozen layers included.

    The count the model card, the registry and torchvision-style tables report.

    >>> import keras
    >>> inp = keras.Input((8,))
    >>> h = keras.layers.BatchNormalization()(keras.layers.Dense(4)(inp))
    >>> trainable_parameters(keras.Model(inp, h)), keras.Model(inp, h).count_params()
    (44, 52)
    """
    import numpy as np

    return int(sum(int(np.prod(v.shape)) for v in model.weights if v.trainable))


def _classifier_units(model) -> int | None:
    from keras_trt.models.heads import CLASSIFIER

    try:
        units = model.get_layer(CLASSIFIER).get_config().get("units")
    except ValueError:
        return None
    return units if isinstance(units, int) else None


def _replace_folder(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` folder to ``path``, replacing an existing folder atomically-ish."""
    if not path.exists():
        os.replace(tmp, path)
        return
    backup = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(backup, path)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def save_preset(
    model,
    path: str | os.PathLike,
    *,
    dataset: str | None = None,
    timesteps: int | None = None,
    metrics: Mapping[str, float] | None = None,
    license: str = "apache-2.0",  # noqa: A002 - the Hub's field name
    description: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    **extra: Any,
) -> Path:
    """Save ``model`` as a preset folder at ``path`` and return the folder's :class:`~pathlib.Path`.

    Writes ``config.json``, ``model.weights.h5``, ``README.md`` (a Hugging Face model card) and
    ``metadata.json`` (format version, keras / keras-trt versions, backend, dataset, ``timesteps``,
    ``metrics``, parameter count and the sha256 of every other file). Everything is written into a
    hidden sibling folder first and renamed into place at the end, so a failure leaves nothing
    half-written. An existing non-empty folder is replaced only with ``overwrite=True`` and only if
    it holds a preset or a zoo ``card.json`` (files that are not part of the preset, such as
    ``card.json``, are kept). Extra keyword arguments (JSON values, e.g. ``architecture="lif_mlp"``,
    ``build={...}``, ``task="image-classification"``) are stored under ``metadata["extra"]``.

    The config is checked like at load time: a model with a ``Lambda`` layer or an unregistered
    custom class is refused here rather than producing a preset nobody can load.

    >>> import keras, tempfile
    >>> from keras_trt import zoo
    >>> inp = keras.Input((8,))
    >>> h = keras.layers.Dense(16, activation="relu")(inp)
    >>> model = keras.Model(inp, keras.layers.Dense(3, name="classifier")(h))
    >>> out = zoo.save_preset(model, tempfile.mkdtemp() + "/tiny-mlp", dataset="toy", timesteps=4,
    ...                       metrics={"accuracy": 0.91}, description="Toy model.")
    >>> zoo.load(out).count_params() == model.count_params()
    True
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"save_preset() needs a keras.Model, got {type(model).__name__}.")
    if timesteps is not None and (not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1):
        raise ValueError(f"timesteps must be a positive integer or None, got {timesteps!r}.")
    if not model.built:
        raise ValueError("The model is not built yet. Fix: call it on a batch (or build it) before save_preset().")

    path = Path(path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"Cannot save a preset to {path}: it exists and is not a folder. Fix: pick another path.")
        entries = [p.name for p in path.iterdir()]
        if entries and not overwrite:
            raise FileExistsError(
                f"Cannot save a preset to {path}: the folder is not empty ({', '.join(sorted(entries)[:5])}...). "
                "Fix: pass overwrite=True to replace it, or pick another path."
            )
        if entries and not ({METADATA_FILE, "card.json"} & set(entries)):
            raise FileExistsError(
                f"Refusing to overwrite {path}: it is neither a preset (no {METADATA_FILE}) nor a zoo entry "
                "(no card.json), so overwrite=True could delete unrelated files. Fix: pick another path."
            )

    # Validate everything that can fail cheaply before touching the disk.
    metrics_json = _jsonable(dict(metrics or {}), "metrics")
    for key, value in metrics_json.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"metrics[{key!r}] must be a number, got {value!r}.")
    extra_json = _jsonable(extra, "extra")
    config = model_config(model)
    check_config(config)
    config_text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"

    units = _classifier_units(model)
    _check_metadata_matches(model, timesteps, units, extra_json)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name or model.name,
        "class_name": type(model).__name__,
        "keras_trt_version": keras_trt_version(),
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "dataset": dataset,
        "timesteps": timesteps if timesteps is not None else _model_timesteps(model),
        "num_classes": units,
        "input_shape": _input_shape(model),
        "parameters": trainable_parameters(model),
        "total_parameters": int(model.count_params()),
        "metrics": metrics_json,
        "license": license,
        "description": description,
        "extra": extra_json,
    }

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        model.save_weights(str(tmp / WEIGHTS_FILE))
        card_meta = {**extra_json, **{k: v for k, v in meta.items() if v is not None}}
        (tmp / README_FILE).write_text(_card.render_model_card(card_meta, description), encoding="utf-8")
        meta["files"] = {n: sha256_file(tmp / n) for n in (CONFIG_FILE, WEIGHTS_FILE, README_FILE)}
        _write_json(tmp / METADATA_FILE, meta)
        if path.exists():  # keep files that are not part of the preset (e.g. the zoo's card.json)
            for old in path.iterdir():
                if old.name not in PRESET_FILES and not (tmp / old.name).exists():
                    if old.is_dir():
                        shutil.copytree(old, tmp / old.name, symlinks=True)
                    else:
                        shutil.copy2(old, tmp / old.name)
        _replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _model_timesteps(model):
    from keras_trt.trt import data_checks

    return data_checks.model_timesteps(model)


def _check_metadata_matches(model, timesteps, units, extra) -> None:
    """Refuses metadata that contradicts the model: a card stating another T, input shape or
    number of classes than the weights have would mislead everyone who loads the preset."""
    from keras_trt.trt import data_checks

    model_t = data_checks.model_timesteps(model)
    shape = _input_shape(model)
    stated = [("timesteps", timesteps, model_t), ("extra timesteps", extra.get("timesteps"), model_t),
              ("extra num_classes", extra.get("num_classes"), units),
              ("extra input_shape", extra.get("input_shape"), shape)]
    build = extra.get("build") if isinstance(extra.get("build"), dict) else {}
    stated += [(f"build[{k!r}]", build.get(k), v) for k, v in
               (("timesteps", model_t), ("num_classes", units), ("input_shape", shape))]
    if isinstance(extra.get("classes"), list):
        stated.append(("the number of extra classes (names)", len(extra["classes"]), units))
    for what, given, actual in stated:
        if given is None or actual is None:
            continue
        if isinstance(given, (list, tuple)) and isinstance(actual, (list, tuple)):
            same = list(given) == list(actual)
        else:
            same = given == actual
        if not same:
            raise ValueError(
                f"save_preset(): {what}={given!r} contradicts the model, whose "
                f"{'T' if 'timesteps' in what else 'input shape' if 'shape' in what else 'classifier'} "
                f"is {actual!r}. Fix: pass {actual!r} (or leave it out: the model's own value is "
                "recorded), or save the model that was built for it."
            )


def check_format_version(meta: Mapping[str, Any], source: str) -> None:
    """Raise :class:`PresetFormatError` unless ``meta['format_version']`` is one this code reads.

    >>> check_format_version({"format_version": 1}, "here")
    """
    version = meta.get("format_version")
    if version is None:
        raise PresetFormatError(
            f"{source} is not a keras-trt preset: {METADATA_FILE} has no 'format_version'. "
            "Fix: re-create it with keras_trt.zoo.save_preset()."
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PresetFormatError(
            f"{source}: unknown preset format_version {version!r} (this keras-trt reads format {FORMAT_VERSION}). "
            "Fix: re-create the preset with keras_trt.zoo.save_preset()."
        )
    if version > FORMAT_VERSION:
        raise PresetFormatError(
            f"{source} uses preset format_version {version}, newer than the version {FORMAT_VERSION} this "
            f"keras-trt ({keras_trt_version()}) reads. Fix: upgrade keras-trt (`pip install -U keras-trt`), "
            "or load an older revision of the preset."
        )


def read_metadata(path: str | os.PathLike, source: str | None = None) -> dict:
    """Read and validate ``metadata.json`` (a preset folder or the file itself).

    Checks the format version and the ``files`` hash table; does not hash the files.

    >>> import keras, tempfile
    >>> from keras_trt import zoo
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> read_metadata(zoo.save_preset(m, tempfile.mkdtemp() + "/p"))["num_classes"]
    3
    """
    path = Path(path)
    file = path / METADATA_FILE if path.is_dir() else path
    source = source or str(file.parent)
    if not file.is_file():
        raise PresetFormatError(
            f"{source} is not a keras-trt preset: {METADATA_FILE} is missing (a preset folder holds "
            f"{', '.join(PRESET_FILES)}). Fix: pass a folder written by keras_trt.zoo.save_preset()."
        )
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetFormatError(
            f"{source}: {METADATA_FILE} is not valid JSON ({err}). Fix: re-create the preset with keras_trt.zoo.save_preset()."
        ) from err
    if not isinstance(meta, dict):
        raise PresetFormatError(f"{source}: {METADATA_FILE} must hold a JSON object. Fix: re-create the preset.")
    check_format_version(meta, source)
    meta["files"] = validate_hash_table(meta.get("files"), f"{source}/{METADATA_FILE}")
    return meta


def required_files(weights: bool) -> list[str]:
    """The files needed to rebuild a model (``config.json``, plus the weights if ``weights``).

    >>> required_files(False)
    ['config.json']
    """
    return [CONFIG_FILE, WEIGHTS_FILE] if weights else [CONFIG_FILE]


def verify_folder(
    folder: str | os.PathLike,
    meta: Mapping[str, Any],
    *,
    weights: bool,
    source: str,
    pins: Mapping[str, str] | None = None,
    only_required: bool = False,
) -> None:
    """Check the sha256 of the preset's files against ``metadata.json`` and, if given, registry ``pins``.

    Every file listed in ``metadata.json`` must be present and match, except the weights when
    ``weights=False``. With ``only_required`` only the files needed to build the model are checked
    (used for Hub downloads, which fetch nothing else).

    >>> import keras, tempfile
    >>> from keras_trt import zoo
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> p = zoo.save_preset(m, tempfile.mkdtemp() + "/p")
    >>> verify_folder(p, read_metadata(p), weights=True, source=str(p))
    """
    folder = Path(folder)
    files = dict(meta["files"])
    needed = required_files(weights)
    for name in needed:
        if name not in files:
            raise PresetFormatError(
                f"{source}: {METADATA_FILE} does not list '{name}', so it cannot be verified. "
                "Fix: re-create the preset with keras_trt.zoo.save_preset()."
            )
    pins = dict(pins or {})
    for name, digest in pins.items():
        if name in files and files[name] != digest:
            raise PresetFormatError(
                f"{source}: the registry card pins '{name}' to sha256 {digest} but {METADATA_FILE} records "
                f"{files[name]}; the preset is not the one that was registered. Fix: re-publish the preset "
                "(python -m training.publish) or update the card's 'files'."
            )
    check = needed if only_required else [n for n in files if weights or n != WEIGHTS_FILE]
    for name in check:
        file = folder / name
        if not file.is_file():
            raise PresetFormatError(
                f"{source}: '{name}' is listed in {METADATA_FILE} but missing from the folder. "
                "Fix: copy the complete preset folder (all of " + ", ".join(PRESET_FILES) + ")."
            )
        verify_file(file, files[name], name=name, source=source, anchor=METADATA_FILE)


def build_model(
    folder: str | os.PathLike,
    meta: Mapping[str, Any],
    *,
    weights: bool = True,
    source: str | None = None,
):
    """Rebuild the model of an already-verified preset folder (no hashing here: see :func:`load_folder`).

    ``config.json`` is checked by :func:`keras_trt.zoo.safety.check_config` and deserialized with
    ``safe_mode=True``; any compile state a preset of an older keras-trt carries is ignored, so the
    model comes back uncompiled, with its weights (``weights=True``) or freshly initialised.

    >>> import keras, tempfile
    >>> from keras_trt import zoo
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> p = zoo.save_preset(m, tempfile.mkdtemp() + "/p")
    >>> build_model(p, read_metadata(p)).output_shape
    (None, 3)
    """
    import keras

    folder = Path(folder)
    source = source or str(folder)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetFormatError(f"{source}: {CONFIG_FILE} is not valid JSON ({err}). Fix: re-create the preset.") from err
    if not isinstance(config, dict) or "class_name" not in config:
        raise PresetFormatError(
            f"{source}: {CONFIG_FILE} is not a serialized Keras object. Fix: re-create the preset with keras_trt.zoo.save_preset()."
        )
    config.pop("compile_config", None)  # written by keras-trt 0.1.0; a preset is a model, not a run
    check_config(config)
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - add context and the fix
        raise PresetFormatError(
            f"{source}: could not rebuild the model from {CONFIG_FILE} with keras {keras.__version__} "
            f"(saved with keras {meta.get('keras_version', '?')}, keras-trt {meta.get('keras_trt_version', '?')}): "
            f"{type(err).__name__}: {err}. Fix: install versions compatible with the ones that saved it."
        ) from err
    if not isinstance(model, keras.Model):
        raise PresetFormatError(
            f"{source}: {CONFIG_FILE} describes a {type(model).__name__}, not a keras.Model. Fix: save a model."
        )
    if weights:
        try:
            model.load_weights(str(folder / WEIGHTS_FILE))
        except Exception as err:  # noqa: BLE001
            raise PresetFormatError(
                f"{source}: {WEIGHTS_FILE} does not fit the architecture in {CONFIG_FILE} "
                f"({type(err).__name__}: {err}). The preset is inconsistent. Fix: re-create it with keras_trt.zoo.save_preset()."
            ) from err
    return model


def load_folder(
    folder: str | os.PathLike,
    *,
    weights: bool = True,
    pins: Mapping[str, str] | None = None,
    source: str | None = None,
):
    """Verify and rebuild a local preset folder (uncompiled; :func:`keras_trt.zoo.load` adds the rest).

    ``pins`` (``{file: sha256}``, from a registry card) are checked first: the pinned
    ``metadata.json`` anchors the hashes of every other file.

    >>> import keras, tempfile
    >>> from keras_trt import zoo
    >>> inp = keras.Input((8,))
    >>> m = keras.Model(inp, keras.layers.Dense(3, name="classifier")(inp))
    >>> load_folder(zoo.save_preset(m, tempfile.mkdtemp() + "/p")).output_shape
    (None, 3)
    """
    folder = Path(folder).expanduser()
    source = source or str(folder)
    pins = dict(pins or {})
    if METADATA_FILE in pins and (folder / METADATA_FILE).is_file():
        verify_file(folder / METADATA_FILE, pins[METADATA_FILE], name=METADATA_FILE, source=source, anchor="the registry card")
    meta = read_metadata(folder, source)
    verify_folder(folder, meta, weights=weights, source=source, pins=pins)
    return build_model(folder, meta, weights=weights, source=source)


__all__ = [
    "FORMAT_VERSION",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "METADATA_FILE",
    "README_FILE",
    "PRESET_FILES",
    "save_preset",
    "read_metadata",
    "check_format_version",
    "verify_folder",
    "build_model",
    "load_folder",
    "keras_trt_version",
    "model_config",
    "trainable_parameters",
]
