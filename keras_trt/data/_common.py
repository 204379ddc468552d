"""Small helpers shared by the data modules: path checks, clear errors, splits."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np


class DataFormatError(ValueError):
    """A data file exists but is not in the expected format (bad header, truncated, ...).

    Example:
        >>> from keras_trt.data import DataFormatError, read_atis_bin
        >>> try:
        ...     read_atis_bin("truncated.bin")
        ... except (DataFormatError, FileNotFoundError) as err:
        ...     print(type(err).__name__)  # doctest: +SKIP
        DataFormatError
    """


def require_dir(path, what: str, fix: str) -> Path:
    """Return ``Path(path)`` or raise ``FileNotFoundError`` naming ``what`` and the fix."""
    if path is None:
        raise ValueError(f"{what}: no directory given. {fix}")
    p = Path(os.fspath(path)).expanduser()
    if not p.is_dir():
        if p.exists():
            raise NotADirectoryError(f"{what}: {p} is a file, expected a directory. {fix}")
        raise FileNotFoundError(f"{what}: directory {p} does not exist. {fix}")
    return p


def require_file(path, what: str, fix: str) -> Path:
    """Return ``Path(path)`` or raise ``FileNotFoundError`` naming ``what`` and the fix."""
    p = Path(os.fspath(path)).expanduser()
    if not p.is_file():
        if p.is_dir():
            raise IsADirectoryError(f"{what}: {p} is a directory, expected a file. {fix}")
        raise FileNotFoundError(f"{what}: file {p} does not exist. {fix}")
    return p


def natural_key(name: str):
    """Sort key that orders ``a_2`` before ``a_10``."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(name))]


def check_fraction(test_fraction: float) -> float:
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must be strictly between 0 and 1, got {test_fraction}; "
            "pass e.g. test_fraction=0.2."
        )
    return test_fraction


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int):
    """Deterministic stratified split: per class, a seeded shuffle, then the
    first ``round(n * test_fraction)`` (at least 1 when n > 1) go to the test set.

    Returns ``(train_index, test_index)``, each in a seeded shuffled order (so
    that a source sorted by class does not give class-sorted batches).
    """
    test_fraction = check_fraction(test_fraction)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(idx.size * test_fraction))
        if idx.size > 1:
            n_test = min(max(n_test, 1), idx.size - 1)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx, test_idx = np.concatenate(train_idx), np.concatenate(test_idx)
    return train_idx[rng.permutation(train_idx.size)], test_idx[rng.permutation(test_idx.size)]


def ratio_split(items: list, train_fraction: float):
    """SpikingJelly's ``split_to_train_test_set(random_split=False)`` rule for one
    class: the first ``ceil(n * train_fraction)`` items train, the rest test."""
    pos = math.ceil(len(items) * train_fraction)
    return items[:pos], items[pos:]


def bin_time(x, timesteps: int):
    """Average a series ``[N, L, F]`` over ``timesteps`` equal windows: ``[N, timesteps, F]``.

    How the recipes turn long recordings into an SNN's T steps (``L`` must divide evenly).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import bin_time
        >>> bin_time(np.arange(8.0).reshape(1, 4, 2), 2)[0]
        array([[1., 2.],
               [5., 6.]])
    """
    import numpy as np

    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"bin_time expects a series [N, L, F], got shape {x.shape}.")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}.")
    n, length, f = x.shape
    if length % timesteps:
        raise ValueError(
            f"sequence length {length} is not divisible by timesteps={timesteps}. Fix: pick a T that divides "
            f"{length}, or crop/resample the series first."
        )
    return x.reshape(n, timesteps, length // timesteps, f).mean(axis=2)
