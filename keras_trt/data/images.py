"""Static-image pipelines: CIFAR-10/100 and ImageNet (tensorflow-datasets), in-memory arrays.

Every pipeline returns a ``tf.data.Dataset`` of (images [B, H, W, C] float32,
labels [B] int32), batched and prefetched. The augmentation functions work on
one image [H, W, C] and take an optional stateless seed (int [2]); with a seed
they are deterministic, which the pipelines use to make ``seed=`` reproducible.

Nothing is downloaded unless asked: the tfds pipelines read data already
prepared under ``data_dir`` (``cifar(..., download=True)`` fetches CIFAR;
ImageNet is built from the archives in ``manual_dir``).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from keras_trt.data._tfdata import finish, op_seed, split_seed

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------- ops


def to_float(image):
    """uint8 [0, 255] -> float32 [0, 1]; float inputs are only cast to float32.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import to_float
        >>> float(to_float(tf.constant([255], tf.uint8))[0])
        1.0
    """
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.uint8:
        return tf.cast(image, tf.float32) / 255.0
    return tf.cast(image, tf.float32)


def normalize(image, mean, std):
    """``(to_float(image) - mean) / std`` per channel (mean/std given for [0, 1] values).

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import normalize, CIFAR10_MEAN, CIFAR10_STD
        >>> normalize(tf.zeros([32, 32, 3], tf.uint8), CIFAR10_MEAN, CIFAR10_STD).shape
        TensorShape([32, 32, 3])
    """
    image = to_float(image)
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    if int(mean.shape[0]) != image.shape[-1] and image.shape[-1] is not None:
        raise ValueError(f"mean/std have {mean.shape[0]} channels but the image has {image.shape[-1]}.")
    return (image - mean) / std


def pad_and_random_crop(image, padding: int = 4, seed=None):
    """Zero-pad each side by ``padding`` pixels and crop back to the original size at a random offset.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import pad_and_random_crop
        >>> pad_and_random_crop(tf.ones([32, 32, 3]), 4, seed=[1, 2]).shape
        TensorShape([32, 32, 3])
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError(f"expected one image [H, W, C], got shape {image.shape}.")
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    offset = tf.random.stateless_uniform([2], op_seed(seed), minval=0, maxval=2 * padding + 1, dtype=tf.int32)
    out = tf.slice(padded, tf.stack([offset[0], offset[1], 0]), shape)
    return tf.ensure_shape(out, image.shape)


def random_flip(image, seed=None):
    """Mirror the image left-right with probability 1/2.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import random_flip
        >>> random_flip(tf.ones([4, 4, 3]), seed=[0, 0]).shape
        TensorShape([4, 4, 3])
    """
    image = tf.convert_to_tensor(image)
    flip = tf.random.stateless_uniform([], op_seed(seed)) < 0.5
    return tf.where(flip, tf.reverse(image, axis=[-2]), image)


def cifar_augment(image, seed=None, padding: int = 4):
    """The standard CIFAR training augmentation: pad 4 + random 32x32 crop, then random flip.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import cifar_augment
        >>> cifar_augment(tf.zeros([32, 32, 3], tf.uint8), seed=[1, 1]).dtype
        tf.uint8
    """
    s_crop, s_flip = split_seed(seed, 2)
    return random_flip(pad_and_random_crop(image, padding, s_crop), s_flip)


