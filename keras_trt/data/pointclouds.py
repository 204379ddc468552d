"""ModelNet40 point clouds: HDF5 and OFF readers, surface sampling, augmentation, tf.data.

Two on-disk releases are read (nothing is downloaded):

* the HDF5 release ``modelnet40_ply_hdf5_2048``: ``ply_data_train{0..4}.h5`` /
  ``ply_data_test{0,1}.h5`` with datasets ``data`` [N, 2048, 3] float32 and
  ``label`` [N, 1], listed by ``train_files.txt`` / ``test_files.txt``, class
  names in ``shape_names.txt``; its clouds are y-up and already in the unit sphere.
* the mesh release ``ModelNet40/<class>/{train,test}/<name>.off``: meshes are
  parsed (:func:`read_off`), sampled uniformly on the surface
  (:func:`sample_surface`) and normalised (:func:`normalize_unit_sphere`).

Augmentations work on tensors [P, 3] or [B, P, 3] inside tf.data.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from keras_trt.data._common import DataFormatError, natural_key, require_dir, require_file

MODELNET40_FIX = (
    "Point root at the unpacked HDF5 release (the folder holding ply_data_train0.h5 and "
    "train_files.txt, e.g. modelnet40_ply_hdf5_2048/) or at the mesh release (the folder "
    "holding ModelNet40/<class>/train/*.off)."
)


# ----------------------------------------------------------------------------- numpy


def normalize_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre each cloud on its centroid and scale it so the farthest point has norm 1.

    Works on [P, 3] or batched [..., P, 3] arrays; a cloud whose points all
    coincide is only centred. Float inputs keep their dtype, others become float32.

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import normalize_unit_sphere
        >>> normalize_unit_sphere(np.array([[0., 0, 0], [2, 0, 0]])).tolist()
        [[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    points = np.asarray(points)
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ValueError(
            f"expected points shaped [..., P, 3], got {points.shape}; stack x, y, z on the last axis."
        )
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float32
    p = points.astype(np.float64)
    centred = p - p.mean(axis=-2, keepdims=True)
    radius = np.linalg.norm(centred, axis=-1).max(axis=-1)[..., None, None]
    radius = np.where(radius > 0, radius, 1.0)
    return (centred / radius).astype(dtype)


def read_off(path):
    """Parse an OFF mesh into ``(vertices [V, 3] float64, faces [F, 3] int64)``.

    Polygons with more than 3 corners are fan-triangulated. Comments (``#``)
    and the ModelNet quirk of a first line glued to the counts (``OFF490 518 0``)
    are handled. Raises ``FileNotFoundError`` for a missing file and
    :class:`DataFormatError` for a bad header, truncated lists or bad indices.

    Example:
        >>> from keras_trt.data import read_off
        >>> vertices, faces = read_off("ModelNet40/chair/train/chair_0001.off")  # doctest: +SKIP
        >>> vertices.shape[1], faces.shape[1]  # doctest: +SKIP
        (3, 3)
    """
    path = require_file(path, "OFF mesh", "Pass the path of a .off file.")
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not a text OFF file ({err}).") from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    if not lines or not lines[0].startswith("OFF"):
        first = lines[0][:40] if lines else "<empty>"
        raise DataFormatError(f"{path}: not an OFF file (first line {first!r}, expected 'OFF').")
    rest = lines[0][3:].split()
    pos = 1
    if not rest:
        if len(lines) < 2:
            raise DataFormatError(f"{path}: OFF header has no vertex/face counts.")
        rest = lines[1].split()
        pos = 2
    try:
        nv, nf = int(rest[0]), int(rest[1])
    except (IndexError, ValueError):
        raise DataFormatError(f"{path}: bad OFF counts line {' '.join(rest)!r}.") from None
    if nv < 0 or nf < 0 or len(lines) < pos + nv + nf:
        raise DataFormatError(
            f"{path}: truncated OFF file: header promises {nv} vertices and {nf} faces, "
            f"the file has {len(lines) - pos} data lines."
        )
    try:
        vrows = [ln.split()[:3] for ln in lines[pos : pos + nv]]
        vertices = np.array(vrows, dtype=np.float64).reshape(nv, 3)
    except ValueError:
        raise DataFormatError(f"{path}: a vertex line does not hold 3 numbers.") from None
    tris = []
    for ln in lines[pos + nv : pos + nv + nf]:
        vals = ln.split()
        try:
            k = int(vals[0])
            idx = [int(v) for v in vals[1 : 1 + k]]
        except ValueError:
            raise DataFormatError(f"{path}: bad face line {ln[:60]!r}.") from None
        if k < 3 or len(idx) != k:
            raise DataFormatError(f"{path}: face line {ln[:60]!r} has fewer corners than it declares (or < 3).")
        for j in range(1, k - 1):
            tris.append((idx[0], idx[j], idx[j + 1]))
    faces = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= nv):
        raise DataFormatError(f"{path}: a face refers to a vertex outside 0..{nv - 1}.")
    return vertices, faces


def sample_surface(vertices: np.ndarray, faces: np.ndarray, num_points: int, seed=None) -> np.ndarray:
    """Sample ``num_points`` points uniformly on a triangle mesh's surface -> [P, 3] float32.

    A triangle is picked with probability proportional to its area, then a
    point uniformly inside it (``(1-sqrt(r1)) a + sqrt(r1)(1-r2) b + sqrt(r1) r2 c``).

    Example:
        >>> import numpy as np
        >>> from keras_trt.data import sample_surface
        >>> v = np.array([[0., 0, 0], [1, 0, 0], [0, 1, 0]]); f = np.array([[0, 1, 2]])
        >>> sample_surface(v, f, 5, seed=0).shape
        (5, 3)
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be [V, 3], got {vertices.shape}.")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise ValueError(f"faces must be a non-empty [F, 3] array of triangles, got {faces.shape}.")
    if int(num_points) < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}.")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the mesh has zero surface area; cannot sample points on it.")
    rng = np.random.default_rng(seed)
    tri = rng.choice(faces.shape[0], size=int(num_points), p=areas / total)
    r1 = np.sqrt(rng.random((int(num_points), 1)))
    r2 = rng.random((int(num_points), 1))
    pts = (1 - r1) * a[tri] + r1 * (1 - r2) * b[tri] + r1 * r2 * c[tri]
    return pts.astype(np.float32)


