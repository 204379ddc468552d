"""Fetch presets from the Hugging Face Hub through ``huggingface_hub``.

Handles look like ``hf://org/repo`` or ``hf://org/repo@revision`` (a branch, tag or commit hash).
Files go through :func:`huggingface_hub.hf_hub_download`, so its cache, progress bars and settings
(``HF_HOME``, ``HF_HUB_CACHE``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_TOKEN``) apply. Only the
files needed are fetched: ``metadata.json`` first (its revision is then pinned to the commit it came
from), then ``config.json`` and, when weights are wanted, ``model.weights.h5``. Each is checked
against its sha256; a file that fails is removed from the Hugging Face cache so it is never served
again as valid.

>>> from keras_trt.zoo.hub import parse_hf_handle
>>> parse_hf_handle("hf://org/my-snn@v1.0")
('org/my-snn', 'v1.0')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from keras_trt.zoo.errors import HubError, HubFileNotFoundError, HubOfflineError, IntegrityError, PresetFormatError
from keras_trt.zoo.integrity import git_blob_sha1, sha256_file, verify_file
from keras_trt.zoo.preset import METADATA_FILE, PRESET_FILES, keras_trt_version, read_metadata, required_files

HF_PREFIX = "hf://"
_REPO_RE = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")


def is_hf_handle(handle: object) -> bool:
    """True for strings starting with ``hf://``.

    >>> is_hf_handle("hf://org/repo"), is_hf_handle("org/repo")
    (True, False)
    """
    return isinstance(handle, str) and handle.startswith(HF_PREFIX)


def parse_hf_handle(handle: str) -> tuple[str, str | None]:
    """Split ``hf://org/repo[@revision]`` into ``(repo_id, revision or None)``.

    >>> parse_hf_handle("hf://org/repo")
    ('org/repo', None)
    >>> parse_hf_handle("hf://org/repo@refs/pr/3")
    ('org/repo', 'refs/pr/3')
    """
    if not is_hf_handle(handle):
        raise ValueError(f"{handle!r} is not a Hub handle; expected 'hf://org/repo' or 'hf://org/repo@revision'.")
    rest = handle[len(HF_PREFIX) :]
    repo_id, sep, revision = rest.partition("@")
    repo_id = repo_id.strip("/")
    if not _REPO_RE.match(repo_id) or ".." in repo_id or (sep and not revision):
        raise ValueError(
            f"Invalid Hub handle {handle!r}: expected 'hf://org/repo' or 'hf://org/repo@revision' "
            "(revision: a branch, tag or commit hash)."
        )
    return repo_id, (revision or None)


def format_handle(repo_id: str, revision: str | None) -> str:
    """Inverse of :func:`parse_hf_handle`.

    >>> format_handle("org/repo", "main")
    'hf://org/repo@main'
    """
    return f"{HF_PREFIX}{repo_id}" + (f"@{revision}" if revision else "")


def _hf():
    """huggingface_hub, with its ``errors`` and ``constants`` submodules loaded (it imports lazily)."""
    try:
        import huggingface_hub
        import huggingface_hub.constants  # noqa: F401
        import huggingface_hub.errors  # noqa: F401
    except ImportError as err:  # pragma: no cover - huggingface_hub is a dependency of the zoo
        raise ImportError(
            "Loading presets from the Hugging Face Hub needs huggingface_hub. Fix: `pip install huggingface_hub`, "
            "or download the preset folder yourself and pass its path to keras_trt.zoo.load()."
        ) from err
    return huggingface_hub


def cache_dir() -> str:
    """The Hugging Face Hub cache folder in use (``HF_HUB_CACHE``, by default ``$HF_HOME/hub``).

    >>> isinstance(cache_dir(), str)
    True
    """
    return str(_hf().constants.HF_HUB_CACHE)


def _offline_message(repo_id: str, revision: str | None, filename: str, reason: str) -> str:
    rev = revision or "main"
    return (
        f"Cannot get '{filename}' of {format_handle(repo_id, revision)}: {reason}, and the file is not in the local "
        f"Hugging Face cache ({cache_dir()}). Fix one of:\n"
        "  * connect to the internet"
        + (" and unset HF_HUB_OFFLINE" if _hf().constants.HF_HUB_OFFLINE else "")
        + ";\n"
        f"  * on a connected machine pre-download the preset with `hf download {repo_id} --revision {rev}` "
        f"(older huggingface_hub: `huggingface-cli download {repo_id} --revision {rev}`), then copy that "
        "cache here or point HF_HOME / HF_HUB_CACHE at it;\n"
        "  * download the preset folder by any means and pass its local path: keras_trt.zoo.load('/path/to/preset')."
    )


def download_file(repo_id: str, filename: str, revision: str | None) -> str:
    """Download one file of a Hub repo into the HF cache and return its local path.

    Errors become :mod:`keras_trt.zoo` errors that say how to fix them: :class:`HubOfflineError`
    (offline, nothing cached), :class:`HubFileNotFoundError` (no such file at that revision),
    :class:`HubError` (repository or revision not found, other HTTP errors).

    >>> path = download_file("org/tiny-snn", "metadata.json", "main")  # doctest: +SKIP
    """
    hf = _hf()
    errors = hf.errors
    handle = format_handle(repo_id, revision)
    try:
        return hf.hf_hub_download(
            repo_id=repo_id,
            filename=filename,
            revision=revision,
            library_name="keras-trt",
            library_version=keras_trt_version(),
        )
    except errors.LocalEntryNotFoundError as err:
        reason = "offline mode is on (HF_HUB_OFFLINE=1)" if hf.constants.HF_HUB_OFFLINE else (
            f"the Hub ({hf.constants.ENDPOINT}) could not be reached"
        )
        raise HubOfflineError(_offline_message(repo_id, revision, filename, reason)) from err
    except errors.OfflineModeIsEnabled as err:
        raise HubOfflineError(_offline_message(repo_id, revision, filename, "offline mode is on (HF_HUB_OFFLINE=1)")) from err
    except errors.RemoteEntryNotFoundError as err:
        raise HubFileNotFoundError(
            f"The Hub repo '{repo_id}' has no file '{filename}' at revision '{revision or 'main'}', so {handle} is not a "
            f"complete keras-trt preset (a preset holds {', '.join(PRESET_FILES)}). Fix: check the repo and revision, "
            "or re-publish the preset with `python -m training.publish`."
        ) from err
    except errors.RevisionNotFoundError as err:
        raise HubError(
            f"The Hub repo '{repo_id}' has no revision '{revision}'. Fix: use an existing branch, tag or commit hash "
            f"(hf://{repo_id}@<revision>), or omit the revision to use 'main'."
        ) from err
    except errors.GatedRepoError as err:
        raise HubError(
            f"The Hub repo '{repo_id}' is gated. Fix: accept its conditions on the Hub, then log in with "
            "`hf auth login` (or set HF_TOKEN)."
        ) from err
    except errors.RepositoryNotFoundError as err:
        raise HubError(
            f"The Hub repo '{repo_id}' was not found, or it is private and you are not authenticated. Fix: check the "
            "name (hf://org/repo); for a private repo log in with `hf auth login` or set HF_TOKEN."
        ) from err
    except errors.HfHubHTTPError as err:
        raise HubError(
            f"The Hub refused '{filename}' of {handle}: {err}. Fix: retry later, check HF_ENDPOINT / your token, or "
            "load a local copy of the preset folder."
        ) from err


def purge_cached_file(path: str | os.PathLike) -> list[str]:
    """Remove a file from the Hugging Face cache: its snapshot entry and the blob behind it.

    Returns the removed paths. Only paths inside a cache ``snapshots/`` tree are touched.

    >>> purge_cached_file("/not/a/cache/file")
    []
    """
    p = Path(path)
    storage = next((parent.parent for parent in p.parents if parent.name == "snapshots"), None)
    if storage is None or not (os.path.lexists(p)):
        return []
    blobs = storage / "blobs"
    targets: list[Path] = []
    if p.is_symlink():
        targets.append(Path(os.path.realpath(p)))
    if p.exists():
        for name in {sha256_file(p), git_blob_sha1(p)}:
            targets.append(blobs / name)
    removed = []
    try:
        p.unlink()
        removed.append(str(p))
    except FileNotFoundError:
        pass
    blobs_real = os.path.realpath(blobs)
    for target in targets:
        if os.path.dirname(os.path.realpath(target)) != blobs_real:
            continue  # never delete anything outside this repo's blob store
        try:
            target.unlink()
            removed.append(str(target))
        except FileNotFoundError:
            pass
    return removed


def _verify_download(path: str, expected: str, *, filename: str, handle: str, anchor: str) -> None:
    try:
        verify_file(path, expected, name=filename, source=handle, anchor=anchor)
    except IntegrityError as err:
        removed = purge_cached_file(path)
        raise IntegrityError(
            f"{err} The rejected copy was removed from the Hugging Face cache ({len(removed)} path(s)), so it will not be "
            "served again; loading again downloads it afresh. If this keeps happening, the file on the Hub differs from "
            "the recorded hash: report it to the preset's author."
        ) from None


def fetch_preset(
    repo_id: str,
    revision: str | None = None,
    *,
    weights: bool = True,
    pins: Mapping[str, str] | None = None,
) -> tuple[Path, dict, str]:
    """Download and verify the files needed to load a Hub preset; return ``(folder, metadata, commit)``.

    ``folder`` is the cache snapshot folder of the resolved commit. ``pins`` (``{file: sha256}`` from
    a registry card) are checked before anything else: the pinned ``metadata.json`` anchors every
    other hash.

    >>> folder, meta, commit = fetch_preset("org/tiny-snn", "main")  # doctest: +SKIP
    """
    pins = dict(pins or {})
    handle = format_handle(repo_id, revision)
    meta_path = download_file(repo_id, METADATA_FILE, revision)
    folder = Path(meta_path).parent
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else (revision or "main")
    if METADATA_FILE in pins:
        _verify_download(meta_path, pins[METADATA_FILE], filename=METADATA_FILE, handle=handle, anchor="the registry card")
    meta = read_metadata(meta_path, source=handle)
    files = meta["files"]
    for name in required_files(weights):
        if name not in files:
            raise PresetFormatError(
                f"{handle}: {METADATA_FILE} does not list '{name}', so it cannot be verified. Fix: re-publish the preset."
            )
        if name in pins and pins[name] != files[name]:
            raise IntegrityError(
                f"{handle}: the registry card pins '{name}' to sha256 {pins[name]} but {METADATA_FILE} records "
                f"{files[name]}. Fix: re-publish the preset (python -m training.publish) or update the card."
            )
        local = download_file(repo_id, name, commit)
        _verify_download(local, files[name], filename=name, handle=handle, anchor=METADATA_FILE)
        if Path(local).parent != folder:  # same commit => same snapshot folder; be defensive anyway
            raise HubError(f"{handle}: '{name}' resolved to another snapshot than {METADATA_FILE}. Fix: retry.")
    return folder, meta, commit


__all__ = [
    "HF_PREFIX",
    "is_hf_handle",
    "parse_hf_handle",
    "format_handle",
    "cache_dir",
    "download_file",
    "purge_cached_file",
    "fetch_preset",
]
