"""Export to NIR, the Neuromorphic Intermediate Representation: :func:`to_nir`.

NIR describes one time step of a network: channel-first tensors without batch or time axes
(convolution weights ``[Cout, Cin, kh, kw]``, affine ``[out, in]``), neurons with per-neuron
parameters, and edges; several edges into one node are summed. The mapping from keras-trt:

- ``Conv2D`` -> ``nir.Conv2d`` (symmetric padding only: Keras ``"same"`` whenever it pads
  evenly, plus a preceding ``ZeroPadding2D``), ``Dense`` -> ``nir.Affine`` / ``nir.Linear``;
  a ``BatchNormalization`` right after one is folded into its weights and bias.
- ``LIF`` (hard reset) -> ``nir.LIF(tau=tau*dt, r=1 if decay_input else tau,
  v_leak=v_reset, v_reset=v_reset, v_threshold)``, SpikingJelly 2.0's own mapping of its
  ``LIFNode``; a ``ParametricLIF`` exports as the LIF with its current ``tau = 1/sigmoid(w)``.
- ``AveragePooling2D`` (``"valid"``) -> ``nir.AvgPool2d``; ``GlobalAveragePooling2D`` ->
  ``nir.AvgPool2d`` over the whole map + ``nir.Flatten``; ``Flatten`` -> ``nir.Flatten`` of
  the channel-first tensor, with the next Dense's columns permuted (Keras flattens
  channels-last).
- ``Add`` (residual connections of spiking and SEW ResNets): no node, its inputs' edges go
  straight to every consumer, which sums them.
- ``RepeatTime`` (the graph's input is the image, fed at every step), ``TemporalReversal``
  (identity at inference), ``Dropout``: no node. ``StarProduct`` / ``FiringRate`` (the mean over
  T): no node, so the classifier after it runs at every step; **the model's logits are the mean
  over the T steps of the graph's outputs** (the same for a linear classifier).

Refused with an error that says why: soft reset (NIR's reset is to ``v_reset``), max pooling
(no NIR node), SEW ``and``/``iand`` (``Multiply``/``Subtract``), asymmetric padding, grouped
or dilated-by-``"same"`` convolutions that cannot be expressed, and any other layer.

NIR, snnTorch and Norse fire on ``v > threshold``; SpikingJelly and keras-trt on ``v >=
threshold``. They agree except on exact ties.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_trt import _graph, neurons, temporal

_PASS_THROUGH = (temporal.RepeatTime, temporal.TemporalReversal)
_RATE = (temporal.StarProduct, temporal.FiringRate)


class NIRExportError(ValueError):
    """A layer or setting that NIR cannot express."""


@dataclasses.dataclass
class _Value:
    """What a Keras tensor is in the NIR graph: the sum of ``sources``' outputs at one step."""

    sources: tuple  # NIR node names whose outputs add up to this tensor
    shape: tuple  # per-step shape, channels-last (Keras)
    perm: np.ndarray | None = None  # 1-D features: NIR index i holds Keras feature perm[i]
    padding: tuple | None = None  # a pending ZeroPadding2D ((top, bottom), (left, right))
    rate: bool = False  # after the mean over T: only linear layers may follow


def to_nir(model, dt=1e-4):
    """Exports a keras-trt model's inference pass as a ``nir.NIRGraph`` (one time step).

    Args:
        model: a functional keras-trt model (the :mod:`keras_trt.models` builders, zoo models)
            of the layers listed in :mod:`keras_trt.export.to_nir`.
        dt: the time step in seconds that NIR's continuous time constants refer to
            (``tau_nir = tau * dt``); import with the same ``dt``.

    Returns:
        A ``nir.NIRGraph`` with one ``input`` node (the per-step input, channel-first: the
        image itself for a model that repeats a static image) and one ``output`` node (the
        classifier's per-step output: average it over the T steps to get the model's logits).

    Raises:
        NIRExportError: for what NIR cannot express (soft reset, max pooling, ...).
        ImportError: without the ``nir`` package (``pip install "keras-trt[export]"``).

    >>> import keras_trt, nir
    >>> model = keras_trt.zoo.load("smlp-basicmotions-t20")
    >>> graph = keras_trt.export.to_nir(model)
    >>> sorted(graph.nodes)[:3]
    ['classifier', 'fc1', 'fc2']
    >>> nir.write("smlp.nir", graph)                                 # doctest: +SKIP
    """
    try:
        import nir
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError('to_nir needs the nir package: pip install "keras-trt[export]".') from error
    if not dt > 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise NIRExportError("to_nir exports models with one input and one output.")
    nodes = _graph.functional_nodes(model, "to_nir")
    _refuse_attention(nodes)
    consumers = {}
    for layer, inputs, _ in nodes:
        for t in inputs:
            consumers.setdefault(id(t), []).append(layer)

    builder = _Builder(nir, dt, consumers)
    (x,) = model.inputs
    static = any(isinstance(c, temporal.RepeatTime) for c in consumers.get(id(x), []))
    in_shape = tuple(x.shape[1:]) if static else tuple(x.shape[2:])
    builder.values[id(x)] = _Value(("input",), in_shape)
    builder.specs["input"] = nir.Input(input_type=np.array(_channels_first(in_shape)))
    for layer, inputs, outputs in nodes:
        builder.add(layer, inputs, outputs)
    out = builder.values[id(model.outputs[0])]
    if out.perm is not None and not np.array_equal(out.perm, np.arange(len(out.perm))):
        raise NIRExportError("The model's output is a flattened feature map; end it with a Dense layer.")
    builder.specs["output"] = nir.Output(output_type=np.array(_channels_first(out.shape)))
    builder.edges.extend((s, "output") for s in out.sources)
    return nir.NIRGraph(nodes=builder.finish(), edges=builder.edges)


