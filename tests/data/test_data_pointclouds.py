"""ModelNet40 readers (HDF5 release, OFF meshes), point-cloud augmentation, tf.data pipeline."""

import h5py
import numpy as np
import pytest
import tensorflow as tf

from keras_trt.data import (
    DataFormatError,
    augment_point_cloud,
    jitter,
    load_modelnet40_h5,
    load_modelnet40_off,
    modelnet40,
    normalize_unit_sphere,
    random_rotate_up,
    random_scale,
    random_shift,
    read_off,
    sample_surface,
)

pytestmark = pytest.mark.backend_independent


NAMES = ["airplane", "bathtub", "bed"]


def _write_h5_release(root, rng):
    """Two train files and one test file, laid out as modelnet40_ply_hdf5_2048."""
    root.mkdir(parents=True)
    data = {}
    for split, sizes in (("train", (3, 2)), ("test", (2,))):
        entries = []
        for i, n in enumerate(sizes):
            pts = rng.normal(size=(n, 2048, 3)).astype(np.float32)
            lab = rng.integers(0, 3, (n, 1)).astype(np.uint8)
            fname = f"ply_data_{split}{i}.h5"
            with h5py.File(root / fname, "w") as h5:
                h5.create_dataset("data", data=pts)
                h5.create_dataset("label", data=lab)
                h5.create_dataset("normal", data=np.zeros_like(pts))
            entries.append(f"data/modelnet40_ply_hdf5_2048/{fname}")
            data.setdefault(split, []).append((pts, lab))
        (root / f"{split}_files.txt").write_text("\n".join(entries) + "\n")
    (root / "shape_names.txt").write_text("\n".join(NAMES) + "\n")
    return data


def test_load_modelnet40_h5(tmp_path):
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    data = _write_h5_release(root, np.random.default_rng(0))
    points, labels, names = load_modelnet40_h5(root, "train")
    assert points.shape == (5, 2048, 3) and points.dtype == np.float32
    assert labels.shape == (5,) and labels.dtype == np.int32
    np.testing.assert_array_equal(points, np.concatenate([d[0] for d in data["train"]]))
    np.testing.assert_array_equal(labels, np.concatenate([d[1][:, 0] for d in data["train"]]))
    assert names == NAMES
    (root / "test_files.txt").unlink()  # falls back to ply_data_test*.h5
    points, labels, _ = load_modelnet40_h5(root, "test")
    np.testing.assert_array_equal(points, data["test"][0][0])


def test_load_modelnet40_h5_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*ply_data_train0.h5"):
        load_modelnet40_h5(tmp_path / "missing")
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no ply_data_train"):
        load_modelnet40_h5(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ply_data_train0.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFormatError, match="not a readable HDF5"):
        load_modelnet40_h5(bad)
    with h5py.File(bad / "ply_data_train0.h5", "w") as h5:
        h5.create_dataset("data", data=np.zeros((2, 16, 3), np.float32))
    with pytest.raises(DataFormatError, match=r"lacks dataset\(s\) \['label'\]"):
        load_modelnet40_h5(bad)
    (bad / "train_files.txt").write_text("data/x/ply_data_train9.h5\n")
    with pytest.raises(FileNotFoundError, match="lists"):
        load_modelnet40_h5(bad)
    with pytest.raises(ValueError, match="split"):
        load_modelnet40_h5(bad, "val")


@pytest.mark.parametrize("glued", [False, True])
def test_read_off_cube(tmp_path, fmt, glued):
    path = fmt.write_off(tmp_path / "cube.off", fmt.CUBE_VERTICES, fmt.CUBE_FACES, glued_header=glued)
    vertices, faces = read_off(path)
    assert vertices.shape == (8, 3) and faces.shape == (12, 3)
    np.testing.assert_array_equal(vertices, np.array(fmt.CUBE_VERTICES, float))
    assert faces[:2].tolist() == [[0, 1, 3], [0, 3, 2]]  # fan triangulation of the first quad


def test_read_off_errors(tmp_path, fmt):
    path = fmt.write_off(tmp_path / "cube.off", fmt.CUBE_VERTICES, fmt.CUBE_FACES)
    text = path.read_text().splitlines()
    bad = tmp_path / "bad.off"
    bad.write_text("\n".join(text[:-3]))
    with pytest.raises(DataFormatError, match="truncated OFF"):
        read_off(bad)
    bad.write_text("PLY\n1 2 3\n")
    with pytest.raises(DataFormatError, match="not an OFF file"):
        read_off(bad)
    bad.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(DataFormatError, match="outside"):
        read_off(bad)
    with pytest.raises(FileNotFoundError):
        read_off(tmp_path / "none.off")


