"""TRTModel: a keras.Model whose training step runs Temporal Reversed Training.

The backend-specific parts of training stay Keras' own trainers (TensorFlow ``GradientTape``,
JAX stateless ``value_and_grad``, torch autograd); TRTModel changes the step through the hooks
they all call, so one piece of code serves the three backends:

- ``train_step`` traces/runs the forward pass inside :func:`keras_trt.temporal.trt_branches`,
  where the model emits ``[O; O_rev; O_star]`` stacked on the batch axis;
- ``compute_loss`` splits them and returns the TRT loss, recording each component as a metric;
- ``compute_metrics`` scores the original branch only.

``predict``, ``evaluate`` and direct calls never enter the branches: inference is the plain SNN.

Cheaper TRT (``TRTConfig.batch_fraction``, ``start_epoch``, ``stop_epoch``, ``every_steps``): a
fraction changes the branches inside the one compiled step; a schedule compiles two steps, the
TRT one and the plain one (each traced under its own branch structure), and ``fit`` calls the
one the config names for each batch (``make_train_function``).
"""

import contextlib

import keras
from keras import ops

from keras_trt import distribute, temporal
from keras_trt.trt import config as config_lib
from keras_trt.trt import data_checks
from keras_trt.trt import loss as loss_lib

COMPONENTS = ("task_loss", "reversed_loss", "consistency_loss", "star_loss")
# keras.Model's positional parameters after (x, y), taken as keywords by the wrappers below.
_FIT_ARGS = ("batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
             "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch",
             "validation_steps", "validation_batch_size", "validation_freq")
_EVALUATE_ARGS = ("batch_size", "verbose", "sample_weight", "steps", "callbacks", "return_dict")


