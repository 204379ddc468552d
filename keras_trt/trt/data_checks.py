"""One check of the data given to any keras-trt entry point: refuse what would run silently wrong.

Spiking neurons compare the membrane with a threshold, and every comparison with NaN is false:
a NaN input makes its neurons stop firing, the classifier sees zeros and the loss, the accuracy,
the firing rates all look normal. Labels outside the classifier's range train and score with a
loss of exactly 0 on JAX (and fail inside the op on TensorFlow and torch); one-hot labels with
the default sparse loss fail with a bare shape error; an input of the wrong shape fails deep in
a traced step, and on TensorFlow and JAX leaves the model unusable until it is reloaded.

:func:`check` runs the same rules, with the same messages, for ``TRTModel.fit`` / ``evaluate`` /
``predict``, :func:`keras_trt.analysis.profile`, :mod:`keras_trt.diagnostics` and
``python -m training.evaluate``, before Keras builds or traces anything:

- **shape**: every input's rank and sizes against the model's inputs, naming the expected shape
  and, for a temporal model, its T;
- **empty**: no samples (``fit`` and ``evaluate``; ``predict`` of 0 samples returns 0 rows);
- **NaN/Inf** inputs;
- **scale**: finite inputs beyond :data:`MAX_ABS_INPUT` (1e6) in magnitude. Every input a
  keras-trt model is built for is of order 1 to a few hundred: normalised features, point
  coordinates, pixels up to 255, event counts per frame. At 1e6 float32 resolves 0.06, so a
  membrane compared with a threshold of 1 has no precision left, and 1e30 (a unit slip) trains
  with a normal-looking loss while it wrecks the weights. Every embedded data set and the zoo
  presets' data stay below 300 (``tests/test_data_checks.py`` checks it);
- **labels** (with a (sparse) categorical cross-entropy loss): class ids inside
  ``[0, classifier units)``, integer ids for the sparse loss, one-hot rows for the categorical.

In-memory data (NumPy arrays, tensors, lists or dicts of them) is checked whole, in one pass
(cheap next to one pass of the model). A ``tf.data.Dataset``, a ``keras.utils.PyDataset`` or a
Python generator is checked **batch by batch as it flows** (``check_data=True``, the default;
``"first"`` checks its first batch only, ``False`` nothing): an error names the batch, and the
batches before it have already been used. A torch ``DataLoader`` is not read ahead. A NaN that
appears *during* training (a diverging loss) makes the loss NaN;
``keras.callbacks.TerminateOnNaN()`` stops the run then.

>>> import numpy as np
>>> from keras_trt.trt.data_checks import check_arrays
>>> check_arrays(np.zeros((4, 2, 3)), np.array([0, 1, 2, 1]), units=3, loss="sparse_categorical_crossentropy")
>>> check_arrays(np.zeros((4, 2, 3)), np.array([0, 1, 5, 1]), units=3, loss="sparse_categorical_crossentropy")
Traceback (most recent call last):
...
keras_trt.trt.data_checks.DataError: y holds class ids outside [0, 3) (1 of 4 labels; min 0, max 5), but the classifier has 3 units. ...
"""

import contextlib
import inspect

import keras
import numpy as np

#: Finite inputs larger than this in magnitude are refused (see the module docstring).
MAX_ABS_INPUT = 1e6

_SPARSE = "sparse_categorical_crossentropy"
_CATEGORICAL = "categorical_crossentropy"
_MODES = (True, False, "first")


class DataError(ValueError):
    """Data refused by a keras-trt data check; the message says what is wrong and the fix."""


def _loss_name(loss):
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None)


def _is_tf_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(data, "take") and hasattr(data, "element_spec")


def _to_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value)) if not isinstance(value, np.ndarray) else value


def _is_arrays(data):
    leaves = keras.tree.flatten(data)
    return bool(leaves) and all(hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves)


