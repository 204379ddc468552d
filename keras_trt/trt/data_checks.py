"""Checks of the data given to ``TRTModel.fit`` / ``predict``: refuse what would train silently.

Spiking neurons compare the membrane with a threshold, and every comparison with NaN is false:
a NaN input makes its neurons stop firing, the classifier sees zeros and the loss looks normal.
Labels outside the classifier's range train with a loss of exactly 0 on JAX (and fail inside the
op on TensorFlow and torch); one-hot labels with the default sparse loss fail with a bare shape
error. :func:`check_fit_data` finds these before the first step, with errors that name the fix.

In-memory data (NumPy arrays, tensors, lists or dicts of them) is checked whole, in one pass
(cheap next to one training epoch); a ``tf.data.Dataset`` or ``keras.utils.PyDataset`` on its
first batch, which is read once more for it; Python generators and torch ``DataLoader`` s are
not read ahead. A NaN that appears *during* training (a diverging loss) makes the loss NaN;
``keras.callbacks.TerminateOnNaN()`` stops the run then.

>>> import numpy as np
>>> from keras_trt.trt.data_checks import check_arrays
>>> check_arrays(np.zeros((4, 2, 3)), np.array([0, 1, 2, 1]), units=3, loss="sparse_categorical_crossentropy")
>>> check_arrays(np.zeros((4, 2, 3)), np.array([0, 1, 5, 1]), units=3, loss="sparse_categorical_crossentropy")
Traceback (most recent call last):
...
ValueError: y holds class ids outside [0, 3) (1 of 4 labels; min 0, max 5), but the classifier has 3 units. ...
"""

import keras
import numpy as np

_SPARSE = "sparse_categorical_crossentropy"
_CATEGORICAL = "categorical_crossentropy"


def _loss_name(loss):
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None)


def _is_tf_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(data, "take")


def _to_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value)) if not isinstance(value, np.ndarray) else value


def _first_batch(x):
    """``(x, y)`` of the first batch of a tf.data set or PyDataset; None for other streams."""
    if _is_tf_dataset(x):
        batch = next(iter(x.take(1)), None)
    elif isinstance(x, keras.utils.PyDataset):
        batch = x[0] if x.num_batches else None
    else:
        return None
    if batch is None:
        return None
    bx, by, _ = keras.utils.unpack_x_y_sample_weight(batch)
    return bx, by


def _is_arrays(data):
    leaves = keras.tree.flatten(data)
    return bool(leaves) and all(hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves)


def check_arrays(x, y, *, units=None, loss=None, where=""):
    """Raises a ValueError naming the fix if ``x`` holds NaN/Inf or ``y`` does not fit ``loss``.

    ``units`` is the classifier's output size and ``loss`` the compiled loss (or its name);
    labels are checked only for (sparse) categorical cross-entropy.
    """
    for i, leaf in enumerate(keras.tree.flatten(x)):
        leaf = _to_numpy(leaf)
        if np.issubdtype(leaf.dtype, np.floating) or np.issubdtype(leaf.dtype, np.complexfloating):
            bad = ~np.isfinite(leaf)
            if bad.any():
                first = int(np.argwhere(bad)[0][0])
                name = "x" if len(keras.tree.flatten(x)) == 1 else f"input {i} of x"
                raise ValueError(
                    f"{name}{where} holds {int(bad.sum())} NaN/Inf value(s) (the first in sample "
                    f"{first}). Spiking neurons never fire on NaN (every comparison with NaN is "
                    "false), so training would go on with a normal-looking loss. Clean the data "
                    "first, e.g. x = np.nan_to_num(x) or drop those samples."
                )
    if y is None or units is None or keras.tree.is_nested(y):
        return
    name = _loss_name(loss)
    if name not in (_SPARSE, _CATEGORICAL):
        return
    y = _to_numpy(y)
    if name == _SPARSE:
        if y.ndim >= 2 and y.shape[-1] == units and units > 1:
            raise ValueError(
                f"y{where} has shape {y.shape}, which looks one-hot, but the loss is "
                "SparseCategoricalCrossentropy (the default), which takes integer class ids. "
                "Pass the class ids (y.argmax(-1)), or compile with "
                "loss=keras.losses.CategoricalCrossentropy(from_logits=True)."
            )
        if y.size == 0:
            return
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise ValueError(
                    f"y{where} holds non-integer values, but SparseCategoricalCrossentropy takes "
                    f"integer class ids in [0, {units}). Pass integer labels."
                )
        outside = (y < 0) | (y >= units)
        if outside.any():
            raise ValueError(
                f"y{where} holds class ids outside [0, {units}) ({int(outside.sum())} of {y.size} "
                f"labels; min {y.min():g}, max {y.max():g}), but the classifier has {units} units. "
                "Remap the labels to 0..units-1, or give the model as many classes as the data "
                "(e.g. keras_trt.zoo.load(name, num_classes=K), or build it with num_classes=K)."
            )
    elif y.ndim < 2 or y.shape[-1] != units:
        raise ValueError(
            f"y{where} has shape {y.shape}, but CategoricalCrossentropy takes one-hot labels of "
            f"shape (batch, {units}). One-hot them (keras.utils.to_categorical(y, {units})), or "
            "compile with loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)."
        )


def check_fit_data(model, x, y=None, validation_data=None):
    """Runs :func:`check_arrays` on what ``model.fit`` was given (see the module docstring)."""
    outputs = getattr(model, "outputs", None) or []
    units = outputs[0].shape[-1] if len(outputs) == 1 else None
    loss = getattr(model, "loss", None)
    for data, labels, where in ((x, y, ""), (validation_data, None, " (validation_data)")):
        if data is None:
            continue
        if where and isinstance(data, (tuple, list)) and _is_arrays(data):
            data, labels, _ = keras.utils.unpack_x_y_sample_weight(tuple(data))
        if _is_arrays(data):
            if labels is not None and not _is_arrays(labels):
                continue
            check_arrays(data, labels, units=units, loss=loss, where=where)
            continue
        batch = _first_batch(data)
        if batch is not None:
            check_arrays(*batch, units=units, loss=loss, where=f"{where} (first batch)")


def empty_prediction(model, x):
    """The output of ``model.predict`` on a batch of 0 samples, or None if ``x`` is not empty.

    Keras' ``predict`` has no output to concatenate then (it raises an UnboundLocalError); the
    result here has the model's output shapes with a batch of 0, as NumPy arrays.
    """
    if not _is_arrays(x):
        return None
    leaves = keras.tree.flatten(x)
    if not leaves or leaves[0].shape[0] != 0:
        return None
    spec = model.compute_output_spec(
        keras.tree.map_structure(lambda t: keras.KerasTensor(tuple(t.shape), dtype=keras.backend.standardize_dtype(t.dtype)), x)
    )
    return keras.tree.map_structure(
        lambda s: np.zeros((0,) + tuple(s.shape[1:]), dtype=keras.backend.standardize_dtype(s.dtype)),
        spec,
    )
