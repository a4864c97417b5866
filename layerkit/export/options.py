"""The export defaults, in one place (no imports: every export module may read them)."""

from __future__ import annotations

__all__ = ["DEFAULT_ATOL", "DEFAULT_OPSET", "DEFAULT_RTOL", "EXTRA", "MIN_OPSET"]

#: The opset written unless asked otherwise: supported by every maintained ONNX runtime.
DEFAULT_OPSET = 17
#: The oldest opset the built-in converters target (Softmax over the last axis needs 13).
MIN_OPSET = 13
#: Verification tolerances for float32 (see :mod:`layerkit.export.verify`).
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
#: How to install what export needs.
EXTRA = "pip install 'layerkit[onnx]'"
