"""TRTConfig: the weights and options of the Temporal Reversed Training loss."""

import dataclasses
import math
import numbers

import keras
import numpy as np

KL_DIRECTIONS = ("original_to_reversed", "reversed_to_original")


@keras.saving.register_keras_serializable(package="keras_trt")
@dataclasses.dataclass(frozen=True)
class TRTConfig:
    """Settings of the TRT loss

    ``L = CE(O, y) + reversal_weight * CE(O_rev, y)
    + consistency_weight * temperature^2 * KL(softmax(O/temperature) || softmax(O_rev/temperature))
    + star_weight * CE(O_star, y)``

    where ``O``, ``O_rev`` and ``O_star`` are the logits of the original branch, the reversed
    branch and the star product ``r * r_rev`` of their firing rates. CE stands for the loss given
    to ``compile`` (sparse categorical cross-entropy on logits by default).

    Args:
        reversal_weight: weight of the reversed branch's task loss.
        consistency_weight: weight of the distillation (KL) term between the branches.
        temperature: softmax temperature of the KL term (the term is scaled by its square).
        star_weight: weight of the star-product task loss; 0 disables it.
        kl_direction: ``"original_to_reversed"`` computes KL(p_O || p_O_rev) (the original
            branch is the target); ``"reversed_to_original"`` swaps the roles.
        symmetric_kl: use the mean of both directions instead.
        stop_gradient_target: the target distribution of the KL term gets no gradient
            (classic distillation); with ``symmetric_kl`` each direction stops its own target.

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> model.compile(optimizer="adam", trt=keras_trt.TRTConfig(star_weight=0.5))
    """

    reversal_weight: float = 1.0
    consistency_weight: float = 1.0
    temperature: float = 1.0
    star_weight: float = 1.0
    kl_direction: str = "original_to_reversed"
    symmetric_kl: bool = False
    stop_gradient_target: bool = False

    def __post_init__(self):
        for name in ("reversal_weight", "consistency_weight", "star_weight"):
            value = _real(name, getattr(self, name))
            if not value >= 0:
                raise ValueError(f"TRTConfig.{name} must be >= 0 (0 turns the term off), got {value!r}.")
            object.__setattr__(self, name, value)
        temperature = _real("temperature", self.temperature)
        if not temperature > 0:
            raise ValueError(f"TRTConfig.temperature must be > 0 (1 to 4 is usual), got {temperature!r}.")
        object.__setattr__(self, "temperature", temperature)
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(
                f"TRTConfig.kl_direction must be one of {KL_DIRECTIONS}, got {self.kl_direction!r}."
            )
        for name in ("symmetric_kl", "stop_gradient_target"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"TRTConfig.{name} must be True or False, got {getattr(self, name)!r}.")
            object.__setattr__(self, name, bool(getattr(self, name)))

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _real(name, value):
    """``value`` as a finite Python float; strings, booleans, NaN and infinities are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"TRTConfig.{name} must be a real number, got {value!r} ({type(value).__name__}); "
            f"pass e.g. {name}=1.0."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"TRTConfig.{name} must be finite, got {value!r}.")
    return value


def get(trt):
    """Normalises ``compile(trt=...)``: None/False (plain SNN), True (defaults), dict or TRTConfig."""
    if trt is None or trt is False:
        return None
    if trt is True:
        return TRTConfig()
    if isinstance(trt, TRTConfig):
        return trt
    if isinstance(trt, dict):
        return TRTConfig.from_config(trt.get("config", trt) if "class_name" in trt else trt)
    raise TypeError(
        f"compile(trt=...) takes a keras_trt.TRTConfig, a dict of its fields, True or None; "
        f"got {trt!r}."
    )
