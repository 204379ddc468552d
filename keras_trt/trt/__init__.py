"""Temporal Reversed Training: the config, the loss pieces and the model that trains with them."""

from keras_trt.trt.config import TRTConfig
from keras_trt.trt.loss import consistency, softmax_kl
from keras_trt.trt.model import TRTModel

__all__ = ["TRTConfig", "TRTModel", "consistency", "softmax_kl"]