@keras.saving.register_keras_serializable(package="keras_trt")
class TRTModel(keras.Model):
    """A Keras model trained with TRT when compiled with ``trt=TRTConfig(...)``.

    Build it like any functional model; it needs one
    :class:`~keras_trt.layers.TemporalReversal` and, for the star term, a
    :class:`~keras_trt.layers.StarProduct` after it, followed by the classifier.

    >>> import keras, keras_trt
    >>> from keras_trt import layers
    >>> x = keras.Input((8, 8, 1))
    >>> h = layers.RepeatTime(2)(x)
    >>> h = layers.TimeFolded(keras.layers.Conv2D(8, 3, padding="same"))(h)
    >>> h = layers.LIF()(h)
    >>> h = layers.TemporalReversal()(h)
    >>> h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D())(h)
    >>> h = layers.StarProduct()(h)
    >>> out = keras.layers.Dense(10, name="classifier")(h)
    >>> model = keras_trt.TRTModel(x, out)
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    >>> model.compile("adam", metrics=["accuracy"], trt=None)   # the plain-SNN baseline

    The loss given to ``compile`` (default: sparse categorical cross-entropy on logits) is the
    task loss of each branch; see :class:`~keras_trt.TRTConfig` for the rest.
    """

    trt_config = None
    _trt_trackers = ()
    _consistency_loss = None
    _padded = False
    _trt_step_mode = True  # read when a step is traced or run: False traces the plain step
    _trt_position = None  # (epoch, batch) of the step fit runs next; None outside fit
    _in_scheduled_step = False  # inside the train step of a config with a schedule

    def compile(self, optimizer="rmsprop", loss=None, *args, trt=None, **kwargs):
        """As ``keras.Model.compile``, plus ``trt``: a TRTConfig, a dict of its fields, True
        (defaults) or None (train the plain SNN)."""
        trt = config_lib.get(trt)
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if trt is not None:
            self._check_trt_structure(trt)
        super().compile(optimizer, loss, *args, **kwargs)
        self._compile_config.config["trt"] = trt
        # Assigned via object.__setattr__ so Keras does not track them: they belong in
        # `metrics` only while TRT is on (see the property below).
        object.__setattr__(self, "trt_config", trt)
        trackers = () if trt is None else tuple(keras.metrics.Mean(name=n) for n in COMPONENTS)
        object.__setattr__(self, "_trt_trackers", trackers)
        object.__setattr__(self, "_consistency_loss", None if trt is None else _ConsistencyLoss(trt))

    @property
    def metrics(self):
        return super().metrics + list(self._trt_trackers)

    def train_step(self, *args, **kwargs):
        cfg = self.trt_config
        active = cfg is not None and self._trt_step_mode
        fraction = cfg.batch_fraction if active else 1.0
        object.__setattr__(self, "_in_scheduled_step", cfg is not None and cfg.scheduled)
        try:
            with temporal.trt_branches(active, fraction), distribute.synchronized_batch_norm(self):
                return super().train_step(*args, **kwargs)
        finally:
            object.__setattr__(self, "_in_scheduled_step", False)

    def make_train_function(self, force=False):
        """Keras' compiled train step; under a TRT schedule a dispatcher of two compiled steps.

        Each of the two (TRT, plain) is built by the backend's own ``make_train_function`` and
        only ever called with its mode set, so it is traced (on its first call, or a retrace)
        with its own branch structure; both take and return the same state (JAX).
        """
        cfg = self.trt_config
        if cfg is None or not cfg.scheduled:
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        functions = {}
        for mode in (True, False):
            # A distinct step function per mode, its mode fixed when it runs: JAX caches a
            # trace by the function traced, so the two jitted steps must not share one.
            object.__setattr__(self, "train_step", self._step_in_mode(mode))
            try:
                super().make_train_function(force=True)
            finally:
                object.__delattr__(self, "train_step")  # torch looks it up at every call
            functions[mode] = self.train_function

        def train_function(*args):
            position = self._trt_position
            mode = True if position is None else cfg.is_trt_step(*position)
            object.__setattr__(self, "_trt_step_mode", mode)
            try:
                return functions[mode](*args)
            finally:
                object.__setattr__(self, "_trt_step_mode", True)

        self.train_function = train_function
        return train_function

    def _step_in_mode(self, mode):
        def step(*args, **kwargs):
            previous = self._trt_step_mode
            object.__setattr__(self, "_trt_step_mode", mode)
            try:
                return type(self).train_step(self, *args, **kwargs)
            finally:
                object.__setattr__(self, "_trt_step_mode", previous)

        return step

    def _branches(self, y_pred, y):
        """``[O, O_rev(, O_star)]``; the labels ``y`` give B when ``batch_fraction < 1``."""
        fraction = temporal.trt_batch_fraction()
        if fraction == 1.0:
            return ops.split(y_pred, 3 if self._has_star else 2, axis=0)
        batch = _batch_size(y)
        m = temporal.paired_count(batch, fraction)
        out = [y_pred[:batch], y_pred[batch : batch + m]]
        return out + [y_pred[batch + m :]] if self._has_star else out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not temporal.trt_branches_active():
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        cfg = self.trt_config
        if keras.backend.standardize_dtype(y_pred.dtype) in ("float16", "bfloat16"):
            # Mixed precision: the loss terms are computed in float32, as Keras' losses are.
            y_pred = ops.cast(y_pred, "float32")
        branches = self._branches(y_pred, y)
        o, o_rev = branches[0], branches[1]
        # The compiled loss of the original branch, plus regularisation losses, once.
        task = super().compute_loss(x, y, o, sample_weight, training=training)
        # The other terms on the samples that have a reversed copy: all, or the first m.
        y_p, w_p, o_p = y, sample_weight, o
        if cfg.batch_fraction != 1.0:
            m = temporal.paired_count(_batch_size(y), cfg.batch_fraction)
            y_p, w_p = (keras.tree.map_structure(lambda t: t[:m], v) if v is not None else None
                        for v in (y, sample_weight))
            o_p = o[:m]
        reversed_ = self._compile_loss(y_p, o_rev, w_p)
        # A keras Loss, so that it is reduced (and scaled per replica under tf.distribute) the
        # way the compiled loss is; a plain mean would count N times after the replica sum.
        kl = self._consistency_loss(o_p, o_rev, w_p)
        star = self._compile_loss(y_p, branches[2], w_p) if self._has_star else 0.0 * kl
        total = (
            task
            + cfg.reversal_weight * reversed_
            + cfg.consistency_weight * kl
            + cfg.star_weight * star
        )
        # Logged as Keras logs its loss: undo the per-replica scaling, weight by the samples.
        paired = ops.shape(o_rev)[0]
        for tracker, value, n in zip(self._trt_trackers, (task, reversed_, kl, star),
                                     (ops.shape(o)[0], paired, paired, paired)):
            tracker.update_state(distribute.unscale_loss(value), sample_weight=n)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if temporal.trt_branches_active():
            y_pred = self._branches(y_pred, y)[0]
        compiled = self._compile_metrics
        if self._padded and compiled is not None and sample_weight is not None:
            # Zero-weight padding (distribute.even_batches) must not count in `metrics` either,
            # which Keras updates unweighted: they get the sample weights while padding is on.
            if not compiled.built:
                compiled.build(y, y_pred)
            unweighted = compiled._flat_metrics
            if len(unweighted) == 1:
                compiled._flat_metrics = [None]
                try:
                    super().compute_metrics(x, y, y_pred, sample_weight)
                finally:
                    compiled._flat_metrics = unweighted
                if unweighted[0] is not None:
                    unweighted[0].update_state(y, y_pred, sample_weight)
                return self.get_metrics_result()
        return super().compute_metrics(x, y, y_pred, sample_weight)

    @contextlib.contextmanager
    def _padding(self, active):
        """Within the block the step functions weight every metric (see compute_metrics); they
        are traced again when this changes."""
        active = bool(active)
        if active != self._padded:
            self.train_function = self.test_function = self.predict_function = None
        object.__setattr__(self, "_padded", active)
        try:
            yield
        finally:
            if active:
                object.__setattr__(self, "_padded", False)
                self.train_function = self.test_function = self.predict_function = None

    def get_metrics_result(self):
        logs = super().get_metrics_result()
        if self._in_scheduled_step:
            # The steps of a schedule log the same keys (CSVLogger fixes its columns at the
            # first epoch): each component is its mean over the epoch's TRT steps, NaN before one.
            for tracker in self._trt_trackers:
                logs[tracker.name] = ops.where(tracker.count > 0, logs[tracker.name], float("nan"))
        elif not temporal.trt_branches_active():  # evaluate: the components were not computed
            for name in COMPONENTS:
                logs.pop(name, None)
        return logs

    def compile_from_config(self, config):
        # Keras skips this for models with a custom compile(); ours accepts every saved field.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """As ``keras.Model.export`` (``"tf_saved_model"``, ``"onnx"``, ...), on every backend.

        The exported program is the inference pass (the plain SNN): the LIF layers run as plain
        tensor ops without their custom-gradient op (:func:`keras_trt.neurons.gradient_free`),
        and ``input_signature`` defaults to the model's inputs with a free batch size (torch
        exports a batch of 1 unless ``input_signature`` fixes another). On JAX, the ONNX file's
        max-pooling nodes are rewritten into ones onnxruntime runs
        (:mod:`keras_trt.export.onnx_graph`).

        >>> import keras_trt
        >>> model = keras_trt.zoo.load("smlp-basicmotions-t20")
        >>> model.export("smlp.onnx", format="onnx", verbose=False)      # doctest: +SKIP
        """
        from keras_trt import neurons

        if input_signature is None:
            # Keras derives it only for a model that has been called since it was built.
            input_signature = [self.input]
        with neurons.gradient_free(), temporal.trt_branches(False):
            out = super().export(filepath, format=format, verbose=verbose,
                                 input_signature=input_signature, **kwargs)
        if format == "onnx" and keras.backend.backend() == "jax":
            from keras_trt.export.onnx_graph import fix_onnx_file

            fix_onnx_file(filepath)  # jax2onnx's max-pooling, which onnxruntime cannot run
        return out

    @property
    def input_spec(self):
        # Shapes are checked in `call`, with messages that say how to fix them.
        return None

    @input_spec.setter
    def input_spec(self, value):
        pass

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Keras wraps errors raised inside `call` with a dump of the inputs.
        self._check_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None, **kwargs):
        # The explicit `training` matters: Keras passes it (and sets the call context that
        # BatchNormalization reads) only to a `call` that names it.
        self._check_inputs(inputs)  # JAX's stateless paths call `call` directly
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def _check_inputs(self, inputs):
        """Raises a ValueError naming the fix when inputs disagree with the model's inputs."""
        data_checks.check_shapes(self, inputs)

    def fit(self, x=None, y=None, *args, check_data=True, last_batch="pad", **kwargs):
        """As ``keras.Model.fit``, after refusing data that would train silently wrong.

        ``check_data`` (True, ``"first"`` or False) runs :mod:`keras_trt.trt.data_checks` on
        ``x``/``y`` and ``validation_data`` before Keras builds or traces anything: wrong shapes
        or T, empty data, NaN/Inf or absurdly scaled inputs, labels outside the classifier's
        range, one-hot labels given to the sparse loss raise a ``DataError`` (a ValueError)
        naming the fix, and the model stays usable. In-memory data is checked whole, a tf.data
        set, PyDataset or generator batch by batch as it flows (``"first"``: its first batch
        only). Pass ``keras.callbacks.TerminateOnNaN()`` to stop a run whose loss becomes NaN.

        ``last_batch`` (``"pad"``, ``"drop"`` or ``"error"``): under a JAX multi-device
        distribution, what to do with in-memory data whose last batch would not split across
        the devices (see :func:`keras_trt.distribute.even_batches`); TensorFlow splits it itself.
        """
        kwargs.update(zip(_FIT_ARGS, args))  # Keras' positional batch_size, epochs, ...
        args = ()
        watch = data_checks.Watch()
        x, validation = data_checks.check_fit_data(self, x, y, kwargs.get("validation_data"),
                                                   mode=check_data, watch=watch)
        x, y, weights, scale = distribute.even_batches(
            x, y, kwargs.get("sample_weight"), batch_size=kwargs.get("batch_size"), entry="fit",
            last_batch=last_batch)
        if weights is not None:
            kwargs["sample_weight"] = weights
        val_scale = None
        if isinstance(validation, (tuple, list)) and data_checks._is_arrays(validation):
            vx, vy, vw = keras.utils.unpack_x_y_sample_weight(tuple(validation))
            vx, vy, vw, val_scale = distribute.even_batches(
                vx, vy, vw, batch_size=kwargs.get("validation_batch_size") or kwargs.get("batch_size"),
                entry="fit (validation_data)", last_batch=last_batch)
            validation = (vx, vy) if vw is None else (vx, vy, vw)
        if validation is not None:
            kwargs["validation_data"] = validation
        if scale or val_scale:
            kwargs["callbacks"] = [_LossScale(scale, val_scale), *(kwargs.get("callbacks") or [])]
        if self.trt_config is not None and self.trt_config.scheduled:
            # Tells the compiled step's dispatcher which epoch and batch come next.
            kwargs["callbacks"] = [_StepPosition(), *(kwargs.get("callbacks") or [])]
        with data_checks.raised_cleanly(watch), self._usable_after_errors(), self._padding(scale or val_scale):
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, check_data=True, last_batch="pad", **kwargs):
        """As ``keras.Model.evaluate``, after the checks of :meth:`fit` (``check_data``); under
        a JAX distribution the last batch is padded (``last_batch``) and the loss is the mean
        over the real samples."""
        kwargs.update(zip(_EVALUATE_ARGS, args))
        args = ()
        watch = data_checks.Watch()
        x = data_checks.check(self, x, y, entry="evaluate", mode=check_data, watch=watch)
        return_dict = kwargs.pop("return_dict", False)
        x, y, weights, scale = distribute.even_batches(
            x, y, kwargs.get("sample_weight"), batch_size=kwargs.get("batch_size"),
            entry="evaluate", last_batch=last_batch)
        if weights is not None:
            kwargs["sample_weight"] = weights
        with data_checks.raised_cleanly(watch), self._usable_after_errors(), self._padding(scale):
            logs = super().evaluate(x, y, *args, return_dict=True, **kwargs)
        if scale and "loss" in logs:
            logs["loss"] = float(logs["loss"]) * scale
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict(self, x, *args, check_data=True, **kwargs):
        """As ``keras.Model.predict``, after the input checks of :meth:`fit` (``check_data``);
        0 samples give 0 rows of the output shape. Under a JAX distribution the last batch is
        padded to split across the devices, and the padding cut from the outputs."""
        watch = data_checks.Watch()
        x = data_checks.check(self, x, entry="predict", mode=check_data, labels=False,
                              allow_empty=True, watch=watch)
        empty = data_checks.empty_prediction(self, x)
        if empty is not None:
            return empty
        n = len(keras.tree.flatten(x)[0]) if data_checks._is_arrays(x) else None
        batch_size = kwargs.get("batch_size") or (args[0] if args else None)
        x, _, _, scale = distribute.even_batches(x, batch_size=batch_size, entry="predict")
        with data_checks.raised_cleanly(watch), self._usable_after_errors():
            out = super().predict(x, *args, **kwargs)
        return out if scale is None else keras.tree.map_structure(lambda a: a[:n], out)

    @contextlib.contextmanager
    def _usable_after_errors(self):
        """Leaves the model usable when ``fit``/``evaluate``/``predict`` stops on an error (a
        stream check's, or any other): JAX detaches the variables' values during the loop and
        reattaches them only at its end, and a step function whose first trace failed would be
        reused half made (TensorFlow: "Creating variables on a non-first call")."""
        jax = keras.backend.backend() == "jax"
        saved = []
        if jax:
            variables = list(self.trainable_variables) + list(self.non_trainable_variables)
            variables += list(self.metrics_variables)
            optimizer = getattr(self, "optimizer", None)  # absent before compile
            if optimizer is not None and optimizer.built:
                variables += list(optimizer.variables)
            saved = [(v, v._value) for v in variables]
        try:
            yield
        except BaseException:
            if jax:
                if getattr(self, "_jax_state", None) and not self._jax_state_synced:
                    self.jax_state_sync()  # the state of the last step that ran
                for variable, value in saved:
                    if variable._value is None:  # detached before any step ran: as before
                        variable._value = value
                self._jax_state, self._jax_state_synced = None, True
            self.train_function = self.test_function = self.predict_function = None
            raise

    @property
    def _has_star(self):
        return any(isinstance(l, temporal.StarProduct) for l in self._flatten_layers())

    def _check_trt_structure(self, trt):
        """Validates the TRT layers before training, with errors that name the fix."""
        layers = list(self._flatten_layers())
        reversals = [l for l in layers if isinstance(l, temporal.TemporalReversal)]
        stars = [l for l in layers if isinstance(l, temporal.StarProduct)]
        if len(reversals) != 1:
            raise ValueError(
                f"TRT training needs exactly one keras_trt.layers.TemporalReversal in the "
                f"model, found {len(reversals)}. Insert one at the input (temporal data) or "
                "right after the first spiking layer (static data), or compile with trt=None "
                "to train the plain SNN."
            )
        if len(stars) > 1:
            raise ValueError(f"At most one StarProduct is supported, found {len(stars)}.")
        if not stars and trt.star_weight > 0:
            raise ValueError(
                "TRTConfig.star_weight > 0 needs a keras_trt.layers.StarProduct on the pooled "
                "spike features before the classifier; add one, or set star_weight=0."
            )
        self._check_branch_multiplicity(3 if stars else 2)

    def _check_branch_multiplicity(self, expected):
        # Shape inference on a batch of one, inside the branches: the output batch must be
        # `expected`; anything else means the TRT layers are misplaced. No FLOPs are spent.
        if not self.inputs:
            return
        specs = [
            keras.KerasTensor((1,) + tuple(t.shape[1:]), dtype=t.dtype)
            for t in keras.tree.flatten(self.inputs)
        ]
        specs = keras.tree.pack_sequence_as(self._inputs_struct, specs)
        with temporal.trt_branches(True):
            try:
                out = self.compute_output_spec(specs)
            except Exception as e:  # a StarProduct that sees an undoubled batch cannot split it
                raise ValueError(
                    "The StarProduct has no TemporalReversal upstream: place the "
                    "TemporalReversal before the StarProduct (between the input and the pooled "
                    f"features). Shape inference failed with: {e}"
                ) from e
        batch = keras.tree.flatten(out)[0].shape[0]
        if batch != expected:
            raise ValueError(
                f"Under TRT the model's output should stack {expected} branches on the batch "
                f"axis but it stacks {batch}. The TemporalReversal must come before the "
                "StarProduct, and the classifier must follow the StarProduct."
            )


