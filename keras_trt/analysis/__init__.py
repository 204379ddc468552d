"""Spike activity, operation counts and energy estimates of spiking models.

- :func:`profile`: per-layer firing rates, MACs, synaptic operations (SOPs), accumulates and
  energy of a model's inference pass, per sample summed over T, with a Markdown table and plot.
- :class:`FiringRateLogger`: a Keras callback logging per-layer firing rates each epoch;
  :func:`firing_rates` measures them once.
- :func:`dense_macs`: the dense multiply-accumulate count of a layer from its shapes;
  :func:`training_flops`: a model's training FLOPs per image under a TRT config (full TRT,
  its cheaper variants or the plain SNN).

>>> import numpy as np, keras_trt
>>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
>>> report = keras_trt.analysis.profile(model, np.random.rand(8, 20, 6).astype("float32"))
>>> print(report.to_markdown())                         # doctest: +ELLIPSIS
| layer | type | input | firing rate | MACs | SOPs | ACs | energy (nJ) |
...
"""

from keras_trt.analysis.callbacks import FiringRateLogger, firing_rates, spike_counts, spike_probe
from keras_trt.analysis.counting import ENERGY_PJ_PER_AC, ENERGY_PJ_PER_MAC, dense_macs
from keras_trt.analysis.profile import Profile, profile
from keras_trt.analysis.training_cost import training_flops

__all__ = [
    "ENERGY_PJ_PER_AC", "ENERGY_PJ_PER_MAC", "FiringRateLogger", "Profile", "dense_macs",
    "firing_rates", "profile", "spike_counts", "spike_probe", "training_flops",
]
