"""Repairs of ONNX graphs written by Keras' exporters, applied by ``TRTModel.export``.

On the JAX backend Keras exports through jax2onnx, which writes a channels-last max-pooling
(``lax.reduce_window`` over ``[B, H, W, C]``) as an ONNX ``MaxPool`` over a 6-D tensor with the
kernel ``[1, kh, kw, 1]``: two ``Unsqueeze`` ops make ``[1, 1, B, H, W, C]`` so that all four
axes count as spatial. ONNX allows that, but onnxruntime's kernels pool over at most three
spatial axes and refuse the graph when it runs ("Unsupported pooling size"). Every model with a
max-pooling layer (the transformers' patch stems, the ResNets' ImageNet stem) failed so.

:func:`fix_channels_last_max_pool` rewrites each such node into what it means: the batch and
channel axes moved out of the pooling (``Squeeze``, ``Transpose`` to channels-first), an
ordinary 2-D (or 1-D, 3-D) ``MaxPool`` with the same window, strides and padding, and back
(``Transpose``, ``Unsqueeze``), under the node's own output name, so the rest of the graph is
untouched. Padding stays "ignored" (ONNX ``MaxPool`` never takes a padded value), as in
``reduce_window`` with its -inf start.
"""

from __future__ import annotations


def _attributes(node):
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _channels_last_window(node):
    """``(kernel, strides, pads)`` over the spatial axes when ``node`` is a MaxPool whose window
    spans an unsqueezed ``[B, *spatial, C]`` (size 1, stride 1, no padding on B and C), else None."""
    if node.op_type != "MaxPool":
        return None
    attrs = _attributes(node)
    kernel = list(attrs.get("kernel_shape", []))
    rank = len(kernel)
    strides = list(attrs.get("strides", [1] * rank))
    pads = list(attrs.get("pads", [0] * 2 * rank))
    if rank < 3 or rank > 5 or kernel[0] != 1 or kernel[-1] != 1 or strides[0] != 1 or strides[-1] != 1:
        return None
    if pads[0] or pads[rank - 1] or pads[rank] or pads[-1]:
        return None
    if list(attrs.get("dilations", [1] * rank)) != [1] * rank or attrs.get("ceil_mode", 0) or attrs.get("storage_order", 0):
        return None
    inner = slice(1, rank - 1)
    return kernel[inner], strides[inner], pads[1:rank - 1] + pads[rank + 1:-1]


def fix_channels_last_max_pool(model):
    """Rewrites jax2onnx's channels-last ``MaxPool`` nodes of the ``onnx.ModelProto`` ``model``
    in place (see the module docstring); returns how many it rewrote.

    >>> import onnx
    >>> from onnx import TensorProto, helper
    >>> node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 3, 3, 1], strides=[1, 2, 2, 1],
    ...                         pads=[0, 0, 0, 0, 0, 1, 1, 0])
    >>> graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 8, 8, 3])],
    ...                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    >>> model = helper.make_model(graph)
    >>> fix_channels_last_max_pool(model), [n.op_type for n in model.graph.node]
    (1, ['Squeeze', 'Transpose', 'MaxPool', 'Transpose', 'Unsqueeze'])
    """
    from onnx import TensorProto, helper

    graph, nodes, rewritten = model.graph, [], 0
    for node in graph.node:
        window = _channels_last_window(node)
        if window is None:
            nodes.append(node)
            continue
        kernel, strides, pads = window
        spatial = len(kernel)
        stem = f"{node.name or node.output[0]}_channels_first"
        outer = helper.make_tensor(f"{stem}_outer_axes", TensorProto.INT64, [2], [0, 1])
        graph.initializer.append(outer)
        to_first = [0, spatial + 1] + list(range(1, spatial + 1))  # [B, *S, C] -> [B, C, *S]
        to_last = [0] + list(range(2, spatial + 2)) + [1]
        nodes += [
            helper.make_node("Squeeze", [node.input[0], outer.name], [f"{stem}_squeezed"], name=f"{stem}_squeeze"),
            helper.make_node("Transpose", [f"{stem}_squeezed"], [f"{stem}_in"], perm=to_first, name=f"{stem}_to_first"),
            helper.make_node("MaxPool", [f"{stem}_in"], [f"{stem}_out"], kernel_shape=kernel, strides=strides,
                             pads=pads, name=f"{stem}_pool"),
            helper.make_node("Transpose", [f"{stem}_out"], [f"{stem}_last"], perm=to_last, name=f"{stem}_to_last"),
            helper.make_node("Unsqueeze", [f"{stem}_last", outer.name], list(node.output), name=f"{stem}_unsqueeze"),
        ]
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
    return rewritten


def fix_onnx_file(path):
    """:func:`fix_channels_last_max_pool` on the ONNX file at ``path``, written back only if a node
    was rewritten (checked by ``onnx.checker`` first); returns the count."""
    import onnx

    model = onnx.load(path)
    count = fix_channels_last_max_pool(model)
    if count:
        onnx.checker.check_model(model)
        onnx.save(model, path)
    return count
