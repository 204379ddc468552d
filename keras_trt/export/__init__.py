"""Moving models between keras-trt and other frameworks.

- :func:`to_nir`: a model's inference pass as a NIR graph (the Neuromorphic Intermediate
  Representation), which SpikingJelly, snnTorch, Norse, Lava and neuromorphic chips read
  (:mod:`keras_trt.export.to_nir`; needs ``pip install "keras-trt[export]"``).
- ONNX: ``model.export("model.onnx", format="onnx")`` on any backend (Keras' own exporter; a
  :class:`~keras_trt.TRTModel` exports its plain-SNN inference pass, see ``TRTModel.export``).
- :func:`load_torch_resnet`: SpikingJelly ``spiking_resnet`` / ``sew_resnet`` and torchvision
  ResNet-18/34 state dicts into the ResNets of :mod:`keras_trt.models`
  (:mod:`keras_trt.export.from_torch`); :func:`torch_resnet_state_dict` goes the other way.
- :func:`load_torch_transformer`: SpikingJelly 2.0 Spikformer, Spike-driven Transformer and
  QKFormer state dicts into :mod:`keras_trt.models`' transformers
  (:mod:`keras_trt.export.from_torch_transformers`).

>>> import keras_trt
>>> from keras_trt.export import load_torch_resnet, to_nir
>>> model = keras_trt.models.sew_resnet34(timesteps=4)
>>> load_torch_resnet(model, "sew_resnet34.pth")          # doctest: +SKIP
>>> graph = to_nir(keras_trt.zoo.load("sresnet20-mnist-t2"), dt=1e-4)
"""

from keras_trt.export.from_torch import (
    ImportReport,
    load_torch_resnet,
    read_state_dict,
    torch_resnet_key_map,
    torch_resnet_state_dict,
)
from keras_trt.export.from_torch_transformers import load_torch_transformer, torch_transformer_key_map
from keras_trt.export.to_nir import NIRExportError, to_nir

__all__ = [
    "ImportReport", "NIRExportError", "load_torch_resnet", "read_state_dict", "to_nir",
    "torch_resnet_key_map", "torch_resnet_state_dict", "load_torch_transformer", "torch_transformer_key_map",
]