def _leaf_name(i, count):
    return "x" if count == 1 else f"input {i} of x"


def check_arrays(x, y, *, units=None, loss=None, where="", max_abs=MAX_ABS_INPUT):
    """Raises a :class:`DataError` naming the fix if ``x`` holds NaN/Inf or values beyond
    ``max_abs``, or ``y`` does not fit ``loss``.

    ``units`` is the classifier's output size and ``loss`` the compiled loss (or its name);
    labels are checked only for (sparse) categorical cross-entropy.
    """
    leaves = keras.tree.flatten(x)
    for i, leaf in enumerate(leaves):
        leaf = _to_numpy(leaf)
        if not (np.issubdtype(leaf.dtype, np.number) or np.issubdtype(leaf.dtype, np.bool_)) or not leaf.size:
            continue
        name = _leaf_name(i, len(leaves))
        if np.issubdtype(leaf.dtype, np.inexact):
            bad = ~np.isfinite(leaf)
            if bad.any():
                first = int(np.argwhere(bad)[0][0])
                raise DataError(
                    f"{name}{where} holds {int(bad.sum())} NaN/Inf value(s) (the first in sample "
                    f"{first}). Spiking neurons never fire on NaN (every comparison with NaN is "
                    "false), so the model would go on with normal-looking losses and outputs. "
                    "Clean the data first, e.g. x = np.nan_to_num(x) or drop those samples."
                )
        if max_abs is not None and not np.issubdtype(leaf.dtype, np.bool_):
            # (float64 so that an int64 minimum does not overflow in abs)
            peak = float(np.max(np.abs(leaf.astype("float64", copy=False))))
            if peak > max_abs:
                first = int(np.argwhere(np.abs(leaf.astype("float64", copy=False)) > max_abs)[0][0])
                raise DataError(
                    f"{name}{where} holds values up to {peak:.3g} in magnitude (the first beyond "
                    f"{max_abs:g} in sample {first}). keras-trt models are built for inputs of order "
                    "1 to a few hundred (normalised features, pixels up to 255, event counts), and "
                    "at this scale the spiking thresholds lose all precision: the loss looks normal "
                    "while the weights are wrecked. Rescale the inputs (e.g. x / x.std() or min-max "
                    f"to [0, 1]); if this scale is intended, raise keras_trt.trt.data_checks."
                    "MAX_ABS_INPUT or pass check_data=False."
                )
    if y is None or units is None or keras.tree.is_nested(y):
        return
    name = _loss_name(loss)
    if name not in (_SPARSE, _CATEGORICAL):
        return
    y = _to_numpy(y)
    if name == _SPARSE:
        if y.ndim >= 2 and y.shape[-1] == units and units > 1:
            raise DataError(
                f"y{where} has shape {y.shape}, which looks one-hot, but the loss is "
                "SparseCategoricalCrossentropy (the default), which takes integer class ids. "
                "Pass the class ids (y.argmax(-1)), or compile with "
                "loss=keras.losses.CategoricalCrossentropy(from_logits=True)."
            )
        if y.size == 0:
            return
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise DataError(
                    f"y{where} holds non-integer values, but SparseCategoricalCrossentropy takes "
                    f"integer class ids in [0, {units}). Pass integer labels."
                )
        outside = (y < 0) | (y >= units)
        if outside.any():
            raise DataError(
                f"y{where} holds class ids outside [0, {units}) ({int(outside.sum())} of {y.size} "
                f"labels; min {y.min():g}, max {y.max():g}), but the classifier has {units} units. "
                "Remap the labels to 0..units-1, or give the model as many classes as the data "
                "(e.g. keras_trt.zoo.load(name, num_classes=K), or build it with num_classes=K)."
            )
    elif y.ndim < 2 or y.shape[-1] != units:
        raise DataError(
            f"y{where} has shape {y.shape}, but CategoricalCrossentropy takes one-hot labels of "
            f"shape (batch, {units}). One-hot them (keras.utils.to_categorical(y, {units})), or "
            "compile with loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)."
        )


