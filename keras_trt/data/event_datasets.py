"""tensorflow-datasets builders that turn manually downloaded event data into frames.

Three builders read a MANUAL directory (nothing is downloaded) and store
``frames`` [T, H, W, 2] float32 event counts (:func:`~keras_trt.data.events_to_frames`,
then :func:`~keras_trt.data.downsample` to the configured size) with ``label``:

* ``dvs128_gesture`` (:class:`DvsGesture`): the ``DvsGesture/`` folder of
  DvsGesture.tar.gz (``*.aedat``, ``*_labels.csv``, ``trials_to_train.txt``,
  ``trials_to_test.txt``); 11 classes, the data set's own train/test split.
* ``cifar10_dvs`` (:class:`Cifar10Dvs`): one folder per class
  (``airplane/ ... truck/``) holding the ``cifar10_<class>_<i>.aedat`` files.
* ``n_caltech101`` (:class:`NCaltech101`): the ``Caltech101/`` folder of the
  N-Caltech101 zip, one folder per class holding ``image_XXXX.bin`` files.

T, the output size and the segmentation rule live in the builder config
(:class:`EventFramesConfig`); :func:`event_frames` builds (once) and loads a
batched tf.data pipeline.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from keras_trt.data._common import natural_key, ratio_split
from keras_trt.data.events import (
    DVS128_SIZE,
    DVS_GESTURE_CLASS_NAMES,
    NCALTECH101_SIZE,
    downsample,
    dvs_gesture_samples,
    events_to_frames,
    read_aedat2,
    read_atis_bin,
)

CIFAR10_DVS_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


@dataclasses.dataclass(eq=False)
class EventFramesConfig(tfds.core.BuilderConfig):
    """Builder config: ``frames`` (T), output ``size`` (H, W), ``split_by``
    (``"number"`` / ``"time"``, see :func:`events_to_frames`), and for the data
    sets without an official split ``split_scheme`` / ``train_fraction``:

    * ``"ratio"``: per class, files sorted by name (as torchvision's
      DatasetFolder does), the first ``ceil(n * train_fraction)`` train —
      SpikingJelly's ``split_to_train_test_set(train_fraction, random_split=False)``;
    * ``"tebn"`` (CIFAR10-DVS): per class the lowest-numbered 10 % of samples
      (0-99 of 1,000) are the test set, the rest train (the TEBN split).

    Use :meth:`EventFramesBuilder.config` to get one by value.

    Example:
        >>> from keras_trt.data import DvsGesture
        >>> cfg = DvsGesture.config(frames=10, size=(64, 64))
        >>> cfg.name
        't10_64x64'
    """

    frames: int = 16
    size: tuple = (128, 128)
    split_by: str = "number"
    split_scheme: str = "ratio"
    train_fraction: float = 0.9


def _config_name(frames, size, split_by, split_scheme, train_fraction):
    name = f"t{int(frames)}_{int(size[0])}x{int(size[1])}"
    if split_by != "number":
        name += f"_{split_by}"
    if split_scheme != "ratio":
        name += f"_{split_scheme}"
    if train_fraction != 0.9:
        name += f"_train{int(round(train_fraction * 100))}"
    return name


def _make_config(frames, size, split_by="number", split_scheme="ratio", train_fraction=0.9, description=None):
    size = (int(size), int(size)) if np.isscalar(size) else tuple(int(v) for v in size)
    return EventFramesConfig(
        name=_config_name(frames, size, split_by, split_scheme, train_fraction),
        description=description or f"T={frames} frames of {size[0]}x{size[1]}, split_by={split_by}",
        frames=int(frames),
        size=size,
        split_by=split_by,
        split_scheme=split_scheme,
        train_fraction=float(train_fraction),
    )


class EventFramesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Common base of the event-frame builders (not registered itself).

    Subclasses set ``SENSOR_SIZE``, ``CLASS_NAMES``, ``MANUAL_DOWNLOAD_INSTRUCTIONS``
    and the split generation; features are ``frames`` [T, H, W, 2] float32,
    ``label`` and ``source`` (the file / sample the frames came from).

    Example:
        >>> from keras_trt.data import EventFramesBuilder, DvsGesture
        >>> issubclass(DvsGesture, EventFramesBuilder), DvsGesture.SENSOR_SIZE
        (True, (128, 128))
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    SENSOR_SIZE = DVS128_SIZE
    CLASS_NAMES: tuple | None = None
    HOMEPAGE = ""
    SPLIT_SCHEMES = ("ratio",)

    @classmethod
    def config(cls, frames: int, size=None, split_by: str = "number", split_scheme: str = "ratio",
               train_fraction: float = 0.9) -> EventFramesConfig:
        """The config for these values: a predefined one when it exists, else a new one.

        ``size`` defaults to the sensor size (no downsampling).

        Example:
            >>> from keras_trt.data import NCaltech101
            >>> NCaltech101.config(frames=10).name
            't10_180x240'
        """
        if split_by not in ("number", "time"):
            raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}.")
        if split_scheme not in cls.SPLIT_SCHEMES:
            raise ValueError(f"{cls.name}: split_scheme must be one of {cls.SPLIT_SCHEMES}, got {split_scheme!r}.")
        if not 0.0 < float(train_fraction) < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
        if int(frames) < 1:
            raise ValueError(f"frames must be >= 1, got {frames}.")
        cfg = _make_config(frames, cls.SENSOR_SIZE if size is None else size, split_by, split_scheme, train_fraction)
        return cls.builder_configs.get(cfg.name, cfg)

    def _info(self):
        cfg = self.builder_config
        h, w = cfg.size
        label = tfds.features.ClassLabel(names=list(self.CLASS_NAMES)) if self.CLASS_NAMES else tfds.features.ClassLabel()
        return tfds.core.DatasetInfo(
            builder=self,
            description=(self.__doc__ or "").strip().splitlines()[0],
            features=tfds.features.FeaturesDict({
                "frames": tfds.features.Tensor(
                    shape=(cfg.frames, h, w, 2), dtype=np.float32, encoding=tfds.features.Encoding.ZLIB
                ),
                "label": label,
                "source": tfds.features.Text(),
            }),
            supervised_keys=("frames", "label"),
            homepage=self.HOMEPAGE,
        )

    def _generate_examples(self, root, items):
        """Examples of ``(path, label)`` items, each file read with the subclass's ``read_file``."""
        for path, label in items:
            key = str(path.relative_to(root))
            yield key, {"frames": self._frames(self.read_file(path)), "label": label, "source": key}

    def _frames(self, events) -> np.ndarray:
        cfg = self.builder_config
        frames = events_to_frames(events, cfg.frames, self.SENSOR_SIZE, cfg.split_by)
        if tuple(cfg.size) != tuple(self.SENSOR_SIZE):
            frames = downsample(frames, cfg.size)
        return frames

    def _manual_root(self, dl_manager) -> Path:
        return Path(os.fspath(dl_manager.manual_dir))

    def _missing(self, root, what) -> FileNotFoundError:
        return FileNotFoundError(
            f"{self.name}: {what} not found under manual_dir={root}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )


class DvsGesture(EventFramesBuilder):
    """DVS128 Gesture (IBM): 11 hand gestures by 29 subjects under 3 lightings, as event frames.

    Splits ``train`` / ``test`` follow ``trials_to_train.txt`` / ``trials_to_test.txt``;
    each row of a ``*_labels.csv`` gives one sample (``start <= t < end``).

    Example:
        >>> import tensorflow_datasets as tfds
        >>> from keras_trt.data import DvsGesture
        >>> builder = DvsGesture(config=DvsGesture.config(frames=20, size=(48, 48)), data_dir="~/tfds")  # doctest: +SKIP
        >>> builder.download_and_prepare(  # doctest: +SKIP
        ...     download_config=tfds.download.DownloadConfig(manual_dir="~/raw/DvsGesture"))
        >>> ds = builder.as_dataset(split="train", as_supervised=True)  # doctest: +SKIP
    """

    name = "dvs128_gesture"
    SENSOR_SIZE = DVS128_SIZE
    CLASS_NAMES = DVS_GESTURE_CLASS_NAMES
    HOMEPAGE = "https://research.ibm.com/interactive/dvsgesture/"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download DvsGesture.tar.gz from IBM (https://research.ibm.com/interactive/dvsgesture/),
    unpack it and pass manual_dir= the folder that holds DvsGesture/ (or DvsGesture/ itself).
    It must contain trials_to_train.txt, trials_to_test.txt and, for every
    <name>.aedat listed there, <name>_labels.csv.
    """
    BUILDER_CONFIGS = [
        _make_config(16, (128, 128)),
        _make_config(20, (48, 48)),
        _make_config(10, (48, 48)),
    ]

    def _split_generators(self, dl_manager):
        manual = self._manual_root(dl_manager)
        root = next((d for d in (manual / "DvsGesture", manual) if (d / "trials_to_train.txt").is_file()), None)
        if root is None:
            raise self._missing(manual, "trials_to_train.txt (in DvsGesture/ or at the top)")
        splits = {}
        for split in ("train", "test"):
            lst = root / f"trials_to_{split}.txt"
            if not lst.is_file():
                raise self._missing(manual, lst.name)
            names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
            for name in names:
                if not (root / name).is_file():
                    raise self._missing(manual, f"{name} (listed in {lst.name})")
            splits[split] = self._generate_examples(root, names)
        return splits

    def _generate_examples(self, root, names):
        for name in names:
            stem = Path(name).stem
            for k, (label, events) in enumerate(dvs_gesture_samples(root / name)):
                key = f"{stem}_{k}"
                yield key, {"frames": self._frames(events), "label": label, "source": key}


class Cifar10Dvs(EventFramesBuilder):
    """CIFAR10-DVS: 10,000 CIFAR-10 images recorded by a moving DVS128, as event frames.

    Events are read with :func:`read_aedat2` in SpikingJelly's orientation.
    No official split exists: see :class:`EventFramesConfig` (``split_scheme``).

    Example:
        >>> from keras_trt.data import Cifar10Dvs
        >>> Cifar10Dvs.config(frames=10, size=(48, 48), split_scheme="tebn").name
        't10_48x48_tebn'
    """

    name = "cifar10_dvs"
    SENSOR_SIZE = DVS128_SIZE
    CLASS_NAMES = CIFAR10_DVS_CLASS_NAMES
    HOMEPAGE = "https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671"
    SPLIT_SCHEMES = ("ratio", "tebn")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download the ten class zips (airplane.zip ... truck.zip) of CIFAR10-DVS from
    figshare (https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671),
    unzip each into a folder named after its class and pass manual_dir= the folder
    holding airplane/, automobile/, ..., truck/ (each with cifar10_<class>_<i>.aedat files).
    """
    BUILDER_CONFIGS = [
        _make_config(10, (128, 128)),
        _make_config(10, (48, 48)),
        _make_config(10, (128, 128), split_scheme="tebn"),
        _make_config(10, (48, 48), split_scheme="tebn"),
        _make_config(16, (128, 128)),
    ]

    def _split_generators(self, dl_manager):
        manual = self._manual_root(dl_manager)
        cands = [manual] + sorted(d for d in manual.iterdir() if d.is_dir()) if manual.is_dir() else [manual]
        root = next((d for d in cands if (d / "airplane").is_dir()), None)
        if root is None:
            raise self._missing(manual, "the class folders airplane/ ... truck/")
        missing = [c for c in CIFAR10_DVS_CLASS_NAMES if not (root / c).is_dir()]
        if missing:
            raise self._missing(manual, f"class folder(s) {missing}")
        cfg = self.builder_config
        train, test = [], []
        for label, cname in enumerate(CIFAR10_DVS_CLASS_NAMES):
            files = sorted((root / cname).rglob("*.aedat"), key=lambda p: str(p.relative_to(root)))
            if not files:
                raise self._missing(manual, f"*.aedat files in {cname}/")
            if cfg.split_scheme == "tebn":
                files = sorted(files, key=lambda p: natural_key(p.stem))
                n_test = int(np.ceil(len(files) * 0.1))
                te, tr = files[:n_test], files[n_test:]
            else:
                tr, te = ratio_split(files, cfg.train_fraction)
            train += [(f, label) for f in tr]
            test += [(f, label) for f in te]
        return {"train": self._generate_examples(root, train), "test": self._generate_examples(root, test)}

    read_file = staticmethod(read_aedat2)


class NCaltech101(EventFramesBuilder):
    """N-Caltech101: Caltech101 images recorded by a moving ATIS sensor (180x240), as event frames.

    The classes are the folders found in the manual directory, sorted by name
    (101 in the release: 100 objects and BACKGROUND_Google). No official split
    exists: per class, the first ``ceil(0.9 n)`` files by name train, the rest test.

    Example:
        >>> from keras_trt.data import event_frames
        >>> ds = event_frames("n_caltech101", "train", frames=10, size=(48, 48),  # doctest: +SKIP
        ...                   manual_dir="~/raw/N-Caltech101", data_dir="~/tfds")
    """

    name = "n_caltech101"
    SENSOR_SIZE = NCALTECH101_SIZE
    CLASS_NAMES = None  # discovered from the folders
    HOMEPAGE = "https://www.garrickorchard.com/datasets/n-caltech101"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download Caltech101.zip of N-Caltech101 (https://www.garrickorchard.com/datasets/n-caltech101),
    unzip it and pass manual_dir= the folder holding Caltech101/ (or Caltech101/ itself),
    i.e. one folder per class with image_XXXX.bin files.
    """
    BUILDER_CONFIGS = [
        _make_config(10, (180, 240)),
        _make_config(10, (48, 48)),
        _make_config(16, (48, 64)),
    ]

    def _split_generators(self, dl_manager):
        manual = self._manual_root(dl_manager)
        root = manual / "Caltech101" if (manual / "Caltech101").is_dir() else manual
        classes = sorted(d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*.bin"))) if root.is_dir() else []
        if not classes:
            raise self._missing(manual, "class folders with .bin files (Caltech101/<class>/image_XXXX.bin)")
        self.info.features["label"].names = classes
        cfg = self.builder_config
        train, test = [], []
        for label, cname in enumerate(classes):
            files = sorted((root / cname).glob("*.bin"), key=lambda p: p.name)
            tr, te = ratio_split(files, cfg.train_fraction)
            train += [(f, label) for f in tr]
            test += [(f, label) for f in te]
        return {"train": self._generate_examples(root, train), "test": self._generate_examples(root, test)}

    read_file = staticmethod(read_atis_bin)


EVENT_BUILDERS = {"dvs128_gesture": DvsGesture, "cifar10_dvs": Cifar10Dvs, "n_caltech101": NCaltech101}


def event_frames(name: str, split: str = "train", frames: int = 16, size=None, split_by: str = "number",
                 manual_dir=None, data_dir=None, batch_size: int = 32, shuffle=None, seed=None,
                 augment_fn=None, drop_remainder: bool = False, split_scheme: str = "ratio",
                 train_fraction: float = 0.9):
    """An event data set as batched frames: (frames [B, T, H, W, 2] float32, labels [B] int32).

    ``name`` is ``"dvs128_gesture"``, ``"cifar10_dvs"`` or ``"n_caltech101"``.
    The first call builds the tfds data set under ``data_dir`` from the files
    in ``manual_dir`` (see each builder's MANUAL_DOWNLOAD_INSTRUCTIONS); later
    calls only read it (``manual_dir`` may then be None). ``size`` defaults to
    the sensor size; ``shuffle`` defaults to on for train; ``augment_fn(frames[, seed])``
    is applied per sample.

    Example:
        >>> from keras_trt.data import event_frames
        >>> ds = event_frames("dvs128_gesture", "train", frames=16, size=(48, 48),  # doctest: +SKIP
        ...                   manual_dir="~/data/DvsGesture_raw", data_dir="~/tensorflow_datasets")
        >>> x, y = next(iter(ds))  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        TensorShape([32, 16, 48, 48, 2])
    """
    import tensorflow as tf

    from keras_trt.data._tfdata import finish

    if name not in EVENT_BUILDERS:
        raise ValueError(f"unknown event data set {name!r}; choose one of {sorted(EVENT_BUILDERS)}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    cls = EVENT_BUILDERS[name]
    cfg = cls.config(frames, size, split_by, split_scheme, train_fraction)
    builder = cls(config=cfg, data_dir=None if data_dir is None else os.path.expanduser(os.fspath(data_dir)))
    if not builder.is_prepared():
        if manual_dir is None:
            raise FileNotFoundError(
                f"{name} ({cfg.name}) is not built in data_dir={builder.data_dir}; pass manual_dir= the raw "
                f"files to build it once.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            )
        manual = Path(os.path.expanduser(os.fspath(manual_dir)))
        if not manual.is_dir():
            raise FileNotFoundError(f"manual_dir {manual} does not exist.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        if not any(manual.iterdir()):
            raise FileNotFoundError(f"manual_dir {manual} is empty.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    train = split == "train"
    ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=train and shuffle is not False)
    ds = ds.map(lambda x, y: (x, tf.cast(y, tf.int32)))
    return finish(ds, batch_size, train if shuffle is None else shuffle, seed, augment_fn=augment_fn,
                  shuffle_buffer=1000, drop_remainder=drop_remainder)
