"""Loaders of the small data sets shipped inside PyPI wheels (no network)."""

import numpy as np
import pytest

from keras_trt.data import (
    images_to_points,
    load_basic_motions,
    load_digits,
    load_mnist5k,
    load_mnist_points,
    normalize_unit_sphere,
)

pytestmark = pytest.mark.backend_independent


def _rows_sorted(a):
    a = a.reshape(len(a), -1)
    return a[np.lexsort(a.T[::-1])]


def test_load_digits_split_is_stratified_complete_and_deterministic():
    from sklearn.datasets import load_digits as sk_digits

    (xtr, ytr), (xte, yte) = load_digits(split_seed=0, test_fraction=0.2)
    assert xtr.shape[1:] == (8, 8, 1) and xtr.dtype == np.float32 and ytr.dtype == np.int32
    assert len(xtr) + len(xte) == 1797
    assert 0.0 == min(xtr.min(), xte.min()) and max(xtr.max(), xte.max()) == 1.0
    ref = sk_digits()
    counts = np.bincount(ref.target)
    np.testing.assert_array_equal(np.bincount(yte), np.round(counts * 0.2).astype(int))  # per-class share
    # the two parts are exactly the source (as a multiset of (image, label) rows)
    ours = np.concatenate([np.concatenate([xtr, xte]).reshape(1797, -1) * 16, np.concatenate([ytr, yte])[:, None]], 1)
    src = np.concatenate([ref.images.reshape(1797, -1), ref.target[:, None]], 1)
    np.testing.assert_array_equal(_rows_sorted(ours), _rows_sorted(src))
    (xtr2, _), _ = load_digits(split_seed=0)
    np.testing.assert_array_equal(xtr, xtr2)
    (xtr3, _), _ = load_digits(split_seed=1)
    assert not np.array_equal(xtr, xtr3)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)


def test_load_mnist5k():
    (xtr, ytr), (xte, yte) = load_mnist5k(test_fraction=0.2)
    assert xtr.shape == (4000, 28, 28, 1) and xte.shape == (1000, 28, 28, 1)
    assert xtr.dtype == np.float32 and 0.0 <= xtr.min() and xtr.max() == 1.0
    assert np.bincount(yte).tolist() == [100] * 10
    assert len(set(ytr[:20].tolist())) > 1  # not class-sorted
    # pixel values are k/255
    np.testing.assert_allclose(xte * 255, np.round(xte * 255), atol=1e-4)


def test_images_to_points_uses_lit_pixels():
    img = np.zeros((2, 5, 6), np.float32)
    lit = [(0, 0), (1, 4), (4, 5), (2, 2)]
    for r, c in lit:
        img[0, r, c] = 1.0
    img[1, 3, 1] = 0.3  # nothing above the threshold: falls back to the non-zero pixels
    pts = images_to_points(img, num_points=4, threshold=0.5, seed=0)
    assert pts.shape == (2, 4, 3) and pts.dtype == np.float32
    ref = normalize_unit_sphere(np.array([[c, -r, 0] for r, c in lit], np.float32))
    np.testing.assert_allclose(_rows_sorted(pts[0]), _rows_sorted(ref), atol=1e-6)  # all 4, once each
    np.testing.assert_allclose(pts[1], 0.0)  # one pixel repeated: centred single point
    many = images_to_points(img[:1], num_points=50, seed=1)[0]  # with replacement
    distinct = np.unique(np.round(many, 5), axis=0)
    assert len(distinct) == 4  # only the lit pixels (up to the cloud's own centring/scaling)
    np.testing.assert_allclose(_rows_sorted(normalize_unit_sphere(distinct)), _rows_sorted(ref), atol=1e-4)
    with pytest.raises(ValueError, match="no lit pixel"):
        images_to_points(np.zeros((1, 4, 4)))


def test_load_mnist_points():
    (ptr, ytr), (pte, yte) = load_mnist_points(num_points=64)
    assert ptr.shape == (4000, 64, 3) and pte.shape == (1000, 64, 3) and ptr.dtype == np.float32
    np.testing.assert_array_equal(ptr[..., 2], 0.0)
    np.testing.assert_allclose(np.linalg.norm(ptr, axis=-1).max(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ptr.mean(axis=1), 0.0, atol=1e-5)
    _, (_, yte5k) = load_mnist5k()
    np.testing.assert_array_equal(yte, yte5k)  # same split as load_mnist5k


def test_load_basic_motions():
    from sktime.datasets import load_basic_motions as sk_bm

    (xtr, ytr), (xte, yte), names = load_basic_motions()
    assert names == ["badminton", "running", "standing", "walking"]
    assert xtr.shape == (40, 100, 6) and xte.shape == (40, 100, 6) and xtr.dtype == np.float32
    assert ytr.dtype == np.int32 and np.bincount(ytr).tolist() == [10] * 4
    np.testing.assert_allclose(xtr.mean(axis=(0, 1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(xtr.std(axis=(0, 1)), 1.0, rtol=1e-4)
    raw_tr, lab_tr = sk_bm(split="train", return_X_y=True, return_type="numpy3D")
    raw_te, lab_te = sk_bm(split="test", return_X_y=True, return_type="numpy3D")
    mean = raw_tr.mean(axis=(0, 2))
    std = raw_tr.std(axis=(0, 2))
    np.testing.assert_allclose(xte, ((raw_te - mean[:, None]) / std[:, None]).transpose(0, 2, 1), rtol=1e-4, atol=1e-5)
    assert [names[i] for i in yte] == list(lab_te)