def _crop_window(shape, seed, scale, ratio):
    """Random-resized-crop window for an image of ``shape`` [H, W, C]: (offset_hw, size_hw)."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.cast(shape, tf.int32),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=op_seed(seed),
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return begin[:2], size[:2]


def random_resized_crop(image, size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None):
    """Inception-style crop: a random window covering ``scale`` of the area with aspect in
    ``ratio`` (whole image after 10 failed tries), resized to ``size`` x ``size`` (bilinear).

    Returns float32 in the input's range ([0, 1] for uint8 inputs).

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import random_resized_crop
        >>> random_resized_crop(tf.zeros([300, 400, 3], tf.uint8), 224, seed=[5, 6]).shape
        TensorShape([224, 224, 3])
    """
    image = to_float(image)
    offset, hw = _crop_window(tf.shape(image), seed, scale, ratio)
    crop = tf.slice(image, tf.concat([offset, [0]], 0), tf.concat([hw, [-1]], 0))
    return tf.image.resize(crop, [size, size], method="bilinear")


def resize_center_crop(image, resize: int = 256, crop: int = 224):
    """Evaluation transform: resize the shorter side to ``resize`` (aspect kept), centre-crop ``crop``.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import resize_center_crop
        >>> resize_center_crop(tf.zeros([300, 400, 3], tf.uint8)).shape
        TensorShape([224, 224, 3])
    """
    image = to_float(image)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = float(resize) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * factor), tf.int32)
    new = tf.maximum(new, crop)
    image = tf.image.resize(image, new, method="bilinear")
    top = (new[0] - crop) // 2
    left = (new[1] - crop) // 2
    out = tf.slice(image, tf.stack([top, left, 0]), tf.stack([crop, crop, -1]))
    return tf.ensure_shape(out, [crop, crop, image.shape[-1]])


def decode_random_resized_crop(jpeg_bytes, size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None):
    """:func:`random_resized_crop` straight from JPEG bytes (decodes only the crop window).

    Gives the window of ``random_resized_crop(decode_jpeg(bytes), seed=seed)``.

    Example:
        >>> from keras_trt.data.images import decode_random_resized_crop
        >>> img = decode_random_resized_crop(jpeg_bytes, 224, seed=[0, 1])  # doctest: +SKIP
    """
    shape = tf.image.extract_jpeg_shape(jpeg_bytes)
    shape = tf.concat([shape[:2], [3]], 0)
    offset, hw = _crop_window(shape, seed, scale, ratio)
    crop = tf.image.decode_and_crop_jpeg(jpeg_bytes, tf.concat([offset, hw], 0), channels=3)
    return tf.image.resize(to_float(crop), [size, size], method="bilinear")


# ----------------------------------------------------------------------------- pipelines


def from_arrays(x, y, batch_size: int = 32, shuffle: bool = False, augment_fn=None, seed=None,
                drop_remainder: bool = False, shuffle_buffer: int | None = None):
    """In-memory arrays as a batched, prefetched ``tf.data.Dataset`` of (x, y int32).

    ``augment_fn(x)`` or ``augment_fn(x, seed=...)`` (if it takes a ``seed``) is
    applied to each example after shuffling; with an int ``seed`` the order
    and the seeds handed to ``augment_fn`` are reproducible (and differ
    between epochs).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import from_arrays, cifar_augment
        >>> ds = from_arrays(np.zeros((10, 32, 32, 3), np.float32), np.arange(10), batch_size=4,
        ...                  shuffle=True, augment_fn=cifar_augment, seed=0)
        >>> [int(b[0].shape[0]) for b in ds]
        [4, 4, 2]
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same first dimension and y must be 1-D labels; got {x.shape} and {y.shape}."
        )
    if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float32:
        x = x.astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    return finish(ds, batch_size, shuffle, seed, augment_fn=augment_fn,
                  shuffle_buffer=shuffle_buffer or max(len(y), 1), drop_remainder=drop_remainder)


