"""ONNX converters for this plugin's layers, registered through ``layerkit_add_onnx_converters``.

Each converter builds the layer's formula from standard ONNX operators through the context
layerkit hands it (``ctx.node``, ``ctx.constant``), so this plugin does not depend on ``onnx``.
GELU uses the ``Gelu`` operator (tanh approximation) when the target opset has it (20+).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from layerkit.layers.base import Layer
from layerkit_activations.layers import ELU, GELU, LayerNorm, SiLU, Softplus, Swish

__all__ = ["CONVERTERS"]

Ctx = Any  # layerkit.export.context.ConversionContext


def _swish(ctx: Ctx, x: str, beta: float) -> str:
    """x * sigmoid(beta * x)."""
    z = x if beta == 1.0 else ctx.node("Mul", [x, ctx.constant(beta, "beta")])
    return str(ctx.node("Mul", [x, ctx.node("Sigmoid", [z])]))


def convert_swish(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    return _swish(ctx, inputs[0], float(layer.hp.beta))


def convert_silu(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    return _swish(ctx, inputs[0], 1.0)


def convert_gelu(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    (x,) = inputs
    if ctx.opset >= 20:
        return str(ctx.node("Gelu", [x], approximate="tanh"))
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), operator by operator
    cube = ctx.node("Mul", [ctx.node("Mul", [x, x]), x])
    inner = ctx.node("Add", [x, ctx.node("Mul", [cube, ctx.constant(0.044715, "a")])])
    t = ctx.node("Tanh", [ctx.node("Mul", [inner, ctx.constant(math.sqrt(2.0 / math.pi), "c")])])
    half_x = ctx.node("Mul", [x, ctx.constant(0.5, "half")])
    return str(ctx.node("Mul", [half_x, ctx.node("Add", [t, ctx.constant(1.0, "one")])]))


def convert_elu(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    return str(ctx.node("Elu", [inputs[0]], alpha=float(layer.hp.alpha)))


def convert_softplus(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    beta = float(layer.hp.beta)
    if beta == 1.0:
        return str(ctx.node("Softplus", [inputs[0]]))
    b = ctx.constant(beta, "beta")
    return str(ctx.node("Div", [ctx.node("Softplus", [ctx.node("Mul", [inputs[0], b])]), b]))


def convert_layer_norm(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # ONNX's LayerNormalization (opset 17) normalises over axes axis..last, here every axis of
    # a sample (axis 1), with gamma and beta of the sample's shape: the layer's own formula.
    return str(
        ctx.node(
            "LayerNormalization",
            [inputs[0], ctx.param("gamma"), ctx.param("beta")],
            axis=1,
            epsilon=float(layer.hp.eps),
        )
    )


CONVERTERS: dict[type, Any] = {
    SiLU: convert_silu,
    Swish: convert_swish,
    GELU: convert_gelu,
    ELU: convert_elu,
    Softplus: convert_softplus,
    LayerNorm: convert_layer_norm,
}
