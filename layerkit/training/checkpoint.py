"""Safe checkpoints: an ``.npz`` of plain arrays plus a JSON manifest that vouches for it.

``checkpoints/epoch-0003.npz`` holds only numeric arrays and is always read with
``allow_pickle=False``: a pickle or an object array is refused before anything in it runs.
``checkpoints/epoch-0003.json`` is the manifest: format version, epoch and step, the resolved
spec, the plugins it needs (with their distributions), optimizer and RNG state, the metrics
history, and the shape, dtype and sha256 of every array. Both files are written to a temp file,
fsynced and renamed, the manifest last, so a checkpoint exists only once it is complete; loading
recomputes every checksum. A corrupt or truncated latest checkpoint falls back to the previous
one with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from layerkit._validation import INT_CHECK, StrictFloat, describe_errors, render
from layerkit.errors import CheckpointError, CheckpointWarning, PluginError
from layerkit.fileio import (
    JsonLimits,
    UnsafeJson,
    atomic_write,
    atomic_write_json,
    fsync_dir,
    read_json,
)
from layerkit.plugins import SINGULAR, get_registry

__all__ = [
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "check_plugins",
    "qualified_spec",
    "checkpoint_dir",
    "FORMAT",
    "FORMAT_VERSION",
    "Manifest",
    "MANIFEST_LIMITS",
]

FORMAT = "layerkit-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^epoch-(\d+)\.json$")
_ALLOWED_KINDS = frozenset("fiub")  # float, signed, unsigned, bool: never objects or structs
#: A manifest is a few kilobytes to a few megabytes (its metrics history); nesting is ~6 deep.
MANIFEST_LIMITS = JsonLimits(max_bytes=32 * 1024 * 1024, max_depth=32)


# -- the manifest, validated before anything is built from it --------------------------------
#
# A manifest is untrusted input (a file on disk anyone may have edited): every field eval,
# predict and resume read is typed here, so a wrong one is a located "invalid manifest" error
# (and, for the latest checkpoint of a run, a fallback to the previous one), never a KeyError.


class _Part(BaseModel):
    # Newer layerkit versions may add keys; the ones read here must be right.
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=True)


Count = Annotated[int, Field(ge=0), INT_CHECK]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class ArrayRecord(_Part):
    shape: Annotated[list[Count], Field(max_length=32)]
    dtype: Annotated[str, Field(min_length=2, max_length=16)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ComponentRecord(_Part):
    group: Literal["layers", "optimizers", "datasets", "augmentations", "callbacks"]
    name: Name
    plugin: Name | None = None
    distribution: str | None = None
    version: str | None = None

    @property
    def qualified_name(self) -> str:
        """``plugin:Name`` when the provider was recorded, else the bare name."""
        return f"{self.plugin}:{self.name}" if self.plugin else self.name


class InputRecord(_Part):
    shape: Annotated[
        list[Annotated[int, Field(gt=0), INT_CHECK]], Field(min_length=1, max_length=8)
    ]
    num_classes: Annotated[int, Field(gt=0), INT_CHECK] | None = None
    class_names: list[str] | None = None
    scale: StrictFloat = 1.0
    stored_dtype: str | None = None


class OptimizerRecord(_Part):
    config: dict[str, Any]
    iterations: Count
    lr: StrictFloat


class RngRecord(_Part):
    shuffle: dict[str, Any] | None = None
    layers: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Manifest(_Part):
    """The fields of ``epoch-NNNN.json`` layerkit reads (validated on every load)."""

    format: Literal["layerkit-checkpoint"]
    format_version: Annotated[int, Field(ge=1), INT_CHECK]
    epoch: Count
    step: Count
    spec: dict[str, Any]
    plugins: list[ComponentRecord] = Field(default_factory=list)
    arrays: dict[str, ArrayRecord]
    input: InputRecord | None = None
    network: dict[str, Any] | None = None
    optimizer: OptimizerRecord | None = None
    rng: RngRecord | None = None
    callbacks: dict[str, Any] = Field(default_factory=dict)
    stop_reason: str | None = None
    history: list[dict[str, StrictFloat | None]] = Field(default_factory=list)


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: its manifest and its arrays (keyed ``"params:affine1.W"``...)."""

    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def epoch(self) -> int:
        return int(self.manifest["epoch"])

    @property
    def step(self) -> int:
        return int(self.manifest["step"])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.manifest["spec"])

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays saved under ``prefix:``, with the prefix removed."""
        head = prefix + ":"
        return {k[len(head) :]: v for k, v in self.arrays.items() if k.startswith(head)}

    @property
    def npz_path(self) -> Path:
        return self.path.with_suffix(".npz")


def checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


def _sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).data.cast("B")).hexdigest()


def save_checkpoint(
    directory: str | os.PathLike[str],
    epoch: int,
    arrays: Mapping[str, np.ndarray],
    manifest: Mapping[str, Any],
    *,
    keep: int | None = None,
) -> Path:
    """Write ``epoch-NNNN.npz`` and its manifest atomically; keep the newest ``keep``.

    Returns the manifest's path. ``manifest`` must be JSON-serialisable; the array table and
    format fields are added here.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[str, Any]] = {}
    plain: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise CheckpointError(f"cannot checkpoint {name!r}: dtype {arr.dtype} is not numeric")
        plain[name] = arr
        table[name] = {"shape": list(arr.shape), "dtype": arr.dtype.str, "sha256": _sha256(arr)}
    stem = checkpoint_name(epoch)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "epoch": epoch}
    full["arrays"] = table
    atomic_write(directory / f"{stem}.npz", lambda fh: np.savez(fh, allow_pickle=False, **plain))
    # The manifest is written last: it is what makes the checkpoint exist.
    path = atomic_write_json(directory / f"{stem}.json", full)
    if keep is not None:
        _prune(directory, keep)
    return path


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """Manifest paths in ``directory``, oldest epoch first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return [p for _, p in sorted(found)]


def _prune(directory: Path, keep: int) -> None:
    manifests = list_checkpoints(directory)
    for old in manifests[: max(0, len(manifests) - keep)]:
        # manifest first: a half-pruned checkpoint is then simply absent, never mismatched
        old.unlink(missing_ok=True)
        old.with_suffix(".npz").unlink(missing_ok=True)
    kept = {p.with_suffix(".npz").name for p in list_checkpoints(directory)}
    for npz in directory.glob("epoch-*.npz"):
        if npz.name not in kept:  # left by a run killed between the two renames
            npz.unlink(missing_ok=True)
    fsync_dir(directory)


def checkpoint_dir(path: str | os.PathLike[str]) -> Path:
    """The checkpoint directory of a run folder (or the directory itself)."""
    path = Path(path)
    sub = path / "checkpoints"
    return sub if sub.is_dir() else path


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load and verify one checkpoint, or the latest usable one of a run folder or directory.

    ``path`` may be a manifest (``.json``), its ``.npz``, a ``checkpoints/`` directory or a run
    folder. Raises :class:`CheckpointError` saying what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        return latest_checkpoint(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.suffix == ".json":
        return _load(path)
    if path.suffix == ".npz":
        manifest = path.with_suffix(".json")
        if not manifest.exists():
            _refuse_if_pickle(path)
            raise CheckpointError(
                f"{path}: no manifest {manifest.name} beside it (an incomplete checkpoint, "
                "or not a layerkit checkpoint)"
            )
        return _load(manifest)
    _refuse_if_pickle(path)
    raise CheckpointError(
        f"{path}: not a layerkit checkpoint (expected a .npz with its .json manifest)"
    )


def latest_checkpoint(directory: str | os.PathLike[str]) -> Checkpoint:
    """The newest checkpoint that verifies; unusable newer ones are skipped with a warning."""
    directory = checkpoint_dir(directory)
    manifests = list_checkpoints(directory)
    if not manifests:
        raise CheckpointError(f"{directory}: no checkpoints found")
    problems: list[str] = []
    for manifest in reversed(manifests):
        try:
            ckpt = _load(manifest)
        except CheckpointError as exc:
            problems.append(str(exc))
            warnings.warn(
                f"{exc}; falling back to the previous checkpoint", CheckpointWarning, stacklevel=2
            )
            continue
        return ckpt
    raise CheckpointError(f"{directory}: no usable checkpoint:\n  " + "\n  ".join(problems))


def _refuse_if_pickle(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(2)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror})") from None
    if head[:1] == b"\x80" or head == b"(d" or head == b"(l":
        raise CheckpointError(
            f"{path}: refusing to load pickled data (checkpoints hold plain arrays only)"
        )


def _read_manifest(manifest_path: Path) -> dict[str, Any]:
    """The manifest's JSON, checked against :class:`Manifest` (size and depth before parsing)."""
    try:
        manifest = read_json(manifest_path, MANIFEST_LIMITS)
    except UnsafeJson as exc:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: not a layerkit checkpoint manifest")
    version = manifest.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{manifest_path}: checkpoint format version {version!r} is newer than this layerkit "
            f"reads ({FORMAT_VERSION}); upgrade layerkit"
        )
    try:
        Manifest.model_validate(manifest)
    except ValidationError as exc:
        problems = [render(loc, msg, received) for loc, msg, received in describe_errors(exc)]
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise CheckpointError(f"{manifest_path}: invalid manifest: {shown}") from None
    return manifest