class _LossScale(keras.callbacks.Callback):
    """Turns the logged losses of zero-weight-padded data (means over the padded count) back
    into means over the real samples (see keras_trt.distribute.even_batches)."""

    def __init__(self, scale, val_scale):
        super().__init__()
        self.scale, self.val_scale = scale, val_scale

    def on_epoch_end(self, epoch, logs=None):
        for key in list(logs or ()):
            name = key[4:] if key.startswith("val_") else key
            factor = self.val_scale if key.startswith("val_") else self.scale
            if factor and (name == "loss" or name in COMPONENTS):
                logs[key] = float(logs[key]) * factor


def _batch_size(y):
    """B of the labels: an int where static, else (TensorFlow) a scalar tensor."""
    leaf = keras.tree.flatten(y)[0]
    return leaf.shape[0] if leaf.shape[0] is not None else ops.shape(leaf)[0]


class _StepPosition(keras.callbacks.Callback):
    """Keeps ``model._trt_position`` at the (epoch, batch) of the step ``fit`` runs next."""

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        object.__setattr__(self.model, "_trt_position", (self._epoch, batch))

    def on_train_end(self, logs=None):
        object.__setattr__(self.model, "_trt_position", None)


class _ConsistencyLoss(keras.losses.Loss):
    """The TRT consistency term ``temperature^2 * KL`` as a Keras loss (``y_true`` = O, ``y_pred`` = O_rev)."""

    def __init__(self, config):
        super().__init__(name="consistency_loss", reduction="sum_over_batch_size")
        self.config = config

    def call(self, y_true, y_pred):
        return loss_lib.consistency(y_true, y_pred, self.config)
