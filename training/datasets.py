"""Data sources for the recipes: the embedded sets (no download) and the paper's datasets.

Every source returns a :class:`Data`: a training feed for ``model.fit``, the held-out test set,
and what the model builder needs (input shape, number of classes). In-memory training data is
fed through :class:`EpochArrays`, whose order depends only on ``(seed, epoch)``: a run resumed
after an interruption sees exactly the batches an uninterrupted run would have seen.
"""

import dataclasses
import os

import numpy as np


@dataclasses.dataclass
class Data:
    train: object  # EpochArrays or tf.data.Dataset
    test: tuple | object  # (x, y) arrays or tf.data.Dataset
    input_shape: tuple
    num_classes: int
    name: str
    class_names: list | None = None
    #: event recipes: the held-out streams and how they become model inputs (event probes)
    test_events: object = None

    def test_arrays(self):
        """The held-out set as ``(x, y)`` arrays (a tf.data set gathered whole: the held-out
        sets of the recipes fit in memory)."""
        if isinstance(self.test, tuple):
            return self.test
        xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in self.test.as_numpy_iterator()))
        return np.concatenate(xs), np.concatenate(ys)


class EpochArrays:
    """In-memory training data whose epoch ``e`` is a pure function of ``(seed, e)``.

    ``epoch(e)`` returns the arrays of that epoch: shuffled with permutation ``rng(seed, e)`` and,
    batch by batch, transformed by ``augment(x_batch, rng(seed, e, batch))`` (NumPy). They are
    made up front in the main thread, so no background prefetching can mix epochs, and a resumed
    run replays exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, x, y, batch_size, seed=0, augment=None):
        self.x, self.y = x, y
        self.batch_size, self.seed, self.augment = int(batch_size), int(seed), augment

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def epoch(self, epoch):
        order = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.x))
        x, y = self.x[order], self.y[order]
        if self.augment is not None:
            for i, start in enumerate(range(0, len(x), self.batch_size)):
                rng = np.random.default_rng([self.seed, int(epoch), i])
                x[start : start + self.batch_size] = self.augment(x[start : start + self.batch_size], rng)
        return x, y


def random_shift(max_shift):
    """Augmentation: shifts each image [H, W, C] (or each sequence of frames [T, H, W, C], every
    frame alike) by up to ``max_shift`` pixels (zero fill)."""

    def augment(x, rng):
        out = np.zeros_like(x)
        m = max_shift
        pad = np.pad(x, ((0, 0),) * (x.ndim - 3) + ((m, m), (m, m), (0, 0)))
        h, w = x.shape[-3:-1]
        for i, (dy, dx) in enumerate(rng.integers(0, 2 * max_shift + 1, size=(len(x), 2))):
            out[i] = pad[i, ..., dy : dy + h, dx : dx + w, :]
        return out

    return augment


def point_jitter(scale=(0.85, 1.15), sigma=0.01):
    """Augmentation for point clouds: random anisotropic scaling and Gaussian jitter."""

    def augment(x, rng):
        s = rng.uniform(*scale, size=(len(x), 1, x.shape[-1])).astype(x.dtype)
        return x * s + rng.normal(0, sigma, size=x.shape).astype(x.dtype)

    return augment


def _in_memory(name, train, test, batch_size, seed, augment, classes, class_names=None):
    (x_train, y_train), (x_test, y_test) = train, test
    feed = EpochArrays(x_train, y_train, batch_size, seed, augment)
    return Data(feed, (x_test, y_test), x_train.shape[1:], classes, name, class_names)


def digits(batch_size, seed, augment, timesteps, **_):
    from keras_trt.data import load_digits

    train, test = load_digits()
    return _in_memory("digits", train, test, batch_size, seed, random_shift(1) if augment else None, 10)


def mnist(batch_size, seed, augment, timesteps, **_):
    from keras_trt.data import load_mnist5k

    train, test = load_mnist5k()
    return _in_memory("mnist-5k", train, test, batch_size, seed, random_shift(2) if augment else None, 10)


def mnist_points(batch_size, seed, augment, timesteps, num_points=256, **_):
    from keras_trt.data import load_mnist_points

    train, test = load_mnist_points(num_points=num_points)
    aug = point_jitter() if augment else None
    return _in_memory("mnist-points", train, test, batch_size, seed, aug, 10)


def basic_motions(batch_size, seed, augment, timesteps, **_):
    from keras_trt.data import bin_time, load_basic_motions

    (x_train, y_train), (x_test, y_test), names = load_basic_motions()
    train = (bin_time(x_train, timesteps), y_train)
    test = (bin_time(x_test, timesteps), y_test)
    return _in_memory("basic-motions", train, test, batch_size, seed, None, len(names), names)


def japanese_vowels(batch_size, seed, augment, timesteps, **_):
    from keras_trt.data import load_japanese_vowels

    train, test, names = load_japanese_vowels(length=timesteps)
    return _in_memory("japanese-vowels", train, test, batch_size, seed, None, len(names), names)


@dataclasses.dataclass
class EventStreams:
    """Held-out event streams (:data:`keras_trt.data.EVENT_DTYPE` arrays) with what turns them
    into the model's input: ``to_frames(streams) -> [N, T, H, W, 2]``; ``duration`` and
    ``sensor_size`` for the event-level perturbations of ``training.probes``."""

    streams: list
    labels: np.ndarray
    to_frames: object
    duration: int
    sensor_size: tuple


def nmnist_emulated(batch_size, seed, augment, timesteps, **_):
    from keras_trt.data import NMNIST_SIZE, NMNIST_EMULATED_WINDOW, load_nmnist_emulated, streams_to_frames

    (train, y_train), (test, y_test) = load_nmnist_emulated()

    def to_frames(streams):
        return streams_to_frames(streams, timesteps, NMNIST_SIZE, split_by="time", window=NMNIST_EMULATED_WINDOW)

    data = _in_memory("nmnist-emulated", (to_frames(train), y_train), (to_frames(test), y_test), batch_size,
                      seed, random_shift(2) if augment else None, 10)
    data.input_shape = NMNIST_SIZE + (2,)  # one frame: the builders take T apart
    data.test_events = EventStreams(test, y_test, to_frames, NMNIST_EMULATED_WINDOW[1], NMNIST_SIZE)
    return data


def _data_dir(data_dir, variable):
    data_dir = data_dir or os.environ.get(variable)
    if not data_dir:
        raise SystemExit(
            f"This recipe reads a dataset that cannot be downloaded here: pass --data-dir or set "
            f"{variable} to the folder that holds it (see the recipe's description)."
        )
    return data_dir


def cifar(name):
    def source(batch_size, seed, augment, timesteps, data_dir=None, **_):
        from keras_trt.data import cifar as pipeline

        root = _data_dir(data_dir, "TFDS_DATA_DIR")
        train = pipeline(name, "train", batch_size, augment=augment, data_dir=root, seed=seed)
        test = pipeline(name, "test", batch_size, augment=False, data_dir=root)
        return Data(train, test, (32, 32, 3), 10 if name == "cifar10" else 100, name)

    return source


def imagenet(batch_size, seed, augment, timesteps, data_dir=None, **_):
    from keras_trt.data import imagenet as pipeline

    root = _data_dir(data_dir, "IMAGENET_MANUAL_DIR")
    train = pipeline("train", batch_size, manual_dir=root, augment=augment, seed=seed)
    test = pipeline("validation", batch_size, manual_dir=root, augment=False)
    return Data(train, test, (224, 224, 3), 1000, "imagenet-1k")


def events(name, num_classes, size):
    def source(batch_size, seed, augment, timesteps, data_dir=None, **_):
        from keras_trt.data import event_frames

        root = _data_dir(data_dir, "EVENT_DATA_DIR")
        kw = dict(frames=timesteps, size=size, manual_dir=root, batch_size=batch_size)
        train = event_frames(name, "train", shuffle=True, seed=seed, **kw)
        test = event_frames(name, "test", shuffle=False, **kw)
        return Data(train, test, (size, size, 2), num_classes, name)  # one frame: T is the recipe's

    return source


def modelnet40(batch_size, seed, augment, timesteps, data_dir=None, num_points=1024, **_):
    from keras_trt.data import modelnet40 as pipeline

    root = _data_dir(data_dir, "MODELNET40_DIR")
    train = pipeline(root, "train", num_points, batch_size, augment=augment, seed=seed)
    test = pipeline(root, "test", num_points, batch_size, augment=False)
    return Data(train, test, (num_points, 3), 40, "modelnet40")


SOURCES = {
    "digits": digits,
    "mnist": mnist,
    "mnist_points": mnist_points,
    "basic_motions": basic_motions,
    "japanese_vowels": japanese_vowels,
    "nmnist_emulated": nmnist_emulated,
    "cifar10": cifar("cifar10"),
    "cifar100": cifar("cifar100"),
    "imagenet": imagenet,
    "dvs_gesture": events("dvs128_gesture", 11, 48),
    "cifar10_dvs": events("cifar10_dvs", 10, 48),
    "modelnet40": modelnet40,
}


def load(name, *, batch_size, seed, augment, timesteps, **kwargs):
    """Loads data source ``name`` (a key of :data:`SOURCES`)."""
    if name not in SOURCES:
        raise SystemExit(f"Unknown dataset {name!r}; known: {', '.join(SOURCES)}.")
    return SOURCES[name](batch_size=batch_size, seed=seed, augment=augment, timesteps=timesteps, **kwargs)
