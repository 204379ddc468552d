"""Ship a trained preset in the zoo: ``python -m training.add_to_zoo <preset-folder> [--notes ...]``.

Copies the preset (``config.json``, ``model.weights.h5``, ``metadata.json``, ``README.md``) into
``zoo/<name>/`` and writes its registry card: architecture and build arguments, dataset, T,
trainable parameters, size, the sha256 of every file (the trust anchor ``zoo.load`` checks), the
held-out metrics measured by ``training.train``, and the recipe that made it. The model then loads
by name with no network: ``keras_trt.zoo.load("<name>")``.

    python -m training.add_to_zoo runs/compare/smlp-basicmotions-t20/trt-seed0/preset
"""

import argparse
import json
import shutil
from pathlib import Path

ZOO = Path(__file__).resolve().parents[1] / "zoo"
PRESET_FILES = ("config.json", "model.weights.h5", "metadata.json", "README.md")


def builder_input_shape(architecture, input_shape):
    """The builder's ``input_shape`` for a model whose inputs are ``input_shape`` per sample.

    Builders of event-frame models (VGGSNN and the other image builders given frames) take one
    frame, ``(H, W, C)``, and T apart, while the model's inputs are ``(T, H, W, C)``; sequence
    builders take ``(T, F)`` whole. The registry's small instance says which: its input_shape has
    one axis fewer when T is taken apart.
    """
    from keras_trt import models

    small = models.get_architecture(architecture).small.get("input_shape")
    input_shape = list(input_shape)
    if small is not None and len(input_shape) == len(small) + 1:
        return input_shape[1:]
    return input_shape


def _how(extra):
    """How the preset was trained: the plain SNN, TRT, or a cheaper TRT variant."""
    if not extra.get("trained_with_trt"):
        return "plain SNN"
    variant = extra.get("trt_variant")
    return f"cheaper TRT `{variant}`, the recipe's default" if variant else "TRT"


def add(preset, notes="", zoo_dir=ZOO):
    from keras_trt import zoo
    from keras_trt.zoo.integrity import hash_files

    preset = Path(preset)
    meta = zoo.read_metadata(preset)
    model = zoo.load(preset, compile=False)  # verifies the preset's own hashes and that it builds
    extra = meta.get("extra", {})
    name = meta["name"]
    target = Path(zoo_dir) / name
    tmp = Path(zoo_dir) / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # Written again by this keras-trt's save_preset, so that a shipped preset is in the current
    # format whatever version of the code trained it.
    zoo.save_preset(
        model, tmp, dataset=meta.get("dataset"), timesteps=meta.get("timesteps"), metrics=meta.get("metrics"),
        license=meta.get("license", "apache-2.0"), description=meta.get("description"), name=name, **extra,
    )
    meta = zoo.read_metadata(tmp)
    files = hash_files(tmp, PRESET_FILES)
    card = dict(
        schema_version=1, name=name, architecture=extra["architecture"],
        build=dict(num_classes=meta["num_classes"], timesteps=meta["timesteps"],
                   input_shape=builder_input_shape(extra["architecture"], meta["input_shape"]),
                   **extra.get("build", {})),
        dataset=meta["dataset"], timesteps=meta["timesteps"], num_classes=meta["num_classes"],
        input_shape=meta["input_shape"],
        parameters=meta["parameters"],
        size_bytes=sum((tmp / f).stat().st_size for f in PRESET_FILES),
        hub=None, files=files, metrics=meta["metrics"], recipe=extra.get("recipe", name),
        license=meta.get("license", "apache-2.0"), published=False,
        notes=(f"Trained here on a 2-core CPU with `python -m training.train {extra.get('recipe', name)}` "
               f"(seed {extra.get('seed')}, {extra.get('epochs')} epochs, backend {meta['backend']}, "
               f"{_how(extra)}); the accuracy is on the "
               f"held-out test split. {notes}").strip(),
    )
    (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    print(f"zoo/{name}: accuracy {card['metrics'].get('accuracy'):.4f}, {card['size_bytes'] / 1e6:.2f} MB")
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.add_to_zoo", description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--notes", default="")
    args = parser.parse_args(argv)
    add(args.preset, args.notes)


if __name__ == "__main__":
    main()