def _read_lines(path: Path):
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")


def load_modelnet40_h5(root, split: str = "train"):
    """Read the ModelNet40 HDF5 release: ``(points [N, 2048, 3] float32, labels [N] int32, class_names)``.

    Files are taken from ``{split}_files.txt`` (entries are resolved relative
    to ``root``, then by base name inside ``root``), or, without it, every
    ``ply_data_{split}*.h5`` in ``root``. ``class_names`` comes from
    ``shape_names.txt`` (None when that file is absent).

    Example:
        >>> from keras_trt.data import load_modelnet40_h5
        >>> points, labels, names = load_modelnet40_h5("modelnet40_ply_hdf5_2048", "test")  # doctest: +SKIP
        >>> points.shape, len(names)  # doctest: +SKIP
        ((2468, 2048, 3), 40)
    """
    import h5py

    _check_split(split)
    root = require_dir(root, "ModelNet40 HDF5 root", MODELNET40_FIX)
    list_file = root / f"{split}_files.txt"
    if list_file.is_file():
        files = []
        for entry in _read_lines(list_file):
            cand = [root / entry, root / Path(entry).name, root.parent / entry]
            found = next((c for c in cand if c.is_file()), None)
            if found is None:
                raise FileNotFoundError(
                    f"{list_file} lists {entry!r} but no such file is in {root}. {MODELNET40_FIX}"
                )
            files.append(found)
    else:
        files = sorted(root.glob(f"ply_data_{split}*.h5"), key=lambda p: natural_key(p.name))
    if not files:
        raise FileNotFoundError(f"no ply_data_{split}*.h5 file (nor {split}_files.txt) in {root}. {MODELNET40_FIX}")
    points, labels = [], []
    for f in files:
        try:
            h5 = h5py.File(f, "r")
        except OSError as err:
            raise DataFormatError(f"{f}: not a readable HDF5 file ({err}).") from None
        with h5:
            missing = [k for k in ("data", "label") if k not in h5]
            if missing:
                raise DataFormatError(
                    f"{f}: HDF5 file lacks dataset(s) {missing} (has {sorted(h5.keys())}); "
                    "expected the ModelNet40 release with 'data' [N, P, 3] and 'label' [N, 1]."
                )
            data = np.asarray(h5["data"][...], np.float32)
            label = np.asarray(h5["label"][...]).reshape(-1).astype(np.int32)
        if data.ndim != 3 or data.shape[-1] != 3:
            raise DataFormatError(f"{f}: 'data' has shape {data.shape}, expected [N, P, 3].")
        if label.shape[0] != data.shape[0]:
            raise DataFormatError(f"{f}: {data.shape[0]} clouds but {label.shape[0]} labels.")
        points.append(data)
        labels.append(label)
    names_file = root / "shape_names.txt"
    class_names = _read_lines(names_file) if names_file.is_file() else None
    return np.concatenate(points), np.concatenate(labels), class_names


