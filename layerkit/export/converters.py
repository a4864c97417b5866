"""ONNX converters of layerkit's built-in layers, registered by :mod:`layerkit.builtins`.

Each converter is ``converter(ctx, layer, inputs) -> output`` (see
:mod:`layerkit.export.context`); none imports ``onnx``. Inference form throughout: BatchNorm
uses its running statistics, Dropout is the identity and adds no node, and a loss layer becomes
its inference activation (SoftmaxWithLoss -> Softmax, MeanSquaredError -> the scores).
Batches are ``(N, *per_sample_shape)``; images are ``(N, C, H, W)`` as in ONNX. Merge layers
(Add, Mul, Concat) receive one input name per branch they join.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layerkit.layers.activations import LeakyRelu, Relu, Sigmoid, Tanh
from layerkit.layers.affine import Affine
from layerkit.layers.arithmetic import Add, Concat, Mul, channel_aligned
from layerkit.layers.base import Layer
from layerkit.layers.conv import Conv2D, Window
from layerkit.layers.dropout import Dropout
from layerkit.layers.losses import MeanSquaredError, SoftmaxWithLoss
from layerkit.layers.normalization import BatchNorm
from layerkit.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from layerkit.layers.reshape import Flatten, Reshape

__all__ = ["BUILTIN_CONVERTERS", "elementwise", "identity"]

Ctx = Any  # layerkit.export.context.ConversionContext (imports onnx; not imported here)


def elementwise(op_type: str, **attributes: Any) -> Any:
    """A converter for a layer that is one ONNX operator applied to its input."""

    def convert(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
        return str(ctx.node(op_type, [inputs[0]], **attributes))

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


def identity(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    """No node at all: the output is the input (Dropout at inference, a regression loss)."""
    return inputs[0]


def _flat(ctx: Ctx, layer: Layer, x: str) -> str:
    """``x`` as ``(N, features)``: a Flatten node only when samples are not vectors already."""
    return x if len(layer.input_shape or ()) == 1 else str(ctx.node("Flatten", [x], axis=1))


def convert_affine(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # Gemm computes x @ W + b with W stored (in, units), as layerkit stores it (transB=0)
    return str(ctx.node("Gemm", [_flat(ctx, layer, inputs[0]), ctx.param("W"), ctx.param("b")]))


def convert_leaky_relu(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    return str(ctx.node("LeakyRelu", [inputs[0]], alpha=float(layer.hp.alpha)))


def convert_batch_norm(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # Inference form: the running statistics (runtimes fold this into a preceding Conv/Gemm).
    # ONNX normalises axis 1 of (N, C, ...), layerkit's per-feature (N, D) and per-channel
    # (N, C, H, W) alike.
    return str(
        ctx.node(
            "BatchNormalization",
            [
                inputs[0],
                ctx.param("gamma"),
                ctx.param("beta"),
                ctx.buffer("running_mean"),
                ctx.buffer("running_var"),
            ],
            epsilon=float(layer.hp.eps),
        )
    )


def _window_attributes(win: Window) -> dict[str, Any]:
    """ONNX kernel/stride/pads of a layerkit window (pads: begins then ends)."""
    return {
        "kernel_shape": [win.kh, win.kw],
        "strides": [win.sh, win.sw],
        "pads": [win.top, win.left, win.bottom, win.right],
    }


def convert_conv2d(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # layerkit's convolution is a cross-correlation with W (F, C, kh, kw), as ONNX Conv
    args = [inputs[0], ctx.param("W")]
    if "b" in layer.params:
        args.append(ctx.param("b"))
    return str(ctx.node("Conv", args, **_window_attributes(layer.window)))  # type: ignore[attr-defined]


def convert_max_pool(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # ONNX MaxPool ignores padding (as layerkit's -inf fill); the windows tile exactly, so
    # ceil_mode does not matter
    return str(ctx.node("MaxPool", [inputs[0]], **_window_attributes(layer.window)))  # type: ignore[attr-defined]


def convert_avg_pool(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # count_include_pad=0: padding is left out of each window's mean, as layerkit does
    attrs = _window_attributes(layer.window)  # type: ignore[attr-defined]
    return str(ctx.node("AveragePool", [inputs[0]], count_include_pad=0, **attrs))


def convert_global_avg_pool(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    pooled = ctx.node("GlobalAveragePool", [inputs[0]])  # (N, C, 1, 1)
    return str(ctx.node("Flatten", [pooled], axis=1))


def convert_flatten(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    return str(ctx.node("Flatten", [inputs[0]], axis=1))


def convert_reshape(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # the batch axis stays free (-1); every per-sample axis is the inferred output shape
    shape = ctx.shape([-1, *(layer.output_shape or ())])
    return str(ctx.node("Reshape", [inputs[0], shape]))


def convert_softmax_loss(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # the loss becomes its inference output: probabilities over the class axis
    return str(ctx.node("Softmax", [inputs[0]], axis=-1))


def convert_add(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # inputs share one shape; Sum takes any number of them
    return str(ctx.node("Add" if len(inputs) == 2 else "Sum", list(inputs)))


def convert_mul(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    # layerkit aligns shapes at the channel axis (a (C,) gate scales (C, H, W)) where ONNX
    # aligns them at the last axis: give each shorter input trailing axes of 1 first
    padded, _ = channel_aligned(layer.input_shapes)  # type: ignore[attr-defined]
    aligned = []
    for x, own, full in zip(inputs, layer.input_shapes, padded, strict=True):  # type: ignore[attr-defined]
        if len(own) < len(full):
            axes = ctx.shape(range(len(own) + 1, len(full) + 1), "axes")  # +1: the batch axis
            x = ctx.node("Unsqueeze", [x, axes])
        aligned.append(x)
    out = aligned[0]
    for x in aligned[1:]:
        out = ctx.node("Mul", [out, x])
    return str(out)


def convert_concat(ctx: Ctx, layer: Layer, inputs: Sequence[str]) -> str:
    axis = layer.hp.axis % len(layer.input_shape or ())  # build checked its range
    return str(ctx.node("Concat", list(inputs), axis=axis + 1))  # +1: the batch axis


#: What :mod:`layerkit.builtins` registers through ``layerkit_add_onnx_converters``.
BUILTIN_CONVERTERS: dict[type, Any] = {
    Add: convert_add,
    Mul: convert_mul,
    Concat: convert_concat,
    Affine: convert_affine,
    Relu: elementwise("Relu"),
    Sigmoid: elementwise("Sigmoid"),
    Tanh: elementwise("Tanh"),
    LeakyRelu: convert_leaky_relu,
    Dropout: identity,
    BatchNorm: convert_batch_norm,
    SoftmaxWithLoss: convert_softmax_loss,
    MeanSquaredError: identity,
    Conv2D: convert_conv2d,
    MaxPool2D: convert_max_pool,
    AvgPool2D: convert_avg_pool,
    GlobalAvgPool2D: convert_global_avg_pool,
    Flatten: convert_flatten,
    Reshape: convert_reshape,
}
