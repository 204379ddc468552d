"""Image augmentations on tensors, from_arrays, and the tfds CIFAR / ImageNet pipelines
read from tiny real tfds data sets built on disk here (no download)."""

import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_trt.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    cifar,
    cifar_augment,
    from_arrays,
    imagenet,
    normalize,
    pad_and_random_crop,
    random_flip,
    random_resized_crop,
    resize_center_crop,
)
from keras_trt.data.images import decode_random_resized_crop

pytestmark = pytest.mark.backend_independent


# ----------------------------------------------------------------------------- ops


def _image(h=32, w=32, c=3, seed=0):
    return np.random.default_rng(seed).integers(1, 256, (h, w, c)).astype(np.uint8)


def test_pad_and_random_crop_is_a_window_of_the_padded_image():
    img = _image()
    padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
    offsets = set()
    for s in range(40):
        out = pad_and_random_crop(img, 4, seed=[s, 7]).numpy()
        assert out.shape == img.shape and out.dtype == np.uint8
        hits = [(i, j) for i in range(9) for j in range(9) if np.array_equal(out, padded[i:i + 32, j:j + 32])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 15  # offsets vary over the 9x9 range


def test_random_flip_is_identity_or_mirror():
    img = _image(8, 10)
    seen = set()
    for s in range(30):
        out = random_flip(img, seed=[s, 1]).numpy()
        if np.array_equal(out, img):
            seen.add("same")
        elif np.array_equal(out, img[:, ::-1]):
            seen.add("flip")
        else:
            pytest.fail("random_flip returned something else than the image or its mirror")
    assert seen == {"same", "flip"}


def test_cifar_augment_deterministic_with_seed():
    img = _image()
    a = cifar_augment(img, seed=[3, 4]).numpy()
    np.testing.assert_array_equal(a, cifar_augment(img, seed=[3, 4]).numpy())
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8


def test_normalize_matches_numpy():
    img = _image()
    ref = (img / 255.0 - np.array(CIFAR10_MEAN)) / np.array(CIFAR10_STD)
    np.testing.assert_allclose(normalize(img, CIFAR10_MEAN, CIFAR10_STD).numpy(), ref, rtol=1e-5, atol=1e-5)
    f = img.astype(np.float32) / 255.0
    np.testing.assert_allclose(normalize(f, CIFAR10_MEAN, CIFAR10_STD).numpy(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        normalize(_image(c=1), CIFAR10_MEAN, CIFAR10_STD)


def test_resize_center_crop_and_random_resized_crop():
    img = _image(256, 320)
    out = resize_center_crop(img, 256, 224).numpy()
    np.testing.assert_allclose(out, img[16:240, 48:272] / 255.0, atol=1e-6)  # no resize needed here
    small = resize_center_crop(_image(100, 50), 256, 224)
    assert small.shape == (224, 224, 3)
    full = random_resized_crop(img, 64, scale=(1.0, 1.0), ratio=(320 / 256, 320 / 256), seed=[1, 2]).numpy()
    np.testing.assert_allclose(full, tf.image.resize(img / 255.0, [64, 64]).numpy(), atol=1e-5)
    a = random_resized_crop(img, 224, seed=[5, 6]).numpy()
    assert a.shape == (224, 224, 3) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, random_resized_crop(img, 224, seed=[5, 6]).numpy())


def test_decode_random_resized_crop_matches_decoded_path(fmt):
    data = fmt.jpeg_bytes(0, size=(120, 90))
    for s in range(3):
        a = decode_random_resized_crop(tf.constant(data), 32, seed=[s, 1]).numpy()
        b = random_resized_crop(tf.image.decode_jpeg(data, channels=3), 32, seed=[s, 1]).numpy()
        np.testing.assert_allclose(a, b, atol=2 / 255)


# ----------------------------------------------------------------------------- from_arrays


def test_from_arrays_batches_shuffles_and_augments():
    x = np.arange(10, dtype=np.float64).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 3))
    y = np.arange(10)
    ds = from_arrays(x, y, batch_size=4)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int32
    assert np.concatenate([b[1] for b in batches]).tolist() == list(range(10))
    order = lambda d: np.concatenate([b[1].numpy() for b in d]).tolist()  # noqa: E731
    s1 = from_arrays(x, y, 3, shuffle=True, seed=0)
    e1, e2 = order(s1), order(s1)
    assert sorted(e1) == list(range(10)) and e1 != list(range(10))
    assert e1 == order(from_arrays(x, y, 3, shuffle=True, seed=0))  # reproducible
    assert e1 != e2  # reshuffled each epoch
    for xb, yb in from_arrays(x, y, 5, augment_fn=lambda im: im * 2):
        np.testing.assert_array_equal(xb.numpy()[:, 0, 0, 0], yb.numpy() * 2)
    seeded = from_arrays(x, y, 10, augment_fn=lambda im, seed: im + tf.cast(seed[0] % 2, tf.float32), seed=1)
    (xb, _), = list(seeded)
    assert xb.shape == (10, 2, 2, 3)
    with pytest.raises(ValueError, match="same first dimension"):
        from_arrays(x, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        from_arrays(x, y, batch_size=0)


# ----------------------------------------------------------------------------- tfds CIFAR

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A real tfds cifar10 data set on disk: tfds's own Cifar10 builder run on tiny files in
    the CIFAR-10 binary format (label byte + 3072 pixel bytes, channel-major)."""
    from tensorflow_datasets.image_classification import cifar as tfds_cifar

    tmp = tmp_path_factory.mktemp("cifar")
    src = tmp / "src" / "cifar-10-batches-bin"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {}
    for fname, n in [(f"data_batch_{i}.bin", 2) for i in range(1, 6)] + [("test_batch.bin", 3)]:
        labels = rng.integers(0, 10, n).astype(np.uint8)
        chw = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
        np.concatenate([labels[:, None], chw.reshape(n, -1)], 1).tofile(src / fname)
        split = "test" if fname.startswith("test") else "train"
        images.setdefault(split, []).extend(zip(chw.transpose(0, 2, 3, 1), labels))
    (src / "batches.meta.txt").write_text("\n".join(CIFAR_NAMES) + "\n")

    class LocalCifar10(tfds_cifar.Cifar10, skip_registration=True):
        name = "cifar10"

        def _split_generators(self, dl_manager):
            class FilesAlreadyHere:
                def download_and_extract(self, url):
                    return str(tmp / "src")

            return super()._split_generators(FilesAlreadyHere())

    data_dir = tmp / "tfds"
    LocalCifar10(data_dir=str(data_dir)).download_and_prepare()
    return data_dir, images


def _match(img_float, originals, mean, std):
    pix = np.round((img_float * np.array(std) + np.array(mean)) * 255).astype(int)
    return [i for i, (o, _) in enumerate(originals) if np.array_equal(pix, o.astype(int))]


def test_cifar_eval_pipeline_reads_the_tfds_data(cifar_dir):
    data_dir, images = cifar_dir
    (x, y), = list(cifar("cifar10", "test", batch_size=8, data_dir=data_dir))
    assert x.shape == (3, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
    found = []
    for img, label in zip(x.numpy(), y.numpy()):
        idx = _match(img, images["test"], CIFAR10_MEAN, CIFAR10_STD)
        assert len(idx) == 1 and images["test"][idx[0]][1] == label
        found.append(idx[0])
    assert sorted(found) == [0, 1, 2]


def test_cifar_train_pipeline_augments(cifar_dir):
    data_dir, images = cifar_dir
    ds = cifar("cifar10", "train", batch_size=4, data_dir=data_dir, seed=0, drop_remainder=True)
    batches = list(ds)
    assert len(batches) == 2 and batches[0][0].shape == (4, 32, 32, 3)
    raw = [o for o, _ in images["train"]]
    x = batches[0][0].numpy()
    pix = np.round((x * np.array(CIFAR10_STD) + np.array(CIFAR10_MEAN)) * 255).astype(int)
    exact = sum(any(np.array_equal(p, r) for r in raw) for p in pix)
    assert exact < 4  # at least one image was cropped/flipped
    again = list(cifar("cifar10", "train", batch_size=4, data_dir=data_dir, seed=0, drop_remainder=True))
    np.testing.assert_array_equal(batches[0][0].numpy(), again[0][0].numpy())


def test_cifar_not_prepared_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        cifar("cifar100", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="cifar10"):
        cifar("cifar5", data_dir=tmp_path)


# ----------------------------------------------------------------------------- tfds ImageNet

SYNSETS = ["n01440764", "n01443537"]  # label ids 0 and 1 in tfds' imagenet2012 label file


@pytest.fixture(scope="module")
def imagenet_manual(tmp_path_factory, fmt):
    """ILSVRC2012_img_train.tar (a tar of per-synset tars of JPEGs) and ILSVRC2012_img_val.tar."""
    jpeg_bytes, tar_add = fmt.jpeg_bytes, fmt.tar_add

    man = tmp_path_factory.mktemp("ilsvrc")
    with tarfile.open(man / "ILSVRC2012_img_train.tar", "w") as tr:
        for syn in SYNSETS:
            inner_path = man / f"{syn}.tar"
            with tarfile.open(inner_path, "w") as inner:
                for k in range(2):
                    tar_add(inner, f"{syn}_{k}.JPEG", jpeg_bytes(k, (60, 80)))
            tar_add(tr, f"{syn}.tar", inner_path.read_bytes())
            inner_path.unlink()
    with tarfile.open(man / "ILSVRC2012_img_val.tar", "w") as va:
        for k in range(1, 4):
            tar_add(va, f"ILSVRC2012_val_{k:08d}.JPEG", jpeg_bytes(10 + k, (70, 50)))
    return man


def test_imagenet_pipelines_from_manual_dir(tmp_path, imagenet_manual):
    data_dir = tmp_path / "tfds"
    with pytest.raises(FileNotFoundError, match="manual_dir"):
        imagenet("validation", 2, data_dir=data_dir)
    val = list(imagenet("validation", 2, data_dir=data_dir, manual_dir=imagenet_manual))
    x = np.concatenate([b[0].numpy() for b in val])
    y = np.concatenate([b[1].numpy() for b in val])
    assert x.shape == (3, 224, 224, 3) and val[0][1].dtype == tf.int32
    # validation labels come from tfds' validation_labels.txt (first three: n01751748, n09193705, n02105855)
    names = tfds.builder("imagenet2012", data_dir=str(data_dir)).info.features["label"].names
    assert sorted(names[i] for i in y) == sorted(["n01751748", "n09193705", "n02105855"])
    lo = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    hi = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.all(x >= lo - 1e-4) and np.all(x <= hi + 1e-4)
    train = list(imagenet("train", 4, data_dir=data_dir, seed=0))  # already prepared: no manual_dir
    assert train[0][0].shape == (4, 224, 224, 3)
    assert sorted(train[0][1].numpy().tolist()) == [0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imagenet("validation", data_dir=tmp_path / "other", manual_dir=tmp_path / "no_such_dir")
    assert os.path.isdir(data_dir / "imagenet2012")
