"""The cheaper-TRT arms of ``training.compare --cheap`` (see ``docs/explanation/cheap-trt.md``).

A variant is written as comma-separated ``key=value`` items:

* ``frac=F``: a reversed branch for the first ``ceil(F * B)`` samples of each batch
  (``TRTConfig.batch_fraction``);
* ``at=P``: the reversal at builder point ``P`` (``stage2``, ...; ``reverse_at``);
* ``last=F``: the plain SNN first, TRT for the last ``round(F * epochs)`` epochs (``start_epoch``);
* ``first=F``: TRT for the first ``round(F * epochs)`` epochs, then the plain SNN (``stop_epoch``;
  after Golatkar et al., NeurIPS 2019: regularisation acts early in training);
* ``every=K``: TRT on every K-th batch of an epoch (``every_steps``; StyleGAN2's lazy
  regularisation, Karras et al., CVPR 2020, computes its regulariser every 16th batch);
* ``weight=W``: the three TRT terms (``reversal_weight``, ``consistency_weight``,
  ``star_weight``) multiplied by ``W``; not cheaper by itself, it sets the regulariser's strength
  beside a cheaper item: ``frac=0.25,weight=0.25`` weights each reversed pair as much as an
  original sample (under a fraction the terms are means over the ``m`` pairs), ``every=4,weight=4``
  is StyleGAN2's compensation.

Items combine (``at=stage2,frac=0.5``). Every variant is compared with full TRT and with the plain
SNN at equal epochs, and with the plain SNN trained for the variant's own training FLOPs
(``round(epochs * flops_variant / flops_plain)`` epochs; variants that round to the same epochs
share that run).

>>> [a.key for a in variant_arms(["frac=0.25", "at=stage2,frac=0.5"], {}, epochs=20)]
['cheap-frac0.25', 'plain-for-cheap-frac0.25', 'cheap-at-stage2-frac0.5', 'plain-for-cheap-at-stage2-frac0.5']
>>> variant_arms(["last=0.25"], {}, epochs=20)[0].trt["start_epoch"]
15
"""

from __future__ import annotations

#: The variants ``--cheap`` runs when given no list: each at <= 1.25x a plain step on the
#: ResNet-20 MNIST recipe, but the late reversal point (1.32x there).
DEFAULT_VARIANTS = ("frac=0.25", "last=0.25", "first=0.25", "every=4", "at=stage2")

_KEYS = ("at", "frac", "first", "last", "every", "weight")
#: The TRT terms ``weight=W`` scales, with TRTConfig's defaults (not imported: this module is
#: read before the backend loads; a test checks they agree).
_WEIGHTS = {"reversal_weight": 1.0, "consistency_weight": 1.0, "star_weight": 1.0}
PREFIX = "cheap-"
MATCH = "match:"
#: The key prefix of a variant's compute-matched plain arm as asked (it resolves to a plain run).
MATCHED = "plain-for-"