def test_sample_surface_is_on_cube_and_uniform(tmp_path, fmt):
    vertices, faces = read_off(fmt.write_off(tmp_path / "c.off", fmt.CUBE_VERTICES, fmt.CUBE_FACES))
    pts = sample_surface(vertices, faces, 6000, seed=0)
    assert pts.shape == (6000, 3) and pts.dtype == np.float32
    np.testing.assert_allclose(np.abs(pts).max(axis=1), 1.0, atol=1e-6)  # on the surface
    assert np.all(np.abs(pts) <= 1 + 1e-6)
    face = np.argmax(np.abs(pts), axis=1) * 2 + (pts[np.arange(6000), np.argmax(np.abs(pts), axis=1)] > 0)
    counts = np.bincount(face, minlength=6)
    assert counts.min() > 850 and counts.max() < 1150  # ~1000 per face
    np.testing.assert_array_equal(sample_surface(vertices, faces, 10, seed=1), sample_surface(vertices, faces, 10, seed=1))
    with pytest.raises(ValueError, match="zero surface"):
        sample_surface(np.zeros((3, 3)), np.array([[0, 1, 2]]), 4)


def test_normalize_unit_sphere():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 100, 3)) * 5 + 3
    q = normalize_unit_sphere(p)
    np.testing.assert_allclose(q.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1).max(axis=1), 1.0)
    ref = (p[1] - p[1].mean(0)) / np.linalg.norm(p[1] - p[1].mean(0), axis=1).max()
    np.testing.assert_allclose(q[1], ref)
    with pytest.raises(ValueError, match=r"\[..., P, 3\]"):
        normalize_unit_sphere(np.zeros((5, 2)))


def test_load_modelnet40_off_tree(tmp_path, fmt):
    base = tmp_path / "ModelNet40"
    for cname, count in (("cube", 2), ("box", 1)):
        for split in ("train", "test"):
            d = base / cname / split
            d.mkdir(parents=True)
            for i in range(count):
                fmt.write_off(d / f"{cname}_{i + 1:04d}.off", fmt.CUBE_VERTICES, fmt.CUBE_FACES)
    points, labels, names = load_modelnet40_off(tmp_path, "train", num_points=64, seed=0)
    assert names == ["box", "cube"] and labels.tolist() == [0, 1, 1]
    assert points.shape == (3, 64, 3) and points.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(points, axis=-1).max(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="no <class>/train/"):
        load_modelnet40_off(tmp_path / "ModelNet40" / "cube")


def test_augmentations_bounds_and_invariants():
    pts = tf.random.stateless_normal([2, 512, 3], seed=[0, 1])
    ones = tf.ones([2, 512, 3])
    s = random_scale(ones, seed=[1, 2]).numpy()
    assert np.all((s >= 0.8) & (s < 1.25))
    np.testing.assert_array_equal(s, np.broadcast_to(s[:, :1], s.shape))  # one factor per cloud and axis
    assert not np.allclose(s[0, 0], s[1, 0])
    d = random_shift(tf.zeros([2, 512, 3]), 0.1, seed=[3, 4]).numpy()
    assert np.all(np.abs(d) <= 0.1)
    np.testing.assert_array_equal(d, np.broadcast_to(d[:, :1], d.shape))
    j = jitter(tf.zeros([20000, 3]), 0.01, 0.05, seed=[5, 6]).numpy()
    assert np.abs(j).max() <= 0.05 and 0.009 < j.std() < 0.011
    assert np.abs(jitter(tf.zeros([1000, 3]), 1.0, 0.05, seed=[5, 6]).numpy()).max() == pytest.approx(0.05)
    for up in (0, 1, 2):
        r = random_rotate_up(pts, up_axis=up, seed=[7, 8]).numpy()
        np.testing.assert_allclose(np.linalg.norm(r, axis=-1), np.linalg.norm(pts, axis=-1), rtol=1e-5)
        np.testing.assert_array_equal(r[..., up], pts.numpy()[..., up])
        assert not np.allclose(r, pts.numpy())
    with pytest.raises(ValueError, match="up_axis"):
        random_rotate_up(pts, up_axis=3)
    a = augment_point_cloud(pts[0], seed=[9, 9], rotate=True).numpy()
    np.testing.assert_array_equal(a, augment_point_cloud(pts[0], seed=[9, 9], rotate=True).numpy())
    assert a.shape == (512, 3)


def test_modelnet40_pipeline_h5(tmp_path):
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    data = _write_h5_release(root, np.random.default_rng(1))
    ds = modelnet40(root, "test", num_points=1024, batch_size=2)
    (x, y), = list(ds)
    assert x.shape == (2, 1024, 3) and x.dtype == tf.float32 and y.dtype == tf.int32
    np.testing.assert_array_equal(x.numpy(), data["test"][0][0][:, :1024])  # eval: first points, in order
    np.testing.assert_array_equal(y.numpy(), data["test"][0][1][:, 0])
    train = modelnet40(root, "train", num_points=256, batch_size=4, seed=0)
    batches = [b for b in train]
    assert [int(b[0].shape[0]) for b in batches] == [4, 1]
    again = [b for b in modelnet40(root, "train", num_points=256, batch_size=4, seed=0)]
    np.testing.assert_array_equal(batches[0][0].numpy(), again[0][0].numpy())  # seeded: reproducible
    src = np.concatenate([d[0] for d in data["train"]])[:, :256]
    assert not any(np.allclose(batches[0][0].numpy()[0], s) for s in src)  # augmented
    with pytest.raises(ValueError, match="num_points"):
        modelnet40(root, "test", num_points=4096)
    with pytest.raises(FileNotFoundError, match="ModelNet40 root"):
        modelnet40(tmp_path / "nothing")