# --- shapes --------------------------------------------------------------------------------


def _temporal_input(model):
    """True if axis 1 of the model's input is time (no RepeatTime inside repeats a static input)."""
    from keras_trt import temporal

    return not any(isinstance(l, temporal.RepeatTime) for l in model._flatten_layers())


def model_timesteps(model):
    """The model's T: the time axis of its first spiking layer's output (None if it has none)."""
    from keras_trt import neurons

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (neurons.LIF, neurons.ParametricLIF)):
            try:
                return layer.output.shape[1]
            except (AttributeError, ValueError, IndexError):
                return None
    return None


def check_shapes(model, x, where="", unknown_ok=False):
    """Raises a :class:`DataError` when the shapes of ``x`` (arrays, tensors or specs, a
    structure as the model takes) disagree with the model's inputs, naming the expected shape
    and T. Sizes unknown on either side (None) are not compared, except an unknown time axis for a
    model built for a fixed T."""
    expected = getattr(model, "inputs", None) or ()
    got_leaves = keras.tree.flatten(x)
    if not expected or not got_leaves:
        return
    if len(got_leaves) != len(expected):
        raise DataError(
            f"{model.name} takes {len(expected)} input(s) of shapes "
            f"{[tuple(t.shape) for t in expected]}{where}, got {len(got_leaves)}. Pass one array per "
            "model input (a list or dict in the order of model.inputs)."
        )
    temporal_input = _temporal_input(model)
    steps = model_timesteps(model)
    for tensor, spec in zip(got_leaves, expected):
        got, want = tuple(tensor.shape), tuple(spec.shape)
        if len(got) != len(want):
            raise DataError(
                f"{model.name} expects inputs of rank {len(want)}, shape {want} (batch first"
                f"{_t_note(temporal_input, want, steps)}), got shape {got}{where}. "
                + _rank_hint(got, want, temporal_input)
            )
        for axis, (g, w) in enumerate(zip(got, want)):
            if not axis or w is None:
                continue
            if g is None and temporal_input and axis == 1 and not unknown_ok:
                raise DataError(
                    f"{model.name} was built for T={w} time steps, shape {want}, but the time axis "
                    f"of the inputs{where} has an unknown length (shape {got}). Give the data a "
                    f"static time axis of {w} steps, e.g. for a tf.data set "
                    f"ds.map(lambda x, y: (tf.ensure_shape(x, {list((None,) + want[1:])}), y))."
                )
            if g is not None and g != w:
                raise DataError(
                    f"{model.name} expects inputs of shape {want}, got {got}{where}: "
                    + _axis_hint(axis, g, w, temporal_input)
                )


def _t_note(temporal_input, want, steps):
    if temporal_input and len(want) > 1 and want[1] is not None:
        return f", then T={want[1]} time steps"
    if steps is not None:
        return f"; the model repeats it over T={steps} steps itself"
    return ""


def _rank_hint(got, want, temporal_input):
    if temporal_input and len(want) == len(got) + 1:
        return (
            f"The model takes a time axis at position 1 (T={want[1]}); for a static input "
            "build the model with keras_trt.layers.RepeatTime, or add the time axis to x."
        )
    if not temporal_input and len(got) == len(want) + 1:
        return (
            "The model takes static inputs and repeats them over time itself (RepeatTime); "
            "pass one frame per sample, without a time axis."
        )
    return "Reshape the inputs to the model's input shape."


def _axis_hint(axis, got, want, temporal_input):
    if temporal_input and axis == 1:
        return (
            f"the time axis has {got} steps but this model was built for T={want}. "
            f"Resample the sequences to {want} steps, or rebuild the model with timesteps={got}."
        )
    return f"axis {axis} is {got}, the model was built for {want}."


# --- one entry for every caller ------------------------------------------------------------


