"""Moving weights between keras-trt and other frameworks.

- :func:`load_torch_resnet`: SpikingJelly ``spiking_resnet`` / ``sew_resnet`` and torchvision
  ResNet-18/34 state dicts into the ResNets of :mod:`keras_trt.models`
  (:mod:`keras_trt.export.from_torch`); :func:`torch_resnet_state_dict` goes the other way.

>>> import keras_trt
>>> from keras_trt.export import load_torch_resnet
>>> model = keras_trt.models.sew_resnet34(timesteps=4)
>>> load_torch_resnet(model, "sew_resnet34.pth")          # doctest: +SKIP
"""

from keras_trt.export.from_torch import (
    ImportReport,
    load_torch_resnet,
    read_state_dict,
    torch_resnet_key_map,
    torch_resnet_state_dict,
)

__all__ = ["ImportReport", "load_torch_resnet", "read_state_dict", "torch_resnet_key_map", "torch_resnet_state_dict"]