def _prepared_builder(name, data_dir, download=False, manual_dir=None):
    import tensorflow_datasets as tfds

    data_dir = None if data_dir is None else os.path.expanduser(os.fspath(data_dir))
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    if manual_dir is not None:
        manual = os.path.expanduser(os.fspath(manual_dir))
        if not os.path.isdir(manual):
            raise FileNotFoundError(f"{name}: manual_dir {manual} does not exist.\n{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
        return builder
    if download:
        builder.download_and_prepare()
        return builder
    raise FileNotFoundError(
        f"tfds data set {name!r} is not prepared in data_dir={builder.data_dir}. Either point data_dir at a "
        f"folder where it was prepared, or prepare it once: "
        + ("pass manual_dir= the folder with the archives." if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
           else "pass download=True (needs internet).")
    )


def cifar(name: str = "cifar10", split: str = "train", batch_size: int = 128, augment=None, data_dir=None,
          shuffle=None, seed=None, download: bool = False, mean=None, std=None, drop_remainder: bool = False,
          cache: bool = True):
    """CIFAR-10 / CIFAR-100 from tensorflow-datasets: (images [B, 32, 32, 3] float32, labels [B] int32).

    Training augmentation (``augment``, default on for splits starting with
    ``"train"``): zero-pad 4 + random 32x32 crop, random horizontal flip.
    Images are normalised per channel with ``mean``/``std`` (default: the
    usual CIFAR-10 or CIFAR-100 statistics). ``split`` is any tfds split
    string (``"train"``, ``"test"``, ``"train[:90%]"``...).

    Example:
        >>> from keras_trt.data import cifar
        >>> ds = cifar("cifar10", "train", batch_size=128, data_dir="~/tensorflow_datasets")  # doctest: +SKIP
        >>> x, y = next(iter(ds))  # doctest: +SKIP
        >>> x.shape, y.dtype  # doctest: +SKIP
        (TensorShape([128, 32, 32, 3]), tf.int32)
    """
    if name not in ("cifar10", "cifar100"):
        raise ValueError(f"name must be 'cifar10' or 'cifar100', got {name!r}.")
    builder = _prepared_builder(name, data_dir, download=download)
    train = str(split).startswith("train")
    augment = train if augment is None else augment
    shuffle = train if shuffle is None else shuffle
    mean = mean or (CIFAR10_MEAN if name == "cifar10" else CIFAR100_MEAN)
    std = std or (CIFAR10_STD if name == "cifar10" else CIFAR100_STD)
    ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle)

    def prep(image, label, seed):
        if augment:
            image = cifar_augment(image, seed)
        return normalize(image, mean, std), tf.cast(label, tf.int32)

    return finish(ds, batch_size, shuffle, seed, map_fn=prep, shuffle_buffer=10_000, drop_remainder=drop_remainder,
                  cache=cache)


def imagenet(split: str = "train", batch_size: int = 256, data_dir=None, manual_dir=None, augment=None,
             shuffle=None, seed=None, image_size: int = 224, resize_size: int = 256, mean=IMAGENET_MEAN,
             std=IMAGENET_STD, drop_remainder: bool = False, shuffle_buffer: int = 10_000):
    """ImageNet-1k (tfds ``imagenet2012``): (images [B, 224, 224, 3] float32, labels [B] int32).

    Train (``augment``, default on for ``"train"`` splits): random-resized-crop
    224 (scale 0.08-1, aspect 3/4-4/3, decoding only the window) + random
    flip. Eval: resize the shorter side to 256, centre-crop 224. Both are
    normalised with the ImageNet mean/std. If the data set is not prepared in
    ``data_dir``, it is built once from ``manual_dir``, which must hold
    ``ILSVRC2012_img_train.tar`` and/or ``ILSVRC2012_img_val.tar``.

    Example:
        >>> from keras_trt.data import imagenet
        >>> ds = imagenet("validation", 64, data_dir="/data/tfds", manual_dir="/data/ilsvrc")  # doctest: +SKIP
        >>> x, y = next(iter(ds))  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        TensorShape([64, 224, 224, 3])
    """
    import tensorflow_datasets as tfds

    builder = _prepared_builder("imagenet2012", data_dir, manual_dir=manual_dir)
    train = str(split).startswith("train")
    augment = train if augment is None else augment
    shuffle = train if shuffle is None else shuffle
    ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=shuffle,
                            decoders={"image": tfds.decode.SkipDecoding()})

    def prep(jpeg, label, seed):
        if augment:
            s_crop, s_flip = split_seed(seed, 2)
            image = random_flip(decode_random_resized_crop(jpeg, image_size, seed=s_crop), s_flip)
        else:
            image = resize_center_crop(tf.image.decode_jpeg(jpeg, channels=3), resize_size, image_size)
        image = tf.ensure_shape(image, [image_size, image_size, 3])
        return normalize(image, mean, std), tf.cast(label, tf.int32)

    return finish(ds, batch_size, shuffle, seed, map_fn=prep, shuffle_buffer=shuffle_buffer,
                  drop_remainder=drop_remainder)
