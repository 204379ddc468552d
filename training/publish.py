"""Publish a zoo preset to the Hugging Face Hub and pin it in the registry card.

    python -m training.publish zoo/<name> --repo org/name [--dry-run OUT] [--private]
                               [--preset PATH] [--revision BRANCH] [--message MSG] [--token TOKEN]

Steps: verify the preset (every sha256 in its ``metadata.json``), stage the exact folder to upload
(``metadata.json``, ``config.json``, ``model.weights.h5``, ``README.md``), create the Hub repo if
needed, upload the folder as one commit, download ``metadata.json`` back to check the upload, and
record the commit and the sha256 of every uploaded file in ``zoo/<name>/card.json`` (``hub``,
``files``, ``published``, ``size_bytes``). Those pins are the trust anchor of
``keras_trt.zoo.load("<name>")``.

* The preset is ``zoo/<name>/`` itself (a small model committed to git) or ``--preset PATH``.
* The model card uploaded is ``zoo/<name>/README.md`` when it exists (YAML front matter is added
  from the preset's metadata if it has none), else the preset's own ``README.md``; the staged
  ``metadata.json`` records its hash. When the preset lives in ``zoo/<name>/``, the staged
  ``metadata.json``/``README.md`` are written back there after a successful upload, so the local
  copy and the Hub hold identical, pinned files.
* ``--dry-run OUT`` writes the exact folder that would be uploaded to ``OUT`` and prints the card
  update; it contacts nothing and changes nothing under ``zoo/``.

The Hub endpoint, cache and token come from huggingface_hub (``HF_ENDPOINT``, ``HF_HOME``,
``HF_TOKEN`` or ``hf auth login``).

>>> from training.publish import publish
>>> report = publish("zoo/sresnet20-mnist-t2", "org/sresnet20-mnist-t2", dry_run="out/upload")
>>> sorted(report["files"])
['README.md', 'config.json', 'metadata.json', 'model.weights.h5']
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from keras_trt.zoo import card as zoo_card
from keras_trt.zoo import registry
from keras_trt.zoo.errors import IntegrityError, PresetFormatError, ZooError
from keras_trt.zoo.integrity import sha256_file, verify_file
from keras_trt.zoo.preset import CONFIG_FILE, METADATA_FILE, PRESET_FILES, README_FILE, WEIGHTS_FILE, read_metadata

_CARD_FIELDS_FROM_METADATA = ("dataset", "timesteps", "num_classes", "input_shape", "parameters", "license")


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _replace_file_atomic(src: Path, dst: Path) -> None:
    tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _read_raw_card(card_dir: Path) -> dict:
    file = card_dir / registry.CARD_FILE
    if not file.exists():
        return {"schema_version": registry.CARD_SCHEMA_VERSION, "name": card_dir.name}
    registry.read_card(card_dir)  # validates
    return json.loads(file.read_text(encoding="utf-8"))


def stage(card_dir: str | os.PathLike, out: str | os.PathLike, *, preset: str | os.PathLike | None = None) -> dict[str, str]:
    """Write the exact folder to upload into ``out`` (empty or new) and return ``{file: sha256}``.

    >>> stage("zoo/sresnet20-mnist-t2", "out/staged")
    {'metadata.json': '...', 'config.json': '...', 'model.weights.h5': '...', 'README.md': '...'}
    """
    card_dir = Path(card_dir)
    preset_dir = Path(preset) if preset is not None else card_dir
    out = Path(out)
    source = str(preset_dir)
    meta = read_metadata(preset_dir, source)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in meta["files"] or not (preset_dir / name).is_file():
            raise PresetFormatError(f"{source}: '{name}' is missing. Fix: save the model with keras_trt.zoo.save_preset().")
        verify_file(preset_dir / name, meta["files"][name], name=name, source=source, anchor=METADATA_FILE)

    readme_src = card_dir / README_FILE if (card_dir / README_FILE).is_file() else preset_dir / README_FILE
    if readme_src.is_file():
        readme = readme_src.read_text(encoding="utf-8")
    else:
        readme = zoo_card.render_model_card(meta)
    if not zoo_card.has_front_matter(readme):
        card_fields = {k: v for k, v in _read_raw_card(card_dir).items() if v is not None}
        data = zoo_card.card_data({**card_fields, **{k: v for k, v in meta.items() if v is not None}})
        readme = f"---\n{data.to_yaml()}\n---\n\n{readme}"

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty. Fix: pass a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(preset_dir / CONFIG_FILE, out / CONFIG_FILE)
    shutil.copy2(preset_dir / WEIGHTS_FILE, out / WEIGHTS_FILE)
    (out / README_FILE).write_text(readme, encoding="utf-8")
    readme_hash = sha256_file(out / README_FILE)
    if meta["files"].get(README_FILE) == readme_hash:
        shutil.copy2(preset_dir / METADATA_FILE, out / METADATA_FILE)  # byte for byte
    else:
        raw_meta = json.loads((preset_dir / METADATA_FILE).read_text(encoding="utf-8"))
        raw_meta["files"][README_FILE] = readme_hash
        _write_json_atomic(out / METADATA_FILE, raw_meta)
    return {name: sha256_file(out / name) for name in PRESET_FILES}


def _card_update(raw: dict, meta: dict, pins: dict, repo: str, revision: str, size: int) -> dict:
    card = dict(raw)
    card["hub"] = {"repo": repo, "revision": revision}
    card["files"] = dict(pins)
    card["published"] = True
    card["size_bytes"] = size
    for key in _CARD_FIELDS_FROM_METADATA:
        if card.get(key) is None and meta.get(key) is not None:
            card[key] = meta[key]
    if not card.get("metrics") and meta.get("metrics"):
        card["metrics"] = meta["metrics"]
    return card


def publish(
    card_dir: str | os.PathLike,
    repo: str | None = None,
    *,
    preset: str | os.PathLike | None = None,
    dry_run: str | os.PathLike | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
    token: str | None = None,
    verify: bool = True,
) -> dict:
    """Publish ``card_dir``'s preset to the Hub repo ``repo`` and pin it in ``card_dir/card.json``.

    Returns ``{"repo", "revision", "files", "card", "dry_run"}`` (``revision`` is ``None`` for a dry
    run, whose ``card`` shows the update with a placeholder revision).

    >>> report = publish("zoo/sresnet20-mnist-t2", "org/sresnet20-mnist-t2", dry_run="out/dry-run")
    >>> report["card"]["hub"]
    {'repo': 'org/sresnet20-mnist-t2', 'revision': '<commit of the upload>'}
    >>> publish("zoo/sresnet20-mnist-t2", "org/sresnet20-mnist-t2", private=True)            # doctest: +SKIP
    """
    card_dir = Path(card_dir)
    if not card_dir.is_dir():
        raise FileNotFoundError(f"{card_dir} is not a folder. Fix: pass the zoo entry's folder, e.g. zoo/<name>.")
    raw = _read_raw_card(card_dir)
    repo = repo or (raw.get("hub") or {}).get("repo")
    if not repo or repo.count("/") != 1:
        raise ValueError(f"Invalid or missing Hub repo {repo!r}. Fix: pass --repo org/name.")
    preset_dir = Path(preset) if preset is not None else card_dir

    if dry_run is not None:
        out = Path(dry_run)
        pins = stage(card_dir, out, preset=preset_dir)
        meta = json.loads((out / METADATA_FILE).read_text(encoding="utf-8"))
        size = sum((out / n).stat().st_size for n in PRESET_FILES)
        card = _card_update(raw, meta, pins, repo, "<commit of the upload>", size)
        return {"repo": repo, "revision": None, "files": pins, "card": card, "dry_run": str(out)}

    from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

    with tempfile.TemporaryDirectory(prefix="keras-trt-publish-") as tmp:
        out = Path(tmp) / "upload"
        pins = stage(card_dir, out, preset=preset_dir)
        meta = json.loads((out / METADATA_FILE).read_text(encoding="utf-8"))
        size = sum((out / n).stat().st_size for n in PRESET_FILES)
        api = HfApi(token=token)
        api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        operations = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(out / n)) for n in PRESET_FILES]
        info = api.create_commit(
            repo,
            operations=operations,
            commit_message=message or f"Upload keras-trt preset {raw.get('name', card_dir.name)}",
            revision=revision,
        )
        commit = info.oid
        if verify:
            echoed = hf_hub_download(repo, METADATA_FILE, revision=commit, token=token)
            actual = sha256_file(echoed)
            if actual != pins[METADATA_FILE]:
                raise IntegrityError(
                    f"Uploaded {METADATA_FILE} reads back from {repo}@{commit} with sha256 {actual}, expected "
                    f"{pins[METADATA_FILE]}; card.json was NOT updated. Fix: retry the upload."
                )
        if preset_dir.resolve() == card_dir.resolve():  # keep the committed local copy identical to the Hub's
            for name in (README_FILE, METADATA_FILE):
                if not (card_dir / name).is_file() or sha256_file(card_dir / name) != pins[name]:
                    _replace_file_atomic(out / name, card_dir / name)
        card = _card_update(raw, meta, pins, repo, commit, size)
        _write_json_atomic(card_dir / registry.CARD_FILE, card)
    return {"repo": repo, "revision": commit, "files": pins, "card": card, "dry_run": None}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m training.publish --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m training.publish",
        description="Upload a zoo preset to the Hugging Face Hub and pin the commit and file hashes in its card.json.",
    )
    parser.add_argument("card_dir", help="the zoo entry folder, e.g. zoo/sresnet20-mnist-t2")
    parser.add_argument("--repo", help="Hub repo id org/name (default: the card's hub.repo)")
    parser.add_argument("--preset", help="preset folder to upload (default: the zoo entry folder itself)")
    parser.add_argument("--dry-run", metavar="OUT", help="write the exact upload folder to OUT; upload nothing")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to commit to (default: main)")
    parser.add_argument("--message", help="commit message")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the `hf auth login` token)")
    parser.add_argument("--no-verify", action="store_true", help="skip downloading metadata.json back after the upload")
    args = parser.parse_args(argv)
    try:
        result = publish(
            args.card_dir,
            args.repo,
            preset=args.preset,
            dry_run=args.dry_run,
            private=args.private,
            revision=args.revision,
            message=args.message,
            token=args.token,
            verify=not args.no_verify,
        )
    except (ZooError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    base = Path(result["dry_run"]) if result["dry_run"] else None
    print(f"{'Dry run: would upload' if base else 'Uploaded'} to hf://{result['repo']}" + (f"@{result['revision']}" if result["revision"] else ""))
    for name, digest in result["files"].items():
        print(f"  {name:<18} {digest}" + (f"  {(base / name).stat().st_size} bytes" if base else ""))
    if base:
        print(f"Upload folder written to {base}; nothing uploaded, {Path(args.card_dir) / registry.CARD_FILE} unchanged.")
        print("card.json would become:")
    else:
        print(f"Pinned in {Path(args.card_dir) / registry.CARD_FILE}:")
    print(json.dumps({k: result["card"][k] for k in ("hub", "files", "published", "size_bytes")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
