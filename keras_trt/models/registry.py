"""The architecture registry: ``build(name, **kwargs)`` and ``list_architectures()``.

An entry is a builder plus the keyword arguments that make it the named architecture, a one-
line description, and ``small``: the arguments of a small, fast instance (small width and
resolution) that the test suite builds, trains one step, saves and reloads on every backend.
The suite parametrizes over :func:`list_architectures`, so an architecture is tested the
moment it is registered.

>>> import keras_trt
>>> keras_trt.models.list_architectures()[:3]
['qkformer_10_384', 'qkformer_10_768', 'sdt_2_512_cifar']
>>> model = keras_trt.models.build("sresnet18_cifar", num_classes=100, timesteps=2)
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
from typing import Any, Callable, Mapping

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A registered architecture.

    Attributes:
        name: the registry name (lower case, ``[a-z0-9_]``).
        builder: the function that builds it.
        defaults: keyword arguments passed to ``builder`` before the caller's.
        description: one line, shown by :func:`describe`.
        small: keyword arguments for a small, fast instance (used by the tests).
    """

    name: str
    builder: Callable[..., Any]
    defaults: Mapping[str, Any]
    description: str
    small: Mapping[str, Any]

    def build(self, **kwargs):
        return self.builder(**{**self.defaults, **kwargs})


_REGISTRY: dict[str, Architecture] = {}


def register(name, builder, /, *, description, small, overwrite=False, **defaults):
    """Registers ``builder(**defaults, **kwargs)`` as ``name``.

    ``small`` is required: the keyword arguments of a small instance that builds and trains in
    well under a second per step on a CPU (e.g. ``dict(input_shape=(16, 16, 3),
    width_multiplier=0.125)``); the registry tests use it.

    >>> from keras_trt.models import registry, spiking_resnet
    >>> arch = registry.register(
    ...     "sresnet10_cifar", spiking_resnet, description="ResNet-10, CIFAR stem",
    ...     small=dict(input_shape=(16, 16, 3), width_multiplier=0.125),
    ...     stage_blocks=(1, 1, 1, 1), stage_widths=(64, 128, 256, 512), stem="cifar",
    ...     name="sresnet10_cifar")
    >>> registry.build("sresnet10_cifar", num_classes=10).count_params() > 4_000_000
    True
    >>> registry.unregister("sresnet10_cifar")
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"Architecture names are lower case [a-z0-9_] starting with a letter, got {name!r}.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"Architecture {name!r} is already registered; pass overwrite=True to replace it.")
    if not callable(builder):
        raise TypeError(f"builder must be callable, got {builder!r}.")
    if not isinstance(small, Mapping):
        raise TypeError(
            f"small must be a dict of keyword arguments for a small test instance of {name!r}, got {small!r}."
        )
    _REGISTRY[name] = Architecture(
        name=name,
        builder=builder,
        defaults=types.MappingProxyType(dict(defaults)),
        description=str(description),
        small=types.MappingProxyType(dict(small)),
    )
    return _REGISTRY[name]


def unregister(name):
    """Removes ``name`` from the registry (for tests and experiments)."""
    get_architecture(name)
    del _REGISTRY[name]


def list_architectures():
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def get_architecture(name) -> Architecture:
    """The :class:`Architecture` registered as ``name``; a ValueError with close matches if none."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(name).lower(), list(_REGISTRY), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown architecture {name!r}.{hint} Registered: {', '.join(list_architectures())} "
        "(keras_trt.models.list_architectures())."
    )


def build(name, include_top=True, **kwargs):
    """Builds the registered architecture ``name``; ``kwargs`` override its defaults.

    Every architecture takes ``num_classes``, ``timesteps``, ``input_shape``, ``reverse_at``,
    ``width_multiplier`` and the neuron options (``neuron``, ``tau``, ``v_threshold``,
    ``v_reset``, ``decay_input``, ``detach_reset``, ``surrogate``), plus its builder's own.
    ``include_top=False`` returns the backbone alone: its output is the spike features
    ``[B, T, C]`` that the head (StarProduct + ``classifier``) would take
    (:func:`keras_trt.models.heads.backbone`).

    >>> import keras_trt
    >>> model = keras_trt.models.build("sresnet34", timesteps=2)                  # ImageNet
    >>> model = keras_trt.models.build("vggsnn", num_classes=11, timesteps=16)    # DVS-Gesture
    >>> keras_trt.models.build("sresnet20", include_top=False, timesteps=2, input_shape=(28, 28, 1)).output_shape
    (None, 2, 64)
    """
    if not isinstance(include_top, bool):
        raise TypeError(f"include_top must be True or False, got {include_top!r}.")
    model = get_architecture(name).build(**kwargs)
    if include_top:
        return model
    from keras_trt.models import heads

    return heads.backbone(model)


def describe():
    """``{name: description}`` for every registered architecture."""
    return {name: _REGISTRY[name].description for name in list_architectures()}