def _channels_first(shape):
    shape = tuple(int(d) for d in shape)
    return (shape[-1],) + shape[:-1] if len(shape) > 1 else shape


class _Builder:
    def __init__(self, nir, dt, consumers):
        self.nir, self.dt, self.consumers = nir, dt, consumers
        self.values = {}  # id(KerasTensor) -> _Value
        self.specs = {}  # node name -> NIR node, or a dict for an affine/conv awaiting BN folding
        self.edges = []

    def finish(self):
        nir = self.nir
        out = {}
        for name, spec in self.specs.items():
            if not isinstance(spec, dict):
                out[name] = spec
                continue
            weight = spec["weight"].astype("float32")
            bias = None if spec["bias"] is None else spec["bias"].astype("float32")
            if spec["kind"] == "conv":
                out[name] = nir.Conv2d(
                    input_shape=spec["input_shape"], weight=weight, stride=spec["stride"],
                    padding=spec["padding"], dilation=spec["dilation"], groups=1,
                    bias=np.zeros(weight.shape[0], "float32") if bias is None else bias,
                )
            elif bias is None:
                out[name] = nir.Linear(weight=weight)
            else:
                out[name] = nir.Affine(weight=weight, bias=bias)
        return out

    def connect(self, value, name):
        self.edges.extend((s, name) for s in value.sources)

    def add(self, layer, inputs, outputs):
        inner = _graph.inner_layer(layer)
        ins = [self.values[id(t)] for t in inputs]
        (out_tensor,) = outputs
        where = f"Layer {layer.name!r} ({type(inner).__name__})"
        if isinstance(inner, keras.layers.ZeroPadding2D) or ins[0].padding is not None:
            if not isinstance(inner, (keras.layers.ZeroPadding2D, keras.layers.Conv2D)):
                raise NIRExportError(f"{where} follows a ZeroPadding2D: NIR pads only inside a convolution.")
        if isinstance(inner, _PASS_THROUGH) or isinstance(inner, keras.layers.Dropout):
            value = ins[0]
            if isinstance(inner, temporal.RepeatTime):
                value = dataclasses.replace(value)  # the per-step input is the image itself
        elif isinstance(inner, _RATE):
            value = dataclasses.replace(ins[0], rate=True)
        elif isinstance(inner, keras.layers.ZeroPadding2D):
            value = self._zero_padding(inner, ins[0], out_tensor, where)
        elif isinstance(inner, keras.layers.Conv2D):
            value = self._conv(layer, inner, ins[0], out_tensor, where)
        elif isinstance(inner, keras.layers.Dense):
            value = self._dense(layer, inner, ins[0], out_tensor, where)
        elif isinstance(inner, keras.layers.BatchNormalization):
            value = self._fold_batch_norm(inner, inputs[0], ins[0], where)
        elif isinstance(inner, (neurons.LIF, neurons.ParametricLIF)):
            value = self._lif(layer, ins[0], where)
        elif isinstance(inner, keras.layers.Add):
            value = self._add(ins, where)
        elif isinstance(inner, (keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D)):
            value = self._avg_pool(layer, inner, ins[0], out_tensor, where)
        elif isinstance(inner, keras.layers.Flatten):
            value = self._flatten(layer, ins[0], where)
        else:
            raise NIRExportError(_unsupported(where, inner))
        if isinstance(inner, (_RATE, keras.layers.Dense, keras.layers.Dropout) + _PASS_THROUGH):
            pass
        elif any(v.rate for v in ins):
            raise NIRExportError(
                f"{where} follows the firing rate (StarProduct/FiringRate): NIR runs every layer "
                "at every step, so only linear layers (Dense) may come after the mean over T."
            )
        self.values[id(out_tensor)] = value

    def _zero_padding(self, inner, value, out_tensor, where):
        (top, bottom), (left, right) = inner.padding
        if inner.data_format != "channels_last":
            raise NIRExportError(f"{where}: only channels_last is supported.")
        return dataclasses.replace(value, shape=tuple(out_tensor.shape[2:]), padding=((top, bottom), (left, right)))

    def _conv(self, layer, inner, value, out_tensor, where):
        if inner.data_format != "channels_last" or inner.groups != 1:
            raise NIRExportError(f"{where}: NIR export needs channels_last, ungrouped convolutions.")
        if inner.activation is not keras.activations.linear:
            raise NIRExportError(f"{where}: NIR's Conv2d has no activation; use activation=None.")
        kernel = np.asarray(keras.ops.convert_to_numpy(inner.kernel), "float64")
        pending = value.padding or ((0, 0), (0, 0))
        in_shape = tuple(int(d) for d in value.shape[:2])
        if value.padding is not None:  # the conv's own input is the padded map
            in_shape = (in_shape[0] - sum(pending[0]), in_shape[1] - sum(pending[1]))
        padded = tuple(int(d) for d in value.shape[:2])
        padding = []
        for axis in range(2):
            before, after = pending[axis]
            if inner.padding == "same":
                k = (kernel.shape[axis] - 1) * inner.dilation_rate[axis] + 1
                out = -(-padded[axis] // inner.strides[axis])
                total = max((out - 1) * inner.strides[axis] + k - padded[axis], 0)
                before, after = before + total // 2, after + total - total // 2
            if before != after:
                raise NIRExportError(
                    f"{where}: its padding is asymmetric ({before} before, {after} after along "
                    f"axis {axis}; Keras 'same' with stride {inner.strides[axis]} pads the extra pixel "
                    "after), which NIR's symmetric padding cannot express. Use an explicit "
                    "ZeroPadding2D and padding='valid', as the keras_trt.models builders do."
                )
            padding.append(before)
        self.specs[layer.name] = dict(
            kind="conv", weight=kernel.transpose(3, 2, 0, 1),
            bias=_bias(inner), input_shape=in_shape, stride=tuple(inner.strides),
            padding=tuple(padding), dilation=tuple(inner.dilation_rate),
        )
        if value.perm is not None:
            raise NIRExportError(f"{where} follows a Flatten.")
        self.connect(value, layer.name)
        return _Value((layer.name,), tuple(out_tensor.shape[2:]))

    def _dense(self, layer, inner, value, out_tensor, where):
        if len(value.shape) != 1:
            raise NIRExportError(
                f"{where} acts on per-step features of shape {value.shape}; NIR's Affine takes a "
                "vector per step. Flatten or pool first."
            )
        if inner.activation is not keras.activations.linear:
            raise NIRExportError(f"{where}: NIR's Affine has no activation; use activation=None.")
        weight = np.asarray(keras.ops.convert_to_numpy(inner.kernel), "float64").T  # [out, in]
        if value.perm is not None:
            weight = weight[:, value.perm]
        self.specs[layer.name] = dict(kind="dense", weight=weight, bias=_bias(inner))
        self.connect(value, layer.name)
        shape = tuple(out_tensor.shape[2:]) if len(out_tensor.shape) > 2 and not value.rate else tuple(out_tensor.shape[1:])
        return _Value((layer.name,), shape, rate=value.rate)

    def _fold_batch_norm(self, inner, in_tensor, value, where):
        producer = value.sources[0] if len(value.sources) == 1 else None
        spec = self.specs.get(producer)
        if not isinstance(spec, dict) or len(self.consumers.get(id(in_tensor), [])) != 1:
            raise NIRExportError(
                f"{where}: NIR has no BatchNormalization node; it is folded into the Conv2D or "
                "Dense right before it, and here there is none (or its output is used elsewhere)."
            )
        if inner.axis not in (-1, len(in_tensor.shape) - 1):
            raise NIRExportError(f"{where}: only BatchNormalization over the last (channel) axis folds.")
        def array(variable):
            return np.asarray(keras.ops.convert_to_numpy(variable), "float64")

        gamma = array(inner.gamma) if inner.scale else 1.0
        beta = array(inner.beta) if inner.center else 0.0
        scale = gamma / np.sqrt(array(inner.moving_variance) + inner.epsilon)
        bias = spec["bias"] if spec["bias"] is not None else 0.0
        spec["weight"] = spec["weight"] * scale.reshape((-1,) + (1,) * (spec["weight"].ndim - 1))
        spec["bias"] = (bias - array(inner.moving_mean)) * scale + beta
        return value

    def _lif(self, layer, value, where):
        if layer.v_reset is None:
            raise NIRExportError(
                f"{where}: soft (subtractive) reset; NIR's LIF resets to v_reset. Use a hard "
                "reset (v_reset=0.0) to export."
            )
        if isinstance(layer, neurons.ParametricLIF):
            tau = 1.0 / float(keras.ops.convert_to_numpy(keras.ops.sigmoid(layer.w)))
        else:
            tau = layer.tau
        shape = _channels_first(value.shape)
        full = lambda v: np.full(shape, v, dtype="float32")  # noqa: E731
        self.specs[layer.name] = self.nir.LIF(
            tau=full(tau * self.dt), r=full(1.0 if layer.decay_input else tau),
            v_leak=full(layer.v_reset), v_threshold=full(layer.v_threshold), v_reset=full(layer.v_reset),
        )
        self.connect(value, layer.name)
        return _Value((layer.name,), value.shape, perm=value.perm)

    def _add(self, ins, where):
        sources = tuple(s for v in ins for s in v.sources)
        if len(set(sources)) != len(sources):
            raise NIRExportError(f"{where} adds a tensor to itself; NIR edges cannot carry a weight of 2.")
        first = ins[0]
        if any(v.rate != first.rate or (v.perm is None) != (first.perm is None) for v in ins):
            raise NIRExportError(f"{where} adds tensors of different layouts.")
        return _Value(sources, first.shape, perm=first.perm, rate=first.rate)

    def _avg_pool(self, layer, inner, value, out_tensor, where):
        if inner.data_format != "channels_last":
            raise NIRExportError(f"{where}: only channels_last is supported.")
        height, width = value.shape[:2]
        if isinstance(inner, keras.layers.GlobalAveragePooling2D):
            kernel = stride = (height, width)
        else:
            if inner.padding != "valid":
                raise NIRExportError(f"{where}: NIR average pooling is exported with padding='valid' only.")
            kernel, stride = tuple(inner.pool_size), tuple(inner.strides)
        nir = self.nir
        self.specs[layer.name] = nir.AvgPool2d(
            kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array([0, 0]))
        self.connect(value, layer.name)
        out_h = (height - kernel[0]) // stride[0] + 1
        out_w = (width - kernel[1]) // stride[1] + 1
        channels = value.shape[-1]
        pooled = _Value((layer.name,), (out_h, out_w, channels))
        if isinstance(inner, keras.layers.GlobalAveragePooling2D) and not inner.keepdims:
            name = f"{layer.name}_flatten"
            self.specs[name] = nir.Flatten(input_type=np.array([channels, 1, 1]), start_dim=0, end_dim=-1)
            self.connect(pooled, name)
            return _Value((name,), (channels,))
        return pooled

    def _flatten(self, layer, value, where):
        if len(value.shape) == 1:
            return value
        if value.perm is not None:
            raise NIRExportError(f"{where}: flattening twice is not supported.")
        cf = _channels_first(value.shape)
        self.specs[layer.name] = self.nir.Flatten(input_type=np.array(cf), start_dim=0, end_dim=-1)
        self.connect(value, layer.name)
        # NIR flattens (C, H, W); Keras flattened (H, W, C): NIR feature i is Keras feature perm[i].
        perm = np.arange(int(np.prod(value.shape))).reshape(value.shape)
        perm = np.moveaxis(perm, -1, 0).ravel()
        return _Value((layer.name,), (perm.size,), perm=perm)


def _refuse_attention(nodes):
    """Transformers are refused up front, naming their first attention layer (not the stem's
    max-pool that the walk would reach first)."""
    from keras_trt.transformer_layers import ATTENTION_LAYERS

    for layer, _, _ in nodes:
        inner = _graph.inner_layer(layer)
        if isinstance(inner, ATTENTION_LAYERS):
            raise NIRExportError(
                f"Layer {layer.name!r} ({type(inner).__name__}) is spiking attention, a product of two "
                "spike tensors computed at every step: NIR has no product node, so the spiking transformers "
                "do not export to NIR. Export them to ONNX instead: model.export('model.onnx', format='onnx')."
            )


def _bias(inner):
    if not inner.use_bias:
        return None
    return np.asarray(keras.ops.convert_to_numpy(inner.bias), "float64")


def _unsupported(where, inner):
    if isinstance(inner, (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
                          keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D)):
        return f"{where}: NIR has no max-pooling node. Use average pooling to export to NIR."
    if isinstance(inner, (keras.layers.Multiply, keras.layers.Subtract)):
        return (f"{where}: NIR sums the edges into a node and has no product or difference node "
                "(SEW-ResNet 'and'/'iand'); sew_function='add' exports.")
    return (f"{where}: not expressible in NIR by keras_trt.export.to_nir, which exports Conv2D, "
            "Dense, BatchNormalization (folded), LIF/ParametricLIF (hard reset), Add, "
            "AveragePooling2D, GlobalAveragePooling2D, Flatten, ZeroPadding2D (into the next "
            "Conv2D), RepeatTime, TemporalReversal, StarProduct/FiringRate and Dropout.")
