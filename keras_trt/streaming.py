"""Streaming: any keras-trt model run step by step on live input, its state carried across calls.

A keras-trt model takes a whole sequence ``[B, T, ...]`` and forgets everything between calls.
:class:`Stream` runs the same model (the same layers and weights, no copy) on ``k >= 1`` new
steps at a time and carries every neuron's membrane and every running readout to the next call:

- **Temporal models** (time series, event frames; no :class:`~keras_trt.layers.RepeatTime`):
  a chunk is ``[B, k, ...]``, the next ``k`` steps of the input.
- **Static-input models** (images, point clouds; the graph repeats the input with
  ``RepeatTime``): a chunk is the frame ``[B, ...]`` and ``steps=k`` says for how many steps it
  is shown (default 1). A chunk ``[B, k, ...]`` (one frame per step, e.g. live video) is taken
  too when the input feeds only ``RepeatTime``.

Each call returns the model's output after each of the ``k`` new steps, ``[B, k, *output]``,
computed from the readouts so far: a :class:`~keras_trt.layers.StarProduct` or
:class:`~keras_trt.layers.FiringRate` (the firing rate, ``mean_t S[t]`` at inference) becomes a
running mean over the steps each row has seen, and the layers after it (the classifier) are
applied to it at every step. After ``T`` steps the output equals ``model.predict`` on the whole
sequence. Streams may run past ``T`` (the running mean goes on).

Two forms, the same computation:

- Keras-stateful: ``stream = Stream(model, batch_size=B)`` keeps the state in non-trainable
  variables of a fixed batch size (Keras RNNs' ``stateful=True``); ``stream(chunk)`` advances
  it; ``stream.reset_state()`` starts new streams, ``stream.reset_state(rows=[2])`` only row 2.
- Pure: ``outputs, state = stream.step(state, chunk)`` with ``state = stream.initial_state(B)``,
  a dict of tensors, for JAX ``jit``/``scan`` and for export (:func:`export_step_onnx`).

How the graph is run (the model's own functional graph, walked node by node):
``TimeFolded`` layers run on the folded chunk ``[B*k, ...]`` (inference mode: BatchNorm's
moving statistics, no dropout); LIF / ParametricLIF layers start from the carried membrane and
hand back the last one; ``TemporalReversal`` is the identity (as at inference); elementwise
merges (``Add``, ...) apply to the chunk. Before the first neuron, a repeated static input is
constant over time, so the stem runs once per frame, not once per step. Any other layer that sees
the time axis (``Reshape``, ``Permute``, ``Dot``: the PointNet input transform) runs on the
chunk laid out as a whole ``T``-step sequence, which is right only if it treats every step alone:
that is checked when the stream is made (the layers must commute with a shuffle of the steps),
and a layer that mixes steps is refused with its name.

>>> import numpy as np, keras_trt
>>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
>>> x = np.random.default_rng(0).normal(size=(2, 6, 5)).astype("float32")
>>> stream = keras_trt.streaming.Stream(model, batch_size=2)
>>> first = stream(x[:, :4])                       # four steps: the output after each
>>> tuple(first.shape)
(2, 4, 3)
>>> last = stream(x[:, 4:])                        # two more: the whole recording
>>> bool(np.allclose(last[:, -1], model.predict(x, verbose=0), atol=1e-6))
True
>>> stream.reset_state(rows=[1])                   # row 1 starts a new recording
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

import keras
from keras import ops

from keras_trt import _fastpath, _graph
from keras_trt.neurons import _LIFBase, charge
from keras_trt.temporal import (
    FiringRate,
    RepeatTime,
    StarProduct,
    TemporalReversal,
    TimeFolded,
    fold_time,
    unfold_time,
)

# Forms of a tensor during a streamed call (the original graph's tensor, as the chunk has it).
UNTIMED = "untimed"  # no time axis in the model either (the static input before RepeatTime)
CONST = "const"      # time axis in the model, constant over time: held as [B, ...]
CHUNK = "chunk"      # [B, k, ...]: the k new steps
LAYOUT = "layout"    # inside a "layout" region: a list of pieces, each laid out as T steps
READOUT = "readout"  # after a running readout (or the head): [B, k, ...], one value per step

# Layers that act on each element alone: they run on the chunk as on the whole sequence.
_ELEMENTWISE = (
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Activation, keras.layers.ReLU,
    keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.Softmax, keras.layers.Dropout,
    keras.layers.Identity,
)
_STEP_COUNT = "steps"


class StreamingError(ValueError):
    """A model or a chunk that cannot be streamed; the message names the fix."""


class _Node:
    __slots__ = ("layer", "inputs", "outputs", "kind", "key", "region")

    def __init__(self, layer, inputs, outputs):
        self.layer, self.inputs, self.outputs = layer, inputs, outputs
        self.kind = self.key = self.region = None


class Stream(keras.layers.Layer):
    """A streaming form of ``model``: see the module docstring for the chunk format.

    Args:
        model: a functional keras-trt model (any :mod:`keras_trt.models` builder, any zoo
            preset). Its layers and weights are shared, not copied.
        batch_size: the fixed number of streams (rows) of the stateful form; ``None`` to use
            only the pure form (:meth:`step`).
        compile: run the step compiled (``jax.jit`` on JAX, ``tf.function`` on TensorFlow;
            torch runs eagerly without autograd). The same numbers either way.

    The state (non-trainable variables, one per neuron node and readout, plus the per-row step
    count ``steps``) is :attr:`state_variables`; :meth:`initial_state` gives the same as tensors.
    """

    def __init__(self, model, batch_size=None, compile=True, **kwargs):
        kwargs.setdefault("name", f"{getattr(model, 'name', 'model')}_stream")
        super().__init__(trainable=False, **kwargs)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer (the number of streams) or None, got {batch_size!r}.")
        object.__setattr__(self, "model", model)  # shared, not tracked as a sub-layer of the stream
        self.compile = bool(compile)
        self._plan(model)
        self.batch_size = batch_size
        self._compiled = {}
        self.state_variables = {}
        if batch_size is not None:
            for key, value in self.initial_state(batch_size).items():
                self.state_variables[key] = self.add_weight(
                    name=key.replace("/", "_"), shape=tuple(value.shape), dtype=value.dtype,
                    initializer="zeros", trainable=False)
            self.reset_state()
        self.built = True

    # ----- the plan: what each node of the graph becomes when streamed -----------------------

    def _plan(self, model):
        if not isinstance(model, keras.Model):
            raise TypeError(f"Stream needs a keras.Model, got {type(model).__name__}.")
        nodes = [_Node(*n) for n in _graph.functional_nodes(model, "Stream")]
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise StreamingError(
                f"Stream supports models with one input and one output; {model.name!r} has "
                f"{len(model.inputs)} and {len(model.outputs)}. Fix: stream a single-input, single-output "
                "sub-model (keras.Model(input, output) over its layers).")
        self.input_tensor = model.inputs[0]
        self.static_input = any(isinstance(n.layer, RepeatTime) for n in nodes)
        timesteps = None
        timed = set() if self.static_input else {id(self.input_tensor)}
        const = set()  # timed, but constant over time: a repeated static input before any neuron
        readout = set()
        producer = {}
        for index, node in enumerate(nodes):
            layer = node.layer
            for t in node.outputs:
                producer[id(t)] = node
            ins_timed = [id(t) in timed for t in node.inputs]
            ins_readout = [id(t) in readout for t in node.inputs]
            if isinstance(layer, RepeatTime):
                if any(ins_timed):
                    raise StreamingError(f"RepeatTime {layer.name!r} repeats a tensor that already has a time axis.")
                node.kind = "repeat"
            elif not any(ins_timed) and not any(ins_readout):
                node.kind = "untimed"
            elif any(ins_readout):
                if any(t and not r for t, r in zip(ins_timed, ins_readout)):
                    raise StreamingError(
                        f"Layer {layer.name!r} ({type(layer).__name__}) combines a time-averaged readout with "
                        "per-step tensors, which cannot be streamed. Fix: apply the readout (StarProduct / "
                        "FiringRate) after every per-step layer.")
                if isinstance(layer, (_LIFBase, FiringRate, StarProduct, RepeatTime)):
                    raise StreamingError(
                        f"Layer {layer.name!r} ({type(layer).__name__}) comes after a time-averaged readout; "
                        "a stream can only apply stateless layers (the classifier) to the readout.")
                node.kind = "head"
            elif isinstance(layer, _LIFBase):
                node.kind = "neuron"
            elif isinstance(layer, TimeFolded):
                node.kind = "fold"
            elif isinstance(layer, TemporalReversal):
                node.kind = "identity"
            elif isinstance(layer, (FiringRate, StarProduct)):
                # The time mean of a constant is the constant: no state (PointNet's points_static).
                node.kind = "const_readout" if id(node.inputs[0]) in const else "readout"
            elif isinstance(layer, _ELEMENTWISE) or (
                isinstance(layer, keras.layers.Concatenate) and _axis(layer.axis, node.inputs[0]) != 1
            ):
                node.kind = "elementwise"
            else:
                node.kind = "layout"
            if node.kind in ("repeat", "neuron", "fold", "identity", "elementwise", "layout"):
                timed.update(id(t) for t in node.outputs)
            if node.kind in ("readout", "head"):
                readout.update(id(t) for t in node.outputs)
            if node.kind == "repeat" or (
                node.kind in ("fold", "identity", "elementwise") and all(id(t) in const for t in node.inputs)
            ):
                const.update(id(t) for t in node.outputs)
            if node.kind in ("repeat", "neuron", "fold", "readout"):
                steps = (node.outputs if node.kind == "repeat" else node.inputs)[0].shape[1]
                timesteps = timesteps or steps
            if node.kind == "neuron":
                node.key = f"{layer.name}/membrane"
            elif node.kind == "readout":
                node.key = f"{layer.name}/sum"
            if node.key is not None and sum(n.key == node.key for n in nodes[:index]):
                node.key = f"{node.key}{index}"  # a layer applied twice: one state per application
        self.nodes = nodes
        self.timesteps = timesteps or 1
        self._check_layout_regions(producer, timed)

    def _check_layout_regions(self, producer, timed):
        """Groups the ``layout`` nodes into connected regions and checks each treats steps alone."""
        layout = [n for n in self.nodes if n.kind == "layout"]
        region_of = {}
        for node in layout:
            joined = {region_of[id(producer[id(t)])] for t in node.inputs
                      if id(t) in producer and producer[id(t)].kind == "layout"}
            region = min(joined) if joined else len(set(region_of.values()) | {-1})
            for other in layout:
                if region_of.get(id(other)) in joined:
                    region_of[id(other)] = region
            region_of[id(node)] = region
        regions = {}
        for node in layout:
            node.region = region_of[id(node)]
            regions.setdefault(node.region, []).append(node)
        consumers = {}
        for node in self.nodes:
            for t in node.inputs:
                consumers.setdefault(id(t), []).append(node)
        output_ids = {id(self.model.outputs[0])}
        for members in regions.values():
            _check_region(members, consumers, output_ids, self.timesteps, timed)

    # ----- state --------------------------------------------------------------------------------

    def state_shapes(self):
        """``{key: shape without batch}`` of the carried state."""
        shapes = {}
        for node in self.nodes:
            if node.kind == "neuron":
                shapes[node.key] = tuple(node.inputs[0].shape[2:])
            elif node.kind == "readout":
                shapes[node.key] = tuple(node.inputs[0].shape[2:])
        shapes[_STEP_COUNT] = ()
        return shapes

    def state_keys(self):
        """The state's keys in a fixed order (the export's input and output order)."""
        return list(self.state_shapes())

    def initial_state(self, batch_size):
        """The state of ``batch_size`` new streams: ``{key: tensor [batch_size, ...]}``.

        A membrane starts at its neuron's ``v_reset`` (0 for a soft reset), a running sum at 0,
        the step count ``steps`` at 0.
        """
        state = {}
        for node in self.nodes:
            if node.kind in ("neuron", "readout"):
                shape = (batch_size,) + tuple(node.inputs[0].shape[2:])
                rest = (node.layer.v_reset or 0.0) if node.kind == "neuron" else 0.0
                state[node.key] = ops.full(shape, rest, dtype="float32")
        state[_STEP_COUNT] = ops.zeros((batch_size,), dtype="float32")
        return state

    def reset(self, state, rows=None):
        """The pure form of :meth:`reset_state`: ``state`` with ``rows`` (all when None) new."""
        batch = int(state[_STEP_COUNT].shape[0])
        fresh = self.initial_state(batch)
        if rows is None:
            return fresh
        mask = np.zeros((batch,), bool)
        mask[_rows(rows, batch)] = True
        out = {}
        for key, value in state.items():
            m = ops.reshape(ops.convert_to_tensor(mask), (batch,) + (1,) * (len(value.shape) - 1))
            out[key] = ops.where(m, fresh[key], value)
        return out

    def reset_state(self, rows=None):
        """Starts new streams: every row, or only ``rows`` (an int or a list of row indices).

        >>> import keras_trt
        >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
        >>> stream = keras_trt.streaming.Stream(model, batch_size=4)
        >>> stream.reset_state(rows=[0, 3])
        """
        if self.batch_size is None:
            raise StreamingError("This Stream has no state of its own (batch_size=None); use reset(state, rows).")
        current = {k: v.value for k, v in self.state_variables.items()}
        for key, value in self.reset(current, rows).items():
            self.state_variables[key].assign(value)

    @property
    def steps_seen(self):
        """Steps each row of the stateful stream has seen since its reset, ``[batch_size]`` ints."""
        return ops.convert_to_numpy(self.state_variables[_STEP_COUNT]).astype(int)

    # ----- calls --------------------------------------------------------------------------------

    def call(self, chunk, steps=None, return_spikes=False):
        """Advances the stateful stream by one chunk; returns the outputs ``[B, k, *output]``
        (with ``return_spikes=True`` also ``{neuron name: spikes [B, k, ...]}``)."""
        if self.batch_size is None:
            raise StreamingError("This Stream was made with batch_size=None: use the pure form, "
                                 "outputs, state = stream.step(state, chunk).")
        state = {k: v.value for k, v in self.state_variables.items()}
        result, new = self.step(state, chunk, steps=steps, return_spikes=return_spikes)
        for key, value in new.items():
            self.state_variables[key].assign(value)
        return result

    def __call__(self, chunk, steps=None, return_spikes=False):
        # Keras' Layer.__call__ would convert, build and trace the chunk; the step checks it.
        return self.call(chunk, steps=steps, return_spikes=return_spikes)

    def step(self, state, chunk, steps=None, return_spikes=False):
        """The pure form: ``outputs, new_state = stream.step(state, chunk)``.

        ``state`` is :meth:`initial_state` or a previous step's; nothing is stored. With
        ``return_spikes=True``, ``outputs`` is ``(outputs, {neuron name: spikes})``. The chunk
        is checked (batch against the state's, feature shape, NaN when its values are at hand);
        the compiled step runs when ``compile=True``.

        >>> import numpy as np, keras_trt
        >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
        >>> stream = keras_trt.streaming.Stream(model)
        >>> state = stream.initial_state(2)
        >>> out, state = stream.step(state, np.zeros((2, 1, 5), "float32"))
        >>> tuple(out.shape), int(state["steps"][0])
        ((2, 1, 3), 1)
        """
        chunk, steps = self._check_chunk(state, chunk, steps)
        fn = self._compiled_step(steps, return_spikes) if self.compile else None
        if fn is None:
            return self.run(state, chunk, steps, return_spikes)
        return fn(state, chunk)

    def _compiled_step(self, steps, return_spikes):
        key = (steps, return_spikes)
        if key in self._compiled:
            return self._compiled[key]
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            variables = list(self.model.variables)

            def pure(values, state, chunk):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return self.run(state, chunk, steps, return_spikes)

            jitted = jax.jit(pure)

            def fn(state, chunk):
                return jitted([v.value for v in variables], state, chunk)
        elif backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(lambda state, chunk: self.run(state, chunk, steps, return_spikes))
        elif backend == "torch":
            import torch

            def fn(state, chunk):
                with torch.no_grad():
                    return self.run(state, chunk, steps, return_spikes)
        else:
            fn = None
        self._compiled[key] = fn
        return fn

    def _check_chunk(self, state, chunk, steps):
        """The chunk as a float tensor and its step count, or a StreamingError naming the fix."""
        if isinstance(chunk, (list, tuple)):
            chunk = np.asarray(chunk)
        shape = tuple(chunk.shape)
        frame = tuple(self.input_tensor.shape[1:])
        batch = int(state[_STEP_COUNT].shape[0])
        if self.static_input:
            if shape[1:] == frame:
                k = 1 if steps is None else steps
            elif shape[2:] == frame and len(shape) == len(frame) + 2:
                if steps is not None and steps != shape[1]:
                    raise StreamingError(f"steps={steps} but the chunk holds {shape[1]} frames; give one or the other.")
                if not self._input_only_repeated():
                    raise StreamingError(
                        f"{self.model.name!r} uses its static input other than through RepeatTime, so a chunk of "
                        f"different frames per step cannot be streamed. Fix: pass one frame {('B',) + frame} with steps=k.")
                k = None  # the frames' own count
            else:
                raise StreamingError(
                    f"{self.model.name!r} repeats a static input of shape {frame}: a chunk is one frame per "
                    f"stream, shape (batch, {', '.join(map(str, frame))}) (with steps=k for k steps), or one frame "
                    f"per step, shape (batch, k, {', '.join(map(str, frame))}); got shape {shape}.")
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise StreamingError(f"steps must be a positive integer (how many steps the frame is shown), got {k!r}.")
        else:
            if steps is not None:
                raise StreamingError(
                    f"steps= is for static-input models; {self.model.name!r} takes its time axis from the data: "
                    "the chunk [batch, k, ...] says how many steps it holds.")
            if len(shape) != len(frame) + 1 or tuple(shape[2:]) != tuple(frame[1:]):
                feat = ", ".join(map(str, frame[1:]))
                raise StreamingError(
                    f"{self.model.name!r} takes chunks of shape (batch, k, {feat}) (k >= 1 new steps of the "
                    f"{tuple(frame[1:])}-shaped step the model was built for), got shape {shape}."
                    + (f" For one step, add the time axis: chunk[:, None]." if tuple(shape[1:]) == tuple(frame[1:]) else ""))
            if shape[1] == 0 or shape[1] is None:
                raise StreamingError(f"A chunk must hold at least one step (shape (batch, k >= 1, ...)), got {shape}.")
            k = None
        if shape[0] != batch:
            raise StreamingError(
                f"The chunk has {shape[0]} rows but the stream has {batch} (one per stream, fixed). Fix: pad the "
                f"chunk to {batch} rows (and ignore their outputs), or make a Stream with batch_size={shape[0]}.")
        if _is_concrete(chunk):
            values = ops.convert_to_numpy(chunk)
            if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values)):
                bad = np.argwhere(~np.isfinite(values))[0]
                raise StreamingError(
                    f"The chunk holds NaN or infinite values (first at index {tuple(int(i) for i in bad)}); they would "
                    "corrupt the carried membranes for the rest of the stream. Fix: replace them "
                    "(e.g. np.nan_to_num, or the last good sample) before streaming, or reset_state(rows) after.")
        chunk = ops.convert_to_tensor(chunk)
        if not keras.backend.standardize_dtype(chunk.dtype).startswith(("float", "bfloat")):
            chunk = ops.cast(chunk, "float32")
        return chunk, k

    def _input_only_repeated(self):
        return all(n.kind == "repeat" for n in self.nodes if any(t is self.input_tensor for t in n.inputs)) and not any(
            n.kind == "const_readout" for n in self.nodes)

    # ----- the streamed graph -------------------------------------------------------------------

    def run(self, state, chunk, steps, return_spikes=False):
        """One chunk through the graph (no checks, nothing compiled): ``(outputs, new_state)``."""
        count = state[_STEP_COUNT]
        per_row = [None]  # the number of steps each row has seen after each new step: [B, k]
        new_state = {}
        spikes = {}
        values = {}  # id(KerasTensor) -> (form, value)
        frames_mode = self.static_input and steps is None
        if self.static_input:
            values[id(self.input_tensor)] = (UNTIMED, chunk)
            k = chunk.shape[1] if frames_mode else steps
        else:
            values[id(self.input_tensor)] = (CHUNK, chunk)
            k = chunk.shape[1]
        pieces = _pieces(k, self.timesteps)

        def counts():
            if per_row[0] is None:
                per_row[0] = ops.expand_dims(count, 1) + ops.arange(1, k + 1, dtype=count.dtype)
            return per_row[0]

        for node in self.nodes:
            layer, kind = node.layer, node.kind
            ins = [values[id(t)] for t in node.inputs]
            if kind == "untimed":
                out = (UNTIMED, _call(layer, [v for _, v in ins]))
            elif kind == "repeat":
                (form, v), = ins
                out = (CHUNK, v) if frames_mode else (CONST, v)
            elif kind == "identity":
                out = ins[0]
            elif kind == "fold":
                (form, v), = ins
                if form == CONST:
                    out = (CONST, layer._call_folded(v, False))
                else:
                    v = _as_chunk(form, v, k, pieces)
                    out = (CHUNK, unfold_time(layer._call_folded(fold_time(v), False), k))
            elif kind == "elementwise":
                forms = [f for f, _ in ins]
                if all(f == CONST for f in forms):
                    out = (CONST, _call(layer, [v for _, v in ins]))
                else:
                    out = (CHUNK, _call(layer, [_as_chunk(f, v, k, pieces) for f, v in ins]))
            elif kind == "neuron":
                (form, v), = ins
                v = _as_chunk(form, v, k, pieces)
                s, membrane = lif_chunk(layer, v, state[node.key])
                new_state[node.key] = membrane
                spikes[layer.name] = s
                out = (CHUNK, s)
            elif kind == "const_readout":
                (form, v), = ins
                out = (UNTIMED, v)
            elif kind == "readout":
                (form, v), = ins
                v = ops.cast(_as_chunk(form, v, k, pieces), "float32")
                total, running = state[node.key], []
                for t in range(k):  # a running sum, step by step as the state carries it
                    total = total + v[:, t]
                    running.append(total)
                new_state[node.key] = total
                n = ops.reshape(counts(), tuple(counts().shape) + (1,) * (len(v.shape) - 2))
                out = (READOUT, ops.cast(ops.stack(running, axis=1) / n, layer.compute_dtype))
            elif kind == "head":
                args = [v for _, v in ins]
                folded = _call(layer, [fold_time(a) for a in args])
                out = (READOUT, unfold_time(folded, k))
            elif kind == "layout":
                out = (LAYOUT, [_call(layer, [_as_layout(f, v, i, pieces, self.timesteps) for f, v in ins])
                                for i in range(len(pieces))])
            else:  # pragma: no cover - every kind is handled above
                raise AssertionError(kind)
            for t, o in zip(node.outputs, _split_outputs(out, len(node.outputs))):
                values[id(t)] = o
        form, v = values[id(self.model.outputs[0])]
        if form in (UNTIMED,):
            v = ops.repeat(ops.expand_dims(v, 1), k, axis=1)
        elif form != READOUT:
            v = _as_chunk(form, v, k, pieces)
        new_state[_STEP_COUNT] = count + k
        for key in state:
            new_state.setdefault(key, state[key])
        return ((v, spikes) if return_spikes else v), new_state

    # ----- conveniences ------------------------------------------------------------------------

    def run_sequence(self, x, chunk_size=1, steps=None):
        """Streams a whole batch ``x`` from new streams in chunks of ``chunk_size`` steps (pure
        form, nothing stored); returns the outputs after every step, ``[B, T, *output]``.

        For a temporal model ``x`` is ``[B, T, ...]``; for a static-input model ``x`` is the frame
        ``[B, ...]`` shown for ``steps`` steps (default: the model's ``T``).
        """
        x = ops.convert_to_numpy(x) if not isinstance(x, np.ndarray) else x
        state = self.initial_state(x.shape[0])
        outs = []
        if self.static_input:
            total = self.timesteps if steps is None else steps
            for start in range(0, total, chunk_size):
                out, state = self.step(state, x, steps=min(chunk_size, total - start))
                outs.append(ops.convert_to_numpy(out))
        else:
            for start in range(0, x.shape[1], chunk_size):
                out, state = self.step(state, x[:, start:start + chunk_size])
                outs.append(ops.convert_to_numpy(out))
        return np.concatenate(outs, axis=1)


class _StepModel(keras.Model):
    """``(chunk, *state) -> (outputs, *new_state)``: one streamed step as a Keras model, so that
    Keras' exporters see the state as explicit inputs and outputs."""

    def __init__(self, stream, keys, steps, **kwargs):
        super().__init__(**kwargs)
        self.net = stream.model  # tracked: its variables are the exported weights
        object.__setattr__(self, "_stream", stream)
        self._keys, self._steps = list(keys), steps

    def call(self, inputs):
        chunk, *states = inputs
        out, new = self._stream.run(dict(zip(self._keys, states)), chunk, self._steps)
        return [out] + [new[k] for k in self._keys]


def export_step_onnx(stream, path, batch_size=1, steps=1):
    """Writes the one-step model to ONNX with the state as explicit inputs and outputs.

    Inputs, in order: ``chunk`` (``[batch_size, steps, ...]`` for a temporal model, the frame
    ``[batch_size, ...]`` for a static-input one) then every entry of
    :meth:`Stream.initial_state` in :meth:`Stream.state_keys` order; outputs: the outputs
    after each step ``[batch_size, steps, *output]`` then the new state, in the same order.
    The neurons export as plain tensor ops (:func:`keras_trt.neurons.gradient_free` is not
    needed: a streamed neuron has no custom-gradient op). Returns the list of state keys.

    >>> import keras_trt
    >>> stream = keras_trt.streaming.Stream(keras_trt.zoo.load("smlp-basicmotions-t20"))
    >>> keras_trt.streaming.export_step_onnx(stream, "step.onnx", batch_size=1)
    ['sn1/membrane', 'sn2/membrane', 'star/sum', 'steps']
    """
    from keras_trt import neurons, temporal

    keys = stream.state_keys()
    shapes = stream.state_shapes()
    frame = tuple(stream.input_tensor.shape[1:])
    chunk_shape = (batch_size,) + (frame if stream.static_input else (steps,) + frame[1:])
    model = _StepModel(stream, keys, steps if stream.static_input else None, name="stream_step")
    signature = [keras.InputSpec(shape=chunk_shape, dtype="float32", name="chunk")]
    signature += [keras.InputSpec(shape=(batch_size,) + shapes[k], dtype="float32", name=_onnx_name(k))
                  for k in keys]
    state = stream.initial_state(batch_size)
    model([ops.zeros(chunk_shape)] + [state[k] for k in keys])  # built, as Keras' exporters want
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        with neurons.gradient_free(), temporal.trt_branches(False):
            model.export(tmp, format="onnx", verbose=False, input_signature=[signature])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return keys


def _onnx_name(key):
    return key.replace("/", "__")


def lif_chunk(layer, x, v):
    """A LIF / ParametricLIF ``layer`` on ``x`` ``[B, k, ...]`` from membrane ``v`` ``[B, ...]``.

    Returns ``(spikes [B, k, ...], last membrane [B, ...])``: the equations of
    :func:`keras_trt.neurons.lif_sequence` with the exact Heaviside step (inference), from the
    carried membrane instead of the resting one; float32 inside, as the layer computes.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    x = ops.cast(x, "float32")
    v = ops.cast(v, "float32")
    leak = layer.leak("float32")
    rest, threshold = layer.v_reset, layer.v_threshold
    out = []
    for t in range(x.shape[1]):
        h = charge(x[:, t], v, leak, rest, layer.decay_input)
        fired = ops.greater_equal(h, threshold)  # == heaviside(h - v_threshold), as the layer
        if rest is None:
            v = h - ops.cast(fired, h.dtype) * threshold
        else:
            v = ops.where(fired, rest, h)
        out.append(ops.cast(fired, h.dtype))
    spikes = ops.stack(out, axis=1)
    if not dtype.startswith(("float", "bfloat")):
        dtype = layer.compute_dtype
    return ops.cast(spikes, dtype), v


# ----- helpers -------------------------------------------------------------------------------------


def _call(layer, args):
    kwargs = {"training": False} if "training" in _call_args(layer) else {}
    return layer(args[0] if len(args) == 1 else args, **kwargs)


def _call_args(layer):
    import inspect

    try:
        return inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return {}


def _axis(axis, tensor):
    return axis % len(tensor.shape)


def _pieces(k, timesteps):
    """Lengths of the ``T``-step pieces a chunk of ``k`` steps is laid out in for layout layers."""
    return [min(timesteps, k - start) for start in range(0, k, timesteps)]


def _as_chunk(form, value, k, pieces):
    """``[B, k, ...]`` from any timed form."""
    if form == CHUNK:
        return value
    if form == CONST:
        return ops.repeat(ops.expand_dims(value, 1), k, axis=1)
    if form == LAYOUT:
        parts = [piece[:, :n] for piece, n in zip(value, pieces)]
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)
    raise StreamingError(f"internal: a {form} tensor used as a chunk")


def _as_layout(form, value, index, pieces, timesteps):
    """Piece ``index`` of a tensor as a layout layer sees it (``T`` steps; the pad repeats the
    last real step, and its outputs are dropped)."""
    if form == LAYOUT:
        return value[index]
    if form == UNTIMED:
        return value
    if form == CONST:
        return ops.repeat(ops.expand_dims(value, 1), timesteps, axis=1)
    start = sum(pieces[:index])
    part = value[:, start:start + pieces[index]]
    if pieces[index] < timesteps:
        pad = ops.repeat(part[:, -1:], timesteps - pieces[index], axis=1)
        part = ops.concatenate([part, pad], axis=1)
    return part


def _split_outputs(out, n):
    if n == 1:
        return [out]
    form, value = out
    if form == LAYOUT:
        return [(LAYOUT, [piece[i] for piece in value]) for i in range(n)]
    return [(form, v) for v in value]


def _rows(rows, batch):
    rows = [rows] if isinstance(rows, (int, np.integer)) else list(rows)
    for r in rows:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not -batch <= r < batch:
            raise StreamingError(f"rows must be row indices of the stream's batch (0..{batch - 1}), got {r!r}.")
    return [int(r) % batch for r in rows]


def _is_concrete(x):
    """Whether ``x``'s values are at hand (not a tracer inside jit / tf.function)."""
    if isinstance(x, np.ndarray):
        return True
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    return True


def _check_region(members, consumers, output_ids, timesteps, timed):
    """Refuses a region of layout layers that mixes time steps, naming the layer.

    The region must hand every tensor it passes on with the time axis second, and must commute
    with a shuffle of the steps (run on random inputs and on the same inputs with the steps
    permuted, its outputs must come out permuted the same way): that holds for any layer that
    treats each step alone and fails for anything that mixes them (a mean, a recurrence, a
    Dense over a flattened time axis).
    """
    inside = {id(t) for n in members for t in n.outputs}
    names = ", ".join(f"{n.layer.name!r} ({type(n.layer).__name__})" for n in members)
    leaving = []
    for node in members:
        for t in node.outputs:
            used_outside = any(c not in members for c in consumers.get(id(t), ())) or id(t) in output_ids
            if not used_outside:
                continue
            if len(t.shape) < 2 or t.shape[1] != timesteps:
                raise StreamingError(
                    f"The layer(s) {names} hand on a tensor of shape {tuple(t.shape)} (from {node.layer.name!r}) "
                    "without the time axis second, so they cannot be streamed: they combine the time steps. Only "
                    "LIF/PLIF neurons and the StarProduct/FiringRate readouts may combine steps; the other layers "
                    "must act on each step (wrap per-step layers in keras_trt.layers.TimeFolded).")
            leaving.append(t)
    if timesteps < 2:
        return
    rng = np.random.default_rng(0)
    perm = rng.permutation(timesteps)
    while np.all(perm == np.arange(timesteps)):
        perm = rng.permutation(timesteps)
    feeds, shuffled = {}, {}
    for node in members:
        for t in node.inputs:
            if id(t) in inside or id(t) in feeds:
                continue
            shape = (2,) + tuple(t.shape[1:])
            value = rng.normal(size=shape).astype(keras.backend.standardize_dtype(t.dtype) if "float" in str(t.dtype) else "float32")
            feeds[id(t)] = value
            has_time = id(t) in timed
            shuffled[id(t)] = value[:, perm] if has_time else value

    def evaluate(feed):
        vals = dict(feed)
        for node in members:
            out = _call(node.layer, [ops.convert_to_tensor(vals[id(t)]) for t in node.inputs])
            outs = out if isinstance(out, (list, tuple)) else [out]
            for t, o in zip(node.outputs, outs):
                vals[id(t)] = ops.convert_to_numpy(o)
        return [vals[id(t)] for t in leaving]

    for a, b in zip(evaluate(feeds), evaluate(shuffled)):
        if not np.allclose(a[:, perm], b, rtol=1e-4, atol=1e-5):
            raise StreamingError(
                f"The layer(s) {names} mix time steps (shuffling the steps of their input does not shuffle their "
                "output the same way), so they cannot be streamed step by step: only LIF/PLIF neurons and the "
                "StarProduct/FiringRate readouts may carry information across steps. Fix: make the time mixing a "
                "neuron or a readout, or wrap per-step layers in keras_trt.layers.TimeFolded.")


__all__ = ["Stream", "StreamingError", "export_step_onnx", "lif_chunk"]