def _modelnet_mesh_root(root) -> Path:
    root = require_dir(root, "ModelNet40 mesh root", MODELNET40_FIX)
    return root / "ModelNet40" if (root / "ModelNet40").is_dir() else root


def load_modelnet40_off(root, split: str = "train", num_points: int = 1024, seed: int = 0, normalize: bool = True):
    """Read ModelNet40 ``.off`` meshes and sample point clouds from them.

    Classes are the sub-folders of ``root`` (or ``root/ModelNet40``) that hold
    a ``split`` folder, sorted by name; meshes are taken in natural name
    order. Each mesh is sampled with :func:`sample_surface` (seeded by
    ``(seed, index)``) and, if ``normalize``, scaled into the unit sphere.
    Parsing all 12,311 meshes takes minutes: cache the result (e.g. ``np.savez``).

    Returns:
        ``(points [N, num_points, 3] float32, labels [N] int32, class_names)``.

    Example:
        >>> from keras_trt.data import load_modelnet40_off
        >>> points, labels, names = load_modelnet40_off("ModelNet40", "test", 1024)  # doctest: +SKIP
    """
    _check_split(split)
    base = _modelnet_mesh_root(root)
    class_names = sorted(d.name for d in base.iterdir() if (d / split).is_dir())
    if not class_names:
        raise FileNotFoundError(f"no <class>/{split}/ folder under {base}. {MODELNET40_FIX}")
    points, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted((base / name / split).glob("*.off"), key=lambda p: natural_key(p.name))
        for f in files:
            vertices, faces = read_off(f)
            try:
                pts = sample_surface(vertices, faces, num_points, seed=[int(seed), len(points)])
            except ValueError as err:
                raise DataFormatError(f"{f}: {err}") from None
            points.append(normalize_unit_sphere(pts) if normalize else pts)
            labels.append(label)
    if not points:
        raise FileNotFoundError(f"no .off file under {base}/<class>/{split}/. {MODELNET40_FIX}")
    return np.stack(points), np.array(labels, np.int32), class_names


# ----------------------------------------------------------------------------- tf


def _noise_shape(points, last):
    import tensorflow as tf

    return tf.concat([tf.shape(points)[:-2], [1, last]], axis=0)


def _per_cloud_uniform(points, low, high, seed):
    """One draw per cloud and coordinate in [low, high), broadcastable over the cloud's points."""
    import tensorflow as tf

    from keras_trt.data._tfdata import op_seed

    return tf.random.stateless_uniform(_noise_shape(points, 3), op_seed(seed), minval=low, maxval=high)


def random_scale(points, low: float = 0.8, high: float = 1.25, seed=None):
    """Multiply x, y, z by independent factors drawn in [low, high) (one set per cloud).

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import random_scale
        >>> random_scale(tf.ones([16, 3]), seed=[1, 2]).shape
        TensorShape([16, 3])
    """
    import tensorflow as tf

    points = tf.convert_to_tensor(points, tf.float32)
    return points * _per_cloud_uniform(points, low, high, seed)


def random_shift(points, max_shift: float = 0.1, seed=None):
    """Add one offset per cloud, each coordinate drawn in [-max_shift, max_shift).

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import random_shift
        >>> random_shift(tf.zeros([8, 3]), 0.1, seed=[0, 1]).shape
        TensorShape([8, 3])
    """
    import tensorflow as tf

    points = tf.convert_to_tensor(points, tf.float32)
    return points + _per_cloud_uniform(points, -max_shift, max_shift, seed)


def jitter(points, sigma: float = 0.01, clip: float = 0.05, seed=None):
    """Add per-point Gaussian noise N(0, sigma^2), clipped to [-clip, clip].

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import jitter
        >>> jitter(tf.zeros([8, 3]), seed=[0, 1]).shape
        TensorShape([8, 3])
    """
    import tensorflow as tf

    from keras_trt.data._tfdata import op_seed

    points = tf.convert_to_tensor(points, tf.float32)
    noise = tf.random.stateless_normal(tf.shape(points), op_seed(seed), stddev=sigma)
    return points + tf.clip_by_value(noise, -clip, clip)


