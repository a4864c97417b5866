"""``layerkit export RUN_OR_CHECKPOINT -o model.onnx``: the trained network as an ONNX file.

The file is checked with ``onnx.checker`` (full check) and, when ONNX Runtime is installed (or
``--verify`` asks for it), run on the first ``--samples`` test samples and compared with
layerkit's own predictions before it is written; past the tolerance the command fails (exit 1)
and writes nothing. Needs the extra ``layerkit[onnx]``. See docs/export.md.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    # runs only for `layerkit export`; layerkit.export itself does not import onnx
    from layerkit.deploy import DEFAULT_SAMPLES
    from layerkit.export import DEFAULT_ATOL, DEFAULT_OPSET, DEFAULT_RTOL

    parser.add_argument(
        "checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or a checkpoint file"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the ONNX file to write"
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        metavar="N",
        help=f"ONNX opset of the model (default {DEFAULT_OPSET})",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="float type of the model (default: the spec's dtype)",
    )
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the file in ONNX Runtime and compare with layerkit (default: when onnxruntime "
        "is installed)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"test samples to verify on (default {DEFAULT_SAMPLES})",
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=DEFAULT_ATOL,
        metavar="T",
        help=f"tolerance of probabilities and scores (default {DEFAULT_ATOL:g})",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=DEFAULT_RTOL,
        metavar="T",
        help=f"relative tolerance of scores (default {DEFAULT_RTOL:g})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def run(args: argparse.Namespace) -> int:
    from layerkit.deploy import export_checkpoint

    result = export_checkpoint(
        args.checkpoint,
        args.output,
        opset=args.opset,
        verify=args.verify,
        samples=args.samples,
        atol=args.atol,
        rtol=args.rtol,
        dtype=args.dtype,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    shape = ", ".join(map(str, result.input_shape))
    print(
        f"exported {result.checkpoint} (epoch {result.epoch}) to {result.path}: "
        f"{result.parameters:,} parameters, {_size(result.size_bytes)}, opset {result.opset}"
    )
    print(
        f"input {result.input_name} (batch, {shape}); outputs scores and probabilities "
        f"(batch, {result.num_classes})"
    )
    if result.verification is not None:
        print(f"verified: {result.verification}")
    for note in result.notes:
        print(note)
    return 0
