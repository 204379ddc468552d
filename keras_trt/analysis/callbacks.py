"""A Keras callback that records the firing rate of every spiking layer at each epoch end."""

from __future__ import annotations

import keras
import numpy as np

from keras_trt import neurons, temporal


def spike_probe(model):
    """A functional model returning ``{name: spikes}`` of every LIF / ParametricLIF of ``model``."""
    outputs = {
        layer.name: layer.output
        for layer in model.layers
        if isinstance(layer, (neurons.LIF, neurons.ParametricLIF))
    }
    if not outputs:
        raise ValueError(f"Model {model.name!r} has no LIF or ParametricLIF layer to record.")
    return keras.Model(model.input, outputs)


def spike_counts(model, x, batch_size=64, probe=None, training=False):
    """``{layer name: (spikes, neuron-steps)}`` of the spiking layers on ``x``.

    ``training=True`` runs the layers in training mode (BatchNormalization on batch statistics;
    its moving statistics are updated, so snapshot them first if that matters). The TRT branches
    are never active here.

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> spike_counts(model, np.random.rand(8, 20, 6).astype("float32"))["sn1"][1]   # 8 x 20 x 64
    10240
    """
    probe = probe or spike_probe(model)
    sums, counts = {}, {}
    num = int(keras.tree.flatten(x)[0].shape[0])
    for start in range(0, num, batch_size):
        batch = keras.tree.map_structure(lambda a: a[start : start + batch_size], x)
        with temporal.trt_branches(False):
            out = probe(batch, training=training)
        for name, spikes in out.items():
            spikes = np.asarray(keras.ops.convert_to_numpy(spikes))
            sums[name] = sums.get(name, 0.0) + float(spikes.sum(dtype="float64"))
            counts[name] = counts.get(name, 0) + spikes.size
    return {name: (sums[name], counts[name]) for name in sums}


def firing_rates(model, x, batch_size=64, probe=None, training=False):
    """``{layer name: firing rate}`` of the spiking layers on ``x`` (inference pass by default).

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> rates = firing_rates(model, np.random.rand(8, 20, 6).astype("float32"))
    >>> sorted(rates)
    ['sn1', 'sn2']
    """
    counts = spike_counts(model, x, batch_size=batch_size, probe=probe, training=training)
    return {name: spikes / size for name, (spikes, size) in counts.items()}


class FiringRateLogger(keras.callbacks.Callback):
    """Logs the firing rate of every spiking layer on fixed inputs ``x`` at each epoch end.

    The rates go into the epoch's logs as ``firing_rate/<layer>`` (so ``History``, and a
    ``CSVLogger`` or ``TensorBoard`` listed *after* this callback, record them) and into
    :attr:`history` (``{layer: [rate per epoch]}``). They are measured on the inference pass
    (the plain SNN, also under TRT training).

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> model.compile("adam", trt=keras_trt.TRTConfig())
    >>> x, y = np.random.rand(8, 20, 6).astype("float32"), np.arange(8) % 4
    >>> logger = keras_trt.analysis.FiringRateLogger(x)
    >>> hist = model.fit(x, y, epochs=2, callbacks=[logger], verbose=0)
    >>> len(hist.history["firing_rate/sn1"]), len(logger.history["sn2"])
    (2, 2)
    """

    def __init__(self, x, batch_size=64):
        super().__init__()
        self.x = x
        self.batch_size = int(batch_size)
        self.history = {}
        self._probe = None

    def on_train_begin(self, logs=None):
        self._probe = spike_probe(self.model)

    def on_epoch_end(self, epoch, logs=None):
        rates = firing_rates(self.model, self.x, self.batch_size, probe=self._probe)
        for name, rate in rates.items():
            self.history.setdefault(name, []).append(rate)
            if logs is not None:
                logs[f"firing_rate/{name}"] = rate