def random_rotate_up(points, up_axis: int = 1, seed=None):
    """Rotate each cloud by a random angle in [0, 2*pi) about the ``up_axis`` (0=x, 1=y, 2=z).

    The HDF5 ModelNet40 release is y-up (``up_axis=1``, PointNet's convention).

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import random_rotate_up
        >>> random_rotate_up(tf.ones([8, 3]), seed=[0, 1]).shape
        TensorShape([8, 3])
    """
    import tensorflow as tf

    from keras_trt.data._tfdata import op_seed

    if up_axis not in (0, 1, 2):
        raise ValueError(f"up_axis must be 0 (x), 1 (y) or 2 (z), got {up_axis}.")
    points = tf.convert_to_tensor(points, tf.float32)
    angle = tf.random.stateless_uniform(tf.shape(points)[:-2], op_seed(seed), maxval=2 * math.pi)
    c, s = tf.cos(angle), tf.sin(angle)
    i, j = (up_axis + 1) % 3, (up_axis + 2) % 3  # rotate the (i, j) plane
    comps = tf.unstack(points, axis=-1)
    new = list(comps)
    c_, s_ = c[..., None], s[..., None]
    new[i] = c_ * comps[i] - s_ * comps[j]
    new[j] = s_ * comps[i] + c_ * comps[j]
    return tf.stack(new, axis=-1)


def augment_point_cloud(points, seed=None, scale=(0.8, 1.25), shift: float = 0.1, jitter_sigma: float = 0.01,
                        jitter_clip: float = 0.05, rotate: bool = False, up_axis: int = 1):
    """The standard training augmentation: [rotate about up] -> anisotropic scale -> shift -> jitter.

    Example:
        >>> import tensorflow as tf
        >>> from keras_trt.data import augment_point_cloud
        >>> augment_point_cloud(tf.zeros([1024, 3]), seed=[3, 4]).shape
        TensorShape([1024, 3])
    """
    import tensorflow as tf

    from keras_trt.data._tfdata import split_seed

    s_rot, s_scale, s_shift, s_jit = split_seed(seed, 4)
    if rotate:
        points = random_rotate_up(points, up_axis, s_rot)
    points = random_scale(points, scale[0], scale[1], s_scale)
    points = random_shift(points, shift, s_shift)
    return jitter(points, jitter_sigma, jitter_clip, s_jit) if jitter_sigma > 0 else tf.identity(points)


def modelnet40(root, split: str = "train", num_points: int = 1024, batch_size: int = 32, augment=None,
               shuffle=None, seed=None, rotate: bool = False, up_axis: int = 1, drop_remainder: bool = False,
               source: str = "auto", shuffle_buffer: int = 10_000):
    """ModelNet40 as a tf.data pipeline of (points [B, num_points, 3] float32, labels [B] int32).

    ``source`` is ``"h5"`` (the HDF5 release; the first ``num_points`` of its
    2,048 points are kept, as PointNet/PointNet++ do), ``"off"`` (meshes,
    sampled with :func:`load_modelnet40_off`) or ``"auto"`` (h5 if ``root``
    holds ``ply_data_*.h5`` files). ``augment`` (default: on for train) applies
    :func:`augment_point_cloud` (scale [0.8, 1.25], shift 0.1, jitter 0.01/0.05,
    plus a rotation about ``up_axis`` if ``rotate``); ``shuffle`` defaults to
    on for train. With an int ``seed`` the order and augmentation are reproducible.

    Example:
        >>> from keras_trt.data import modelnet40
        >>> ds = modelnet40("modelnet40_ply_hdf5_2048", "train", num_points=1024, batch_size=32)  # doctest: +SKIP
        >>> points, labels = next(iter(ds))  # doctest: +SKIP
        >>> points.shape  # doctest: +SKIP
        TensorShape([32, 1024, 3])
    """
    import tensorflow as tf

    from keras_trt.data._tfdata import finish

    _check_split(split)
    root_path = require_dir(root, "ModelNet40 root", MODELNET40_FIX)
    if source == "auto":
        source = "h5" if any(root_path.glob("ply_data_*.h5")) or (root_path / f"{split}_files.txt").is_file() else "off"
    if source == "h5":
        points, labels, _ = load_modelnet40_h5(root_path, split)
        if num_points > points.shape[1]:
            raise ValueError(
                f"num_points={num_points} but the HDF5 clouds hold {points.shape[1]} points; "
                f"pass num_points <= {points.shape[1]}."
            )
        points = np.ascontiguousarray(points[:, :num_points])
    elif source == "off":
        points, labels, _ = load_modelnet40_off(root_path, split, num_points=num_points, seed=seed or 0)
    else:
        raise ValueError(f"source must be 'auto', 'h5' or 'off', got {source!r}.")
    train = split == "train"
    augment = train if augment is None else augment
    shuffle = train if shuffle is None else shuffle
    ds = tf.data.Dataset.from_tensor_slices((points, labels))
    aug = None
    if augment:
        def aug(p, seed):
            return augment_point_cloud(p, seed=seed, rotate=rotate, up_axis=up_axis)
    return finish(ds, batch_size, shuffle, seed, augment_fn=aug, shuffle_buffer=shuffle_buffer,
                  drop_remainder=drop_remainder)