def parse(spec):
    """``"at=stage2,frac=0.5"`` -> ``{"at": "stage2", "frac": 0.5}``, refusing what is not a variant."""
    out = {}
    for item in filter(None, (s.strip() for s in str(spec).split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in _KEYS:
            raise ValueError(
                f"--cheap {spec!r}: each item is key=value with key one of {', '.join(_KEYS)} "
                "(e.g. frac=0.25, last=0.25, first=0.25, every=4, at=stage2)."
            )
        if key in out:
            raise ValueError(f"--cheap {spec!r}: {key} is given twice.")
        if key == "at":
            out[key] = value
        elif key == "every":
            if not value.isdigit() or int(value) < 2:
                raise ValueError(f"--cheap {spec!r}: every takes a whole number >= 2, got {value!r}.")
            out[key] = int(value)
        else:
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if key == "weight":
                if not 0 < number < float("inf"):
                    raise ValueError(f"--cheap {spec!r}: weight takes a positive number, got {value!r}.")
            elif not 0 < number <= 1:
                raise ValueError(f"--cheap {spec!r}: {key} takes a fraction in (0, 1], got {value!r}.")
            out[key] = number
    if not out:
        raise ValueError(f"--cheap {spec!r}: no item; e.g. frac=0.25.")
    if "first" in out and "last" in out:
        raise ValueError(f"--cheap {spec!r}: first and last exclude each other.")
    return out


def _number(v):
    return f"{v:g}"


def _key(items):
    parts = []
    for k in _KEYS:
        if k in items:
            parts.append(f"at-{items[k]}" if k == "at" else f"{k}{_number(items[k])}")
    return PREFIX + "-".join(parts)


def _label(items, epochs, trt):
    parts = []
    if "frac" in items:
        parts.append(f"reversed branch for {_number(items['frac'])} of each batch")
    if "at" in items:
        parts.append(f"reversal after {items['at']}")
    if "last" in items:
        parts.append(f"in the last {epochs - trt['start_epoch']} of {epochs} epochs")
    if "first" in items:
        parts.append(f"in the first {trt['stop_epoch']} of {epochs} epochs")
    if "every" in items:
        parts.append(f"on 1 batch in {items['every']}")
    if "weight" in items:
        parts.append(f"its terms weighted x{_number(items['weight'])}")
    return "TRT " + ", ".join(parts)


def _fields(spec, items, full_trt, epochs):
    """``(TRTConfig fields, builder overrides)`` of the parsed variant ``items``."""
    trt = dict(full_trt)
    if "frac" in items:
        trt["batch_fraction"] = items["frac"]
    if "every" in items:
        trt["every_steps"] = items["every"]
    if "weight" in items:
        for name, default in _WEIGHTS.items():
            trt[name] = items["weight"] * trt.get(name, default)
    for name in ("last", "first"):
        if name in items:
            n = max(1, min(epochs, int(round(items[name] * epochs))))
            if n == epochs:
                raise ValueError(f"--cheap {spec!r}: {name}={items[name]:g} of {epochs} epochs is "
                                 "every epoch (full TRT); use a smaller fraction.")
            if name == "last":
                trt["start_epoch"] = epochs - n
            else:
                trt["stop_epoch"] = n
    return trt, ({"reverse_at": items["at"]} if "at" in items else {})


def applied(recipe, spec, epochs=None):
    """``recipe`` with the variant ``spec`` in its TRT fields and builder arguments, for a run of
    ``epochs`` epochs (default the recipe's): what ``training.train`` trains for a recipe whose
    ``cheap`` names a variant.

    >>> from training.recipe import get
    >>> r = applied(get("spointnet-mnistpoints-t2"), "at=stage2")
    >>> r.build["reverse_at"], r.cheap
    ('stage2', None)
    """
    epochs = epochs or recipe.epochs
    items = parse(spec)
    trt, build = _fields(spec, items, recipe.trt or {}, epochs)
    return recipe.replace(trt=trt, build=dict(recipe.build, **build), cheap=None,
                          description=f"{recipe.description} Trained with cheaper TRT: "
                          f"{_label(items, epochs, trt).removeprefix('TRT ')} (`{spec}`).")


def variant_arms(specs, full_trt, epochs):
    """The :class:`training.compare.Arm` of each variant spec, on top of the recipe's TRT fields
    ``full_trt``, for a run of ``epochs`` epochs."""
    from training.compare import Arm

    arms, seen = [], set()
    for spec in specs:
        items = parse(spec)
        trt, build = _fields(spec, items, full_trt, epochs)
        key = _key(items)
        if key in seen:
            raise ValueError(f"--cheap: the variant {spec!r} is given twice.")
        seen.add(key)
        arms.append(Arm(key, _label(items, epochs, trt), trt, build))
        arms.append(Arm(f"{MATCHED}{key}", f"plain SNN, the FLOPs of {key}", None,
                        epochs=MATCH + key))
    return arms


def is_cheap(key):
    return key.startswith(PREFIX)


def matched_arm(n, epochs, flops_epochs):
    """``(key, label)`` of the plain arm trained for ``n`` epochs: the ``plain`` arm at the
    recipe's epochs, ``plain-flops`` at full TRT's compute-matched epochs, else ``plain-e<n>``."""
    if n == epochs:
        return "plain", "plain SNN"
    if n == flops_epochs:
        return "plain-flops", "plain SNN, TRT's training FLOPs"
    return f"plain-e{n}", f"plain SNN, {n} epochs"