def _units_and_loss(model, labels):
    if not labels:
        return None, None
    outputs = getattr(model, "outputs", None) or []
    units = outputs[0].shape[-1] if len(outputs) == 1 else None
    return units, getattr(model, "loss", None)


def _num_samples(x):
    leaves = keras.tree.flatten(x)
    return int(leaves[0].shape[0]) if leaves and len(leaves[0].shape) else None


def _empty_error(entry, where, what):
    return DataError(
        f"{entry} got no data{where}: {what}. Pass at least one sample (check the file, the "
        "filter or the split that produced it)."
    )


def check_batch(model, x, y=None, *, where="", labels=True):
    """Every rule on one in-memory batch ``(x, y)`` (``y`` may be None)."""
    check_shapes(model, x, where)
    units, loss = _units_and_loss(model, labels)
    check_arrays(x, y, units=units, loss=loss, where=where)


class Watch:
    """Remembers the error a stream check raised, to raise it again cleanly: TensorFlow wraps
    an exception raised inside a tf.data pipeline in a long graph-execution error."""

    error = None

    def __call__(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DataError as err:
            if self.error is None:  # the first bad batch (Keras may read ahead)
                self.error = err
            raise


def check(model, x, y=None, *, entry, mode=True, labels=True, allow_empty=False, watch=None,
          where=""):
    """Checks ``x`` (and labels ``y``) for ``model`` before ``entry`` runs; returns ``x``, with a
    stream wrapped so that its batches are checked as they flow (see the module docstring).

    ``mode``: True (every batch of a stream), ``"first"`` (its first batch) or False (nothing).
    ``labels``: check ``y`` against the classifier and the compiled loss.
    """
    if mode not in _MODES:
        raise ValueError(f"check_data must be True, False or 'first', got {mode!r}.")
    if mode is False or x is None:
        return x
    watch = watch or Watch()
    if _is_arrays(x):
        n = _num_samples(x)
        if n == 0 and not allow_empty:
            raise _empty_error(entry, where, f"x has 0 samples (shape {tuple(keras.tree.flatten(x)[0].shape)})")
        if y is not None and not _is_arrays(y):
            y = None
        check_batch(model, x, y, where=where, labels=labels)
        return x
    if _is_tf_dataset(x):
        return _check_tf_dataset(model, x, entry, mode, labels, watch, where)
    if isinstance(x, keras.utils.PyDataset):
        return _check_py_dataset(model, x, entry, mode, labels, watch, where)
    if inspect.isgenerator(x):
        return _check_generator(model, x, entry, mode, labels, watch, where)
    return x


def _unpack(batch):
    if isinstance(batch, tuple):
        bx, by, _ = keras.utils.unpack_x_y_sample_weight(batch)
        return bx, by
    return batch, None


def _checker(model, labels, where, entry):
    def run(batch, index):
        bx, by = _unpack(batch)
        check_batch(model, bx, by, where=f"{where} (batch {index})", labels=labels)

    return run


def _check_tf_dataset(model, ds, entry, mode, labels, watch, where):
    import tensorflow as tf

    cardinality = int(ds.cardinality())
    if cardinality == 0 or (cardinality < 0 and next(iter(ds.take(1)), None) is None):
        raise _empty_error(entry, where, "the tf.data.Dataset yields no batches")
    spec_x, _ = _unpack(ds.element_spec)
    # Sizes the spec leaves open (a generator's T) are checked batch by batch, then stated.
    check_shapes(model, [_Shape(s.shape) for s in tf.nest.flatten(spec_x)], where, unknown_ok=True)
    run = _checker(model, labels, where, entry)
    structure = ds.element_spec

    def numpy_check(index, *flat):
        # Returns False rather than raising: TensorFlow would print the traceback of an
        # exception raised here; the caller raises the remembered error (raised_cleanly).
        if mode == "first" and index > 0:
            return np.bool_(True)
        try:
            watch(run, tf.nest.pack_sequence_as(structure, list(flat)), int(index))
        except DataError:
            return np.bool_(False)
        return np.bool_(True)

    want = [tuple(t.shape) for t in (model.inputs or ())]

    def map_fn(index, *element):
        element = element[0] if len(element) == 1 else element
        flat = tf.nest.flatten(element)
        ok = tf.numpy_function(numpy_check, [index, *flat], tf.bool, stateful=True)
        assertion = tf.debugging.Assert(ok, ["keras_trt data check failed on a batch"])
        with tf.control_dependencies([assertion]):
            flat = [tf.identity(t) for t in flat]
        element = tf.nest.pack_sequence_as(element, flat)
        bx, by = _unpack(element)
        # Checked in numpy_check: the model's static sizes (its T above all) can be stated, so
        # that TensorFlow traces the step with them.
        leaves = tf.nest.flatten(bx)
        if len(leaves) == len(want):
            for leaf, shape in zip(leaves, want):
                if leaf.shape.rank == len(shape):
                    leaf.set_shape((None,) + tuple(shape[1:]))
        return element

    return ds.enumerate().map(map_fn)


class _Shape:
    """A TensorSpec's shape as a plain tuple, for check_shapes."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _check_py_dataset(model, ds, entry, mode, labels, watch, where):
    if ds.num_batches == 0:
        raise _empty_error(entry, where, "the PyDataset has 0 batches")
    run = _checker(model, labels, where, entry)
    if mode == "first":
        watch(run, ds[0], 0)
        return ds
    return _CheckedPyDataset(ds, run, watch)


class _CheckedPyDataset(keras.utils.PyDataset):
    """A PyDataset that checks each batch of another as it is read."""

    def __init__(self, inner, run, watch):
        super().__init__(workers=inner.workers, use_multiprocessing=inner.use_multiprocessing,
                         max_queue_size=inner.max_queue_size)
        self.inner, self._run, self._watch = inner, run, watch

    def __len__(self):
        return len(self.inner)

    @property
    def num_batches(self):
        return self.inner.num_batches

    def __getitem__(self, index):
        batch = self.inner[index]
        self._watch(self._run, batch, index)
        return batch

    def on_epoch_begin(self):
        self.inner.on_epoch_begin()

    def on_epoch_end(self):
        self.inner.on_epoch_end()


def _check_generator(model, gen, entry, mode, labels, watch, where):
    run = _checker(model, labels, where, entry)

    def checked():
        index = -1
        for index, batch in enumerate(gen):
            if mode is True or index == 0:
                watch(run, batch, index)
            yield batch
        if index < 0:
            err = _empty_error(entry, where, "the generator yields no batches")
            watch.error = watch.error or err  # (TensorFlow wraps what a generator raises)
            raise err

    return checked()


@contextlib.contextmanager
def raised_cleanly(watch):
    """Within the block, an error that a stream check raised inside Keras' loop (and that
    TensorFlow wrapped in a graph-execution error) comes out as the check's own DataError."""
    try:
        yield
    except DataError:
        raise
    except Exception:
        if watch.error is not None:
            raise watch.error from None
        raise


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


def check_fit_data(model, x, y=None, validation_data=None, mode=True, watch=None):
    """:func:`check` of what ``model.fit`` was given; returns ``(x, validation_data)`` with the
    streams among them wrapped."""
    watch = watch or Watch()
    x = check(model, x, y, entry="fit", mode=mode, watch=watch)
    where = " (validation_data)"
    if isinstance(validation_data, (tuple, list)) and _is_arrays(validation_data):
        vx, vy, _ = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
        check(model, vx, vy, entry="fit", mode=mode, watch=watch, where=where)
    else:
        validation_data = check(model, validation_data, None, entry="fit", mode=mode, watch=watch,
                                where=where)
    return x, validation_data
