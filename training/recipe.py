"""Recipes: everything that defines a training run, one file per zoo entry in ``recipes/``.

A recipe names its data, architecture, T, TRT settings, optimiser, schedule, epochs, batch size
and augmentation. ``python -m training.train <name>`` runs it; command-line flags override the
backend, epochs, seed, TRT on/off and the output folder.
"""

import dataclasses
import difflib
import importlib
import pkgutil


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One training setup.

    Attributes:
        name: the zoo entry it produces, e.g. ``"sresnet20-mnist-t2"``.
        dataset: a key of ``training.datasets.SOURCES``.
        architecture: a ``keras_trt.models`` registry name; ``build`` holds its extra kwargs
            (``num_classes``, ``timesteps`` and ``input_shape`` come from the data and ``timesteps``).
        trt: ``TRTConfig`` fields, or None for the plain SNN.
        schedule: ``"cosine"`` (to zero over the run, after ``warmup_epochs``) or ``"constant"``.
        runs_here: whether its data ships with a PyPI wheel and it trains on a 2-core CPU.
        cheap: a cheaper TRT variant (a ``training.compare --cheap`` spec such as
            ``"at=stage2"``) that ``training.train`` uses for the recipe's TRT runs instead of
            full TRT (``--full-trt`` trains full TRT); set only where the recipe's 5-seed
            comparison showed that the variant pays for its compute
            (``docs/results/<recipe>-cheap.md``). ``trt`` and ``build`` stay full TRT's, the
            reference that ``training.compare`` compares every arm with.
    """

    name: str
    dataset: str
    architecture: str
    timesteps: int
    epochs: int
    batch_size: int
    learning_rate: float
    build: dict = dataclasses.field(default_factory=dict)
    trt: dict | None = dataclasses.field(default_factory=dict)
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: int = 0
    augment: bool = False
    dataset_kwargs: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    runs_here: bool = False
    cheap: str | None = None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _module_name(name):
    return name.replace("-", "_").replace(".", "_")


def available():
    """Names of every recipe in ``training/recipes/``."""
    from training import recipes

    names = []
    for info in pkgutil.iter_modules(recipes.__path__):
        names.append(importlib.import_module(f"training.recipes.{info.name}").RECIPE.name)
    return sorted(names)


def get(name):
    """The recipe called ``name`` (e.g. ``"sresnet20-mnist-t2"``); suggests close names if unknown."""
    try:
        module = importlib.import_module(f"training.recipes.{_module_name(name)}")
    except ModuleNotFoundError:
        names = available()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SystemExit(f"Unknown recipe {name!r}.{hint} Available: {', '.join(names)}") from None
    return module.RECIPE
