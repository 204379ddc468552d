"""The layer graph of a functional model, walked in order (for analysis and export)."""

import keras


def inner_layer(layer):
    """The layer a :class:`~keras_trt.layers.TimeFolded` (or any Keras ``Wrapper``) applies."""
    return layer.layer if isinstance(layer, keras.layers.Wrapper) else layer


def functional_nodes(model, purpose):
    """``[(layer, input KerasTensors, output KerasTensors)]`` of ``model``'s own graph, in order.

    ``purpose`` names the caller in the errors: it needs a flat functional model.
    """
    from keras.src.models.functional import Functional

    if not isinstance(model, Functional):
        raise TypeError(
            f"{purpose} needs a functional Keras model (keras.Model(inputs, outputs), every "
            f"keras_trt.models builder and zoo model), got {type(model).__name__}. Rebuild a "
            "subclassed model functionally first."
        )
    known = {id(t) for t in keras.tree.flatten(model.inputs)}
    nodes = []
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            inputs = list(node.input_tensors)
            if not inputs or not all(id(t) in known for t in inputs):
                continue  # a node of another model sharing this layer
            outputs = list(node.output_tensors)
            known.update(id(t) for t in outputs)
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, keras.Model):
                raise TypeError(
                    f"{purpose} works on layers, and {layer.name!r} is a nested model: build the "
                    "model flat (keras.Model(inputs, outputs) over the sub-model's layers)."
                )
            nodes.append((layer, inputs, outputs))
    return nodes
