"""``export_checkpoint``: a run folder or checkpoint in, a verified ONNX file out.

The application side of ONNX export (what ``layerkit export`` does): restore the checkpoint's
network, export it with the metadata a server needs (spec name and hash, class names, how raw
inputs are scaled), verify it in ONNX Runtime against layerkit's own predictions on the run's
test data, and only then write the file, atomically. A model that fails ``onnx.checker`` or the
verification never replaces an existing file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from layerkit.errors import DataError, ExportError, RunFailed
from layerkit.export import DEFAULT_OPSET, EXTRA, save_model, to_onnx, verify_onnx
from layerkit.fileio import make_dirs
from layerkit.run import checkpoint_spec, restore_network
from layerkit.spec import Spec
from layerkit.training.checkpoint import load_checkpoint

__all__ = ["DEFAULT_SAMPLES", "ExportResult", "export_checkpoint", "spec_digest"]

#: Test samples the verification runs by default.
DEFAULT_SAMPLES = 1000


def spec_digest(spec: Mapping[str, Any]) -> str:
    """SHA-256 of a resolved spec as canonical JSON (sorted keys): equal specs, equal digests."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ExportResult:
    """What ``export_checkpoint`` wrote and how it verified."""

    path: Path
    checkpoint: Path
    epoch: int
    opset: int
    input_name: str
    input_shape: tuple[int, ...]
    num_classes: int
    parameters: int
    size_bytes: int
    metadata: dict[str, str]
    #: ``None`` when verification was skipped
    verification: Any = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "checkpoint": str(self.checkpoint),
            "epoch": self.epoch,
            "opset": self.opset,
            "input": {"name": self.input_name, "shape": ["batch", *self.input_shape]},
            "outputs": {
                "scores": ["batch", self.num_classes],
                "probabilities": ["batch", self.num_classes],
            },
            "parameters": self.parameters,
            "size_bytes": self.size_bytes,
            "metadata": self.metadata,
            "verification": self.verification.to_dict() if self.verification is not None else None,
            "notes": list(self.notes),
        }


def _input_name(spec: Spec, info: Mapping[str, Any]) -> str:
    name = info.get("name")
    if isinstance(name, str) and name:
        return name
    # checkpoints written before datasets named their inputs: ask the dataset (cheap, no data)
    return str(spec.data.create().describe().input_name)


def _test_batch(spec: Spec, samples: int, dtype: np.dtype) -> np.ndarray:
    split = spec.data.create().load().get("test")
    if split is None or not len(split):
        raise DataError(f"dataset {spec.data.dataset!r} has no test split to verify the export on")
    x = np.asarray(split.x[:samples], dtype=dtype)
    if split.scale != 1.0:
        x *= dtype.type(split.scale)
    return x


def export_checkpoint(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool | None = None,
    samples: int = DEFAULT_SAMPLES,
    atol: float | None = None,
    rtol: float | None = None,
    dtype: str | None = None,
) -> ExportResult:
    """Export the network of a checkpoint (or a run folder's latest) to ``out``.

    ``verify``: ``True`` requires ONNX Runtime, ``False`` skips the check, ``None`` (default)
    verifies when ONNX Runtime is installed. A failed verification raises
    :class:`~layerkit.errors.RunFailed` and writes nothing. ``dtype`` (``float32`` or
    ``float64``) exports in another float type than the spec's; the comparison then runs
    layerkit in that type too.
    """
    if samples <= 0:
        raise ExportError(f"samples: must be > 0 (received {samples})")
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"-o {out}: is a directory; name the file, e.g. {out / 'model.onnx'}")
    ckpt = load_checkpoint(source)
    spec = checkpoint_spec(ckpt)
    network = restore_network(ckpt, spec)
    if dtype is not None and np.dtype(dtype) != network.dtype:
        network = network.with_dtype(dtype)
    info = dict(ckpt.manifest.get("input") or {})
    input_name = _input_name(spec, info)
    class_names = info.get("class_names")
    metadata = {
        "layerkit.spec_name": spec.name,
        # the spec as the checkpoint recorded it: what a reader can hash again
        "layerkit.spec_sha256": spec_digest(ckpt.spec),
        "layerkit.checkpoint": json.dumps({"epoch": ckpt.epoch, "step": ckpt.step}),
        # what a server does to raw stored values (uint8 pixels) before feeding the model
        "layerkit.input_scale": repr(float(info.get("scale", 1.0))),
    }
    model = to_onnx(
        network,
        input_name=input_name,
        class_names=class_names,
        opset=opset,
        graph_name=spec.name or "layerkit",
        metadata=metadata,
    )
    data = model.SerializeToString()
    notes: list[str] = []
    report = None
    if verify is None:
        verify = find_spec("onnxruntime") is not None
        if not verify:
            notes.append(f"not verified: onnxruntime is not installed ({EXTRA})")
    if verify:
        x = _test_batch(spec, samples, network.dtype)
        report = verify_onnx(data, network, x, input_name=input_name, atol=atol, rtol=rtol)
        if not report.passed:
            raise RunFailed(
                f"verification failed: {report}\n{out} was not written (--no-verify writes it "
                "anyway; --atol/--rtol set the tolerance)"
            )
    if out.parent != Path(""):
        make_dirs(out.parent, "-o")
    path = save_model(model, out)
    props = {p.key: p.value for p in model.metadata_props}
    return ExportResult(
        path=path,
        checkpoint=ckpt.path,
        epoch=ckpt.epoch,
        opset=opset,
        input_name=input_name,
        input_shape=tuple(network.input_shape or ()),
        num_classes=int((network.output_shape or (0,))[-1]),
        parameters=network.param_count(),
        size_bytes=len(data),
        metadata=props,
        verification=report,
        notes=notes,
    )
