"""TRTConfig: the weights and options of the Temporal Reversed Training loss."""

import dataclasses
import math
import numbers

import keras
import numpy as np

from keras_trt import temporal

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
        batch_fraction: the share of each batch that gets a reversed branch (this and the
            next three fields make TRT cheaper, see ``docs/explanation/cheap-trt.md``; their
            defaults are full TRT). The :class:`~keras_trt.layers.TemporalReversal` emits ``[x; reverse(x[:m])]`` with
            ``m = ceil(batch_fraction * B)`` (the first ``m`` samples of a shuffled batch); the
            reversed, consistency and star terms are means over those ``m`` pairs, the task term
            over all ``B``. Layers after the reversal run on ``B + m`` samples instead of ``2B``,
            and a BatchNormalization there takes its statistics over all ``B + m``. Taken as
            the nearest ``p/q`` with ``q <= 1000`` (0.25 is exactly 1/4).
        start_epoch: ``fit`` trains the plain SNN (no reversal, plain loss) before this epoch
            (0-based, as ``fit``'s ``initial_epoch``) and TRT from it on.
        stop_epoch: TRT until this epoch (exclusive), the plain SNN after; None: to the end.
        every_steps: TRT on batches ``0, k, 2k, ...`` of each epoch, the plain SNN on the
            others. Schedules are followed by ``fit``; ``train_on_batch`` always takes a TRT step.

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> model.compile(optimizer="adam", trt=keras_trt.TRTConfig(star_weight=0.5))
    >>> keras_trt.TRTConfig(batch_fraction=0.25).paired_count(64)   # reversed branch for 16 of 64
    16
    """

    reversal_weight: float = 1.0
    consistency_weight: float = 1.0
    temperature: float = 1.0
    star_weight: float = 1.0
    kl_direction: str = "original_to_reversed"
    symmetric_kl: bool = False
    stop_gradient_target: bool = False
    batch_fraction: float = 1.0
    start_epoch: int = 0
    stop_epoch: int | None = None
    every_steps: int = 1

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
        fraction = _real("batch_fraction", self.batch_fraction)
        if not 0 < fraction <= 1:
            raise ValueError(
                f"TRTConfig.batch_fraction must be in (0, 1] (the share of each batch that gets a "
                f"reversed branch; 1 is full TRT), got {fraction!r}."
            )
        object.__setattr__(self, "batch_fraction", fraction)
        object.__setattr__(self, "start_epoch", _whole("start_epoch", self.start_epoch, 0))
        object.__setattr__(self, "every_steps", _whole("every_steps", self.every_steps, 1))
        if self.stop_epoch is not None:
            stop = _whole("stop_epoch", self.stop_epoch, 1)
            if stop <= self.start_epoch:
                raise ValueError(
                    f"TRTConfig.stop_epoch ({stop}) must be after start_epoch ({self.start_epoch}): "
                    "TRT runs on epochs start_epoch <= e < stop_epoch. Use stop_epoch=None for "
                    "TRT to the end."
                )
            object.__setattr__(self, "stop_epoch", stop)

    @property
    def scheduled(self):
        """Whether some training steps are plain (``start_epoch``, ``stop_epoch``, ``every_steps``)."""
        return self.start_epoch > 0 or self.stop_epoch is not None or self.every_steps > 1

    def is_trt_step(self, epoch, batch):
        """Whether batch ``batch`` of epoch ``epoch`` (both 0-based) is a TRT step.

        >>> cfg = TRTConfig(start_epoch=2, every_steps=3)
        >>> [cfg.is_trt_step(e, b) for e, b in ((1, 0), (2, 0), (2, 1), (2, 3))]
        [False, True, False, True]
        """
        if epoch < self.start_epoch or (self.stop_epoch is not None and epoch >= self.stop_epoch):
            return False
        return batch % self.every_steps == 0

    def paired_count(self, batch):
        """``m = ceil(batch_fraction * batch)``: the samples of a batch with a reversed branch
        (:func:`keras_trt.temporal.paired_count`)."""
        return temporal.paired_count(batch, self.batch_fraction)

    def get_config(self):
        config = dataclasses.asdict(self)
        for field in _CHEAP_FIELDS:  # defaults left out: configs saved before them load unchanged
            if config[field.name] == field.default:
                del config[field.name]
        return config

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


def _whole(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"TRTConfig.{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


_CHEAP_FIELDS = [f for f in dataclasses.fields(TRTConfig)
                 if f.name in ("batch_fraction", "start_epoch", "stop_epoch", "every_steps")]


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
