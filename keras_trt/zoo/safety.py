"""Refuse preset configs that would run code on load.

A preset's ``config.json`` is data from the internet. Keras rebuilds a model from it by looking up
each ``class_name`` and calling ``from_config``; this module walks the config *before* Keras sees
it and accepts only:

* Keras built-ins that are model parts (layers, models, initializers, regularizers, constraints,
  losses, metrics, optimizers, dtype policies, quantizers) and Keras built-in functions
  (activations, losses, metrics...);
* objects registered with ``@keras.saving.register_keras_serializable`` — every keras_trt layer,
  neuron and surrogate, and whatever the *user's own code* registered before loading;
* Keras' plain data markers (``__keras_tensor__``, ``__numpy__``, ``__tensor__``...).

It always refuses ``Lambda`` layers and serialized lambdas (their bytecode would run), ``TFSMLayer``
(it loads and runs a SavedModel from a path), and any other class or function, naming it in the
error. Keras is then called with ``safe_mode=True`` as a second line of defence.

>>> from keras_trt.zoo.safety import check_config
>>> check_config({"module": "keras.layers", "class_name": "Lambda", "config": {"name": "f"}})
Traceback (most recent call last):
...
keras_trt.zoo.errors.UnsafeConfigError: ...
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator

from keras_trt.zoo.errors import UnsafeConfigError

# class_name (or registered_name) -> why it is refused
_DENY = {
    "Lambda": "a Lambda layer holds arbitrary Python code (its bytecode would run when the model is called)",
    "__lambda__": "a serialized Python lambda holds bytecode that would run",
    "TFSMLayer": "a TFSMLayer loads and runs a TensorFlow SavedModel from a path outside the preset",
}

# Keras' own data markers: plain values, no code.
_DATA_MARKERS = frozenset(
    {
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
        "__bytes__",
        "__ellipsis__",
        "__slice__",
        "__typespec__",
        "__tuple__",
    }
)

# Keras sub-modules whose *functions* may appear in a config (as in keras' own BUILTIN_MODULES).
_FUNCTION_MODULES = frozenset(
    {"activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers", "ops"}
)

# Keras functions that are never model parts, even though they live in keras.* (mirrors keras'
# NON_MODELING_APIS, so the check holds even if a future keras renames its own list).
_NON_MODELING = frozenset(
    {
        "keras.backend.clear_session",
        "keras.config.enable_unsafe_deserialization",
        "keras.models.load_model",
        "keras.models.model_from_json",
        "keras.models.save_model",
        "keras.saving.deserialize_keras_object",
        "keras.saving.load_model",
        "keras.saving.save_model",
        "keras.utils.get_file",
    }
)

# Where a bare class name (no module) may be found among Keras built-ins.
_BARE_NAME_MODULES = (
    "keras.layers",
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.losses",
    "keras.metrics",
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.dtype_policies",
    "keras",
)

_KERAS_TRT_MODULES = ("keras_trt", "keras_trt.surrogates", "keras_trt.neurons", "keras_trt.temporal", "keras_trt.layers")


def _is_keras_module(module: str | None) -> bool:
    return isinstance(module, str) and (module == "keras" or module.startswith("keras."))


def _is_keras_trt_module(module: str | None) -> bool:
    return isinstance(module, str) and (module == "keras_trt" or module.startswith("keras_trt."))


def _iter_objects(node: Any, path: str = "config") -> Iterator[tuple[str, dict]]:
    """Yield ``(json_path, dict)`` for every serialized object (dict with a ``class_name``)."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            yield path, node
        for key, value in node.items():
            yield from _iter_objects(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _iter_objects(value, f"{path}[{i}]")


def _import_keras_trt(modules) -> None:
    """Import keras_trt modules so their ``register_keras_serializable`` decorators have run.

    Only modules of the keras_trt package itself are imported (trusted code); missing ones are
    skipped — an object that stays unregistered is refused below with a clear error.
    """
    for name in modules:
        if not _is_keras_trt_module(name):
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name is None or not (err.name == name or name.startswith(err.name + ".")):
                raise  # a real import error inside keras_trt: surface it


def _registered(name: Any):
    if not isinstance(name, str) or not name:
        return None
    import keras

    try:
        return keras.saving.get_registered_object(name)
    except Exception:  # noqa: BLE001 - a lookup must never crash the check
        return None


def _keras_model_part_bases() -> tuple[type, ...]:
    candidates = [
        ("keras.layers", "Layer"),
        ("keras", "Model"),
        ("keras", "Operation"),
        ("keras.initializers", "Initializer"),
        ("keras.regularizers", "Regularizer"),
        ("keras.constraints", "Constraint"),
        ("keras.losses", "Loss"),
        ("keras.metrics", "Metric"),
        ("keras.optimizers", "Optimizer"),
        ("keras.optimizers.schedules", "LearningRateSchedule"),
        ("keras.dtype_policies", "DTypePolicy"),
        ("keras.quantizers", "Quantizer"),
        ("keras.quantizers", "QuantizationConfig"),
        ("keras.src.saving.keras_saveable", "KerasSaveable"),
    ]
    bases = []
    for module, name in candidates:
        try:
            obj = getattr(importlib.import_module(module), name, None)
        except ImportError:
            obj = None
        if isinstance(obj, type):
            bases.append(obj)
    return tuple(bases)


def _keras_symbol(module: str, name: str):
    try:
        mod = importlib.import_module(module)  # keras' own modules only (checked by the caller)
    except ImportError:
        return None
    return getattr(mod, name, None)


def _refuse(path: str, node: dict, why: str) -> UnsafeConfigError:
    cls = node.get("class_name")
    module = node.get("module")
    registered = node.get("registered_name")
    where = f"class '{cls}'"
    if cls == "function":
        where = f"function '{node.get('config')}'"
    detail = f" (module={module!r}, registered_name={registered!r}, at {path})"
    return UnsafeConfigError(
        f"Unsafe preset config: it uses {where}{detail}: {why}. keras_trt.zoo never runs code that comes "
        "with a preset, so such a model can be neither saved nor loaded as one. Fix: if this is a keras_trt class, "
        "upgrade keras-trt (`pip install -U keras-trt`); if it is your own class (a layer, a surrogate...), "
        "decorate it with @keras.saving.register_keras_serializable and import the module that defines it "
        "before calling keras_trt.zoo.save_preset() or keras_trt.zoo.load(); a Lambda layer must be replaced by a registered layer and the preset saved again."
    )


def check_config(config: Any) -> None:
    """Raise :class:`~keras_trt.zoo.errors.UnsafeConfigError` if ``config`` would run untrusted code.

    ``config`` is the dict from ``keras.saving.serialize_keras_object(model)``. The error names the
    offending class, its module and where it sits in the config.

    >>> import keras
    >>> from keras_trt.zoo.safety import check_config
    >>> inp = keras.Input((4,))
    >>> model = keras.Model(inp, keras.layers.Dense(2, name="classifier")(inp))
    >>> check_config(keras.saving.serialize_keras_object(model))  # fine: plain Keras layers
    """
    objects = list(_iter_objects(config))

    # Make keras_trt's registered objects known before looking them up.
    wanted = {node.get("module") for _, node in objects if _is_keras_trt_module(node.get("module"))}
    if any(
        isinstance(node.get(key), str) and node[key].startswith("keras_trt>")
        for _, node in objects
        for key in ("registered_name", "config")
    ):
        wanted.update(_KERAS_TRT_MODULES)
    if wanted:
        _import_keras_trt(sorted(wanted))

    bases = None
    for path, node in objects:
        cls = node["class_name"]
        module = node.get("module")
        registered = node.get("registered_name")

        for key in (cls, registered):
            if isinstance(key, str) and key.rsplit(">", 1)[-1] in _DENY:
                raise _refuse(path, node, _DENY[key.rsplit(">", 1)[-1]])
        if cls in _DATA_MARKERS:
            continue

        if cls == "function":
            fname = node.get("config")
            if not isinstance(fname, str):
                raise _refuse(path, node, "a function reference without a name")
            if _registered(fname) is not None:
                continue
            if module in (None, "builtins"):
                if any(_keras_symbol(f"keras.{m}", fname) is not None for m in sorted(_FUNCTION_MODULES)):
                    continue
                raise _refuse(path, node, "it is neither a Keras built-in function nor a registered function")
            if _is_keras_module(module):
                tail = module.split(".", 1)[1] if "." in module else ""
                tail = tail[len("src.") :] if tail.startswith("src.") else tail
                api = f"{module}.{fname}"
                if api not in _NON_MODELING and tail.split(".", 1)[0] in _FUNCTION_MODULES:
                    if callable(_keras_symbol(module, fname)):
                        continue
                raise _refuse(path, node, "it is not a Keras modeling function")
            raise _refuse(path, node, "functions from modules outside Keras must be registered")

        if not isinstance(cls, str) or not cls:
            raise _refuse(path, node, "an object without a class name")
        if _registered(registered) is not None:
            continue
        if _is_keras_module(module):
            obj = _keras_symbol(module, cls)
            if bases is None:
                bases = _keras_model_part_bases()
            if isinstance(obj, type) and issubclass(obj, bases):
                continue
            if obj is None:
                raise _refuse(path, node, f"there is no class '{cls}' in {module} (unknown to this Keras)")
            raise _refuse(path, node, "it is not a Keras model part (layer, initializer, loss...)")
        if _is_keras_trt_module(module):
            raise _refuse(path, node, "it is not a registered keras_trt object")
        if module is None and registered is None:
            # A bare {"class_name": X, "config": ...} (legacy Keras format, or a sub-config such as a
            # keras_trt surrogate that its trusted owner layer decodes): resolve X only among Keras
            # built-ins and objects registered under the keras_trt package.
            if _registered(cls) is not None or _registered(f"keras_trt>{cls}") is not None:
                continue
            if bases is None:
                bases = _keras_model_part_bases()
            for mod in _BARE_NAME_MODULES:
                obj = _keras_symbol(mod, cls)
                if isinstance(obj, type) and issubclass(obj, bases):
                    break
            else:
                raise _refuse(path, node, "it is neither a Keras built-in nor a registered Keras or keras_trt object")
            continue
        raise _refuse(path, node, "it is not a registered Keras or keras_trt object")


__all__ = ["check_config"]
