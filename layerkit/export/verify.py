"""Run an exported model in ONNX Runtime and compare it with layerkit's own predictions.

The tolerance is for float32 networks: the exported graph computes the same arithmetic in
another order (ONNX Runtime's GEMM and convolution kernels sum in their own order), so results
differ by rounding, a few units in the last place of float32, growing with depth. A model
passes when

* every probability differs by at most ``atol`` (default ``1e-4``; for a loss whose output is
  the scores themselves, such as MeanSquaredError, the score rule below applies), and
* every score differs by at most ``atol + rtol * |layerkit's score|`` (``rtol`` default
  ``1e-3``).

Argmax agreement is reported as well; with probabilities within ``1e-4`` the classes can only
disagree where the two best classes are within ``2e-4`` of each other (a tie in float32 terms).
Imports ``onnxruntime``: reached only through :mod:`layerkit.export`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from layerkit.errors import ExportError
from layerkit.export.options import DEFAULT_ATOL, DEFAULT_RTOL

__all__ = ["VerifyReport", "run_model", "verify"]


@dataclass(frozen=True)
class VerifyReport:
    """How an exported model's outputs compare with layerkit's on the same batch."""

    samples: int
    max_abs_diff: float  # probabilities
    max_rel_diff: float  # probabilities, relative to layerkit's
    max_abs_score_diff: float
    argmax_agreement: float  # fraction of samples with the same top class
    atol: float
    rtol: float
    passed: bool
    provider: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"ONNX Runtime ({self.provider}) on {self.samples:,} samples: probabilities max abs diff "
            f"{self.max_abs_diff:.3g}, max rel diff {self.max_rel_diff:.3g}; scores max abs diff "
            f"{self.max_abs_score_diff:.3g}; argmax agreement {self.argmax_agreement:.4%} "
            f"(tolerance atol {self.atol:g}, rtol {self.rtol:g}): {verdict}"
        )


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings on stderr about unused initializers
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        hint = ""
        if "NOT_IMPLEMENTED" in str(exc):
            hint = (
                "; ONNX Runtime's CPU kernels for some operators (Conv, pooling) are float32 only: "
                "export as float32 (--dtype float32, Network.to_onnx(dtype='float32'))"
            )
        raise ExportError(f"ONNX Runtime cannot load the exported model: {exc}{hint}") from None


def run_model(model: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of ``model`` (serialized ONNX) for ``feeds``, by name."""
    session = _session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def verify(
    model: bytes,
    network: Any,
    x: np.ndarray,
    *,
    input_name: str,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    batch_size: int = 1000,
) -> VerifyReport:
    """Compare ``model`` in ONNX Runtime with ``network`` on the batch ``x`` (network inputs)."""
    x = np.ascontiguousarray(x, dtype=network.dtype)
    scores = network.predict(x, batch_size=batch_size)
    probs = network.loss_layer.activate(scores)
    session = _session(model)
    got_scores = np.empty_like(scores)
    got_probs = np.empty_like(probs)
    for start in range(0, x.shape[0], batch_size):
        part = slice(start, start + batch_size)
        got_scores[part], got_probs[part] = session.run(
            ["scores", "probabilities"], {input_name: x[part]}
        )
    abs_diff = np.abs(got_probs.astype(np.float64) - probs)
    rel_diff = abs_diff / np.maximum(np.abs(probs.astype(np.float64)), 1e-12)
    score_diff = np.abs(got_scores.astype(np.float64) - scores)
    score_ok = bool(np.all(score_diff <= atol + rtol * np.abs(scores.astype(np.float64))))
    max_abs = float(abs_diff.max()) if abs_diff.size else 0.0
    # A loss whose inference output is the scores themselves (MeanSquaredError) is judged by
    # the score criterion alone.
    probs_ok = score_ok if probs is scores else max_abs <= atol
    agreement = float(np.mean(got_probs.argmax(axis=1) == probs.argmax(axis=1))) if len(x) else 1.0
    return VerifyReport(
        samples=int(x.shape[0]),
        max_abs_diff=max_abs,
        max_rel_diff=float(rel_diff.max()) if rel_diff.size else 0.0,
        max_abs_score_diff=float(score_diff.max()) if score_diff.size else 0.0,
        argmax_agreement=agreement,
        atol=atol,
        rtol=rtol,
        passed=bool(probs_ok and score_ok and np.all(np.isfinite(got_probs))),
        provider=session.get_providers()[0],
    )