def _load(manifest_path: Path) -> Checkpoint:
    where = manifest_path.with_suffix("")
    manifest = _read_manifest(manifest_path)
    table = manifest["arrays"]
    for name, meta in table.items():
        try:
            kind = np.dtype(meta["dtype"]).kind
        except (TypeError, ValueError):  # no such dtype
            kind = None
        if kind not in _ALLOWED_KINDS:
            raise CheckpointError(
                f"{where}: refusing array {name!r} of dtype {meta['dtype']} (object arrays are never loaded)"
            )
    npz_path = manifest_path.with_suffix(".npz")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise CheckpointError(f"{npz_path}: not an .npz archive")
            extra = set(archive.files) - set(table)
            if extra:
                raise CheckpointError(f"{npz_path}: arrays not in the manifest: {sorted(extra)}")
            for name, meta in table.items():
                if name not in archive.files:
                    raise CheckpointError(f"{npz_path}: array {name!r} is missing")
                arr = archive[name]
                if arr.dtype.kind not in _ALLOWED_KINDS:
                    raise CheckpointError(
                        f"{npz_path}: refusing array {name!r} of dtype {arr.dtype}"
                    )
                if list(arr.shape) != list(meta["shape"]) or arr.dtype.str != meta["dtype"]:
                    raise CheckpointError(
                        f"{npz_path}: array {name!r} is {arr.dtype.str}{list(arr.shape)}, manifest "
                        f"says {meta['dtype']}{meta['shape']}"
                    )
                if _sha256(arr) != meta["sha256"]:
                    raise CheckpointError(
                        f"{npz_path}: checksum mismatch for array {name!r} (corrupt file)"
                    )
                arrays[name] = arr
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{npz_path}: missing (the manifest has no data file)") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CheckpointError(f"{npz_path}: refusing to load pickled data ({exc})") from None
        raise CheckpointError(f"{npz_path}: corrupt or truncated ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise CheckpointError(f"{npz_path}: corrupt or truncated ({exc})") from None
    except Exception as exc:  # zlib.error, struct.error... from a damaged archive
        raise CheckpointError(
            f"{npz_path}: corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    return Checkpoint(manifest_path, manifest, arrays)


# -- plugins --------------------------------------------------------------------------------


def component_records(components: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Provenance of the ``(group, name)`` components a spec uses, for the manifest and lock."""

    registry = get_registry()
    records = []
    seen = set()
    for group, name in components:
        if (group, name) in seen:
            continue
        seen.add((group, name))
        entry = registry.lookup(group, name)
        records.append(
            {
                "group": group,
                "name": name,
                "plugin": entry.plugin,
                "distribution": entry.distribution,
                "version": entry.version,
            }
        )
    return records


def _resolved_names(
    manifest: Mapping[str, Any], skip: Iterable[str] = ()
) -> tuple[dict[tuple[str, str], str], list[Mapping[str, Any]]]:
    """``(group, name) -> the name to look up now`` for every component the manifest recorded
    (those of the groups in ``skip`` excepted), and the records that resolve to nothing.

    The manifest records each component's provider, so a bare name another plugin now also
    provides (an installed plugin with its own ``Relu``) still means what it meant when the
    run was trained: its qualified ``plugin:Name``.
    """

    registry = get_registry()
    skipped = set(skip)
    names: dict[tuple[str, str], str] = {}
    missing: list[Mapping[str, Any]] = []
    for rec in manifest.get("plugins", ()):
        group, name, plugin = rec["group"], rec["name"], rec.get("plugin")
        if group in skipped:
            continue
        tries = [f"{plugin}:{name}", name] if plugin and ":" not in name else [name]
        for candidate in tries:
            try:
                registry.lookup(group, candidate)
            except PluginError:
                continue
            names[(group, name)] = candidate
            break
        else:
            missing.append(rec)
    return names, missing


def _qualify(entries: Any, group: str, names: Mapping[tuple[str, str], str]) -> None:
    """Rename in place the ``type`` of each ``{type: ...}`` entry of ``entries`` (a list or one)."""
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, dict) and isinstance(entry.get("type"), str):
            entry["type"] = names.get((group, entry["type"]), entry["type"])


def qualified_spec(manifest: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """The manifest's spec with each component named as :func:`_resolved_names` resolves it."""
    names, _ = _resolved_names(manifest, skip)
    spec = json.loads(json.dumps(manifest["spec"]))  # a deep copy of plain JSON data
    data = spec.get("data")
    if isinstance(data, dict) and isinstance(data.get("dataset"), str):
        data["dataset"] = names.get(("datasets", data["dataset"]), data["dataset"])
    if isinstance(data, dict):
        _qualify(data.get("augment"), "augmentations", names)
    train = spec.get("train") if isinstance(spec.get("train"), dict) else {}
    _qualify(train.get("optimizer"), "optimizers", names)
    _qualify(train.get("callbacks"), "callbacks", names)
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    _qualify(model.get("layers"), "layers", names)
    blocks = model.get("blocks")
    for block in blocks.values() if isinstance(blocks, dict) else ():
        if isinstance(block, dict):
            _qualify(block.get("layers"), "layers", names)
    return spec


def check_plugins(
    manifest: Mapping[str, Any], *, source: str = "checkpoint", skip: Iterable[str] = ()
) -> None:
    """Raise :class:`CheckpointError` naming the distributions to install for missing components
    (those of the groups in ``skip`` excepted: inference needs no training callbacks)."""
    _, records = _resolved_names(manifest, skip)
    missing = [
        (
            SINGULAR.get(rec["group"], rec["group"]),
            rec["name"],
            rec.get("distribution"),
            rec.get("version"),
        )
        for rec in records
    ]
    if not missing:
        return
    parts = []
    installs = []
    for kind, name, dist, version in missing:
        origin = f" from {dist}" + (f" {version}" if version else "") if dist else ""
        if dist and _installed(dist):
            state = (
                "installed but its plugin did not load (disabled or broken: see `layerkit plugins`)"
            )
        else:
            state = "not installed"
            if dist and dist not in installs:
                installs.append(dist)
        parts.append(f"{kind} {name!r}{origin}, which is {state}")
    message = f"{source} needs " + "; and ".join(parts)
    if installs:
        message += f"; install it with: pip install {' '.join(installs)}"
    raise CheckpointError(message)


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True
