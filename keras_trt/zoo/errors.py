"""Errors raised by :mod:`keras_trt.zoo`.

Every error message says what went wrong *and* how to fix it. All of them derive from
:class:`ZooError`, and each also derives from the closest built-in exception, so callers can
catch either (for example ``except KeyError`` for an unknown model name).

>>> from keras_trt import zoo
>>> try:
...     zoo.load("no-such-model")
... except zoo.UnknownModelError as err:
...     print(err)  # doctest: +SKIP
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error raised by ``keras_trt.zoo``.

    >>> from keras_trt.zoo import ZooError
    >>> issubclass(ZooError, Exception)
    True
    """


class UnknownModelError(ZooError, KeyError, ValueError):
    """A handle is neither a registered model name, a preset folder nor an ``hf://`` handle.

    It is both a :class:`KeyError` and a :class:`ValueError`; its message lists close matches.

    >>> from keras_trt.zoo import UnknownModelError
    >>> str(UnknownModelError("no model named 'x'"))
    "no model named 'x'"
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PresetFormatError(ZooError, ValueError):
    """A folder is not a valid preset: missing/malformed files or an unsupported ``format_version``.

    >>> from keras_trt.zoo import PresetFormatError
    >>> issubclass(PresetFormatError, ValueError)
    True
    """


class IntegrityError(ZooError, ValueError):
    """A file's sha256 does not match the hash recorded in ``metadata.json`` or pinned by the registry.

    >>> from keras_trt.zoo import IntegrityError
    >>> issubclass(IntegrityError, ValueError)
    True
    """


class UnsafeConfigError(ZooError, ValueError):
    """``config.json`` refers to code that loading a preset must never run (a ``Lambda`` layer, an
    unregistered class, a module outside Keras / keras_trt).

    >>> from keras_trt.zoo import UnsafeConfigError
    >>> issubclass(UnsafeConfigError, ValueError)
    True
    """


class WeightsUnavailableError(ZooError, RuntimeError):
    """A registered model has no published weights (for example an ImageNet entry nobody trained yet).

    >>> from keras_trt.zoo import WeightsUnavailableError
    >>> issubclass(WeightsUnavailableError, RuntimeError)
    True
    """


class HubError(ZooError, OSError):
    """Fetching a preset from the Hugging Face Hub failed (repository, revision or file not found...).

    >>> from keras_trt.zoo import HubError
    >>> issubclass(HubError, OSError)
    True
    """


class HubFileNotFoundError(HubError, FileNotFoundError):
    """A file the preset needs is not in the Hub repository at the requested revision.

    >>> from keras_trt.zoo import HubFileNotFoundError
    >>> issubclass(HubFileNotFoundError, FileNotFoundError)
    True
    """


class HubOfflineError(HubError, ConnectionError):
    """The Hub cannot be reached (offline mode or no network) and the file is not in the local cache.

    >>> from keras_trt.zoo import HubOfflineError
    >>> issubclass(HubOfflineError, ConnectionError)
    True
    """


__all__ = [
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
