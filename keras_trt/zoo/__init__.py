"""The keras-trt model zoo: save, share and load spiking networks as presets.

A *preset* is a folder (``config.json``, ``model.weights.h5``, ``metadata.json``, ``README.md``)
that works with any Keras 3 model and backend. It can live on disk, on the Hugging Face Hub
(``hf://org/repo@revision``) or be registered under a name in the zoo (the repository's ``zoo/``
folder, shipped with the package).

>>> from keras_trt import zoo
>>> zoo.list()                                   # doctest: +SKIP
>>> path = zoo.save_preset(model, "out/my-snn", dataset="mnist", timesteps=4,
...                        metrics={"accuracy": 0.98})          # doctest: +SKIP
>>> model = zoo.load("out/my-snn")               # doctest: +SKIP
>>> model = zoo.load("hf://org/my-snn@v1", num_classes=10, freeze_backbone=True)  # doctest: +SKIP
"""

from keras_trt.zoo.errors import (
    HubError,
    HubFileNotFoundError,
    HubOfflineError,
    IntegrityError,
    PresetFormatError,
    UnknownModelError,
    UnsafeConfigError,
    WeightsUnavailableError,
    ZooError,
)
from keras_trt.zoo.loader import load
from keras_trt.zoo.preset import FORMAT_VERSION, read_metadata, save_preset
from keras_trt.zoo.registry import info, register, unregister
from keras_trt.zoo.registry import list_models as list  # noqa: A001 - the zoo's public name

__all__ = [
    "load",
    "save_preset",
    "list",
    "info",
    "register",
    "unregister",
    "read_metadata",
    "FORMAT_VERSION",
    "ZooError",
    "UnknownModelError",
    "PresetFormatError",
    "IntegrityError",
    "UnsafeConfigError",
    "WeightsUnavailableError",
    "HubError",
    "HubFileNotFoundError",
    "HubOfflineError",
]
