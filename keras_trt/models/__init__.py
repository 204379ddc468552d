"""Spiking architectures built from keras_trt layers; every one is a TRTModel."""

from keras_trt.models.small import spiking_cnn

__all__ = ["spiking_cnn"]
