"""``layerkit predict CHECKPOINT INPUT``: the top-k classes of each input sample.

INPUT is a ``.npy`` file (read with ``allow_pickle=False``) or an IDX file, gzipped or raw, such
as ``t10k-images-idx3-ubyte.gz``. It holds one sample shaped like the network's input, or a batch
``(N, *input_shape)``; a batch of flat rows (or of 28x28 images for a ``(1, 28, 28)`` input) is
reshaped when the sizes agree. Integer inputs are scaled like the training data (uint8 pixels
by 1/255); floating-point inputs are used as given.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from layerkit.training.config import EVAL_BATCH_SIZE

__all__ = ["configure", "run", "read_inputs"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint file or a run folder")
    parser.add_argument("input", metavar="INPUT", help="samples: a .npy file or an IDX file (.gz or raw)")
    parser.add_argument(
        "-k", "--top-k", type=int, default=1, metavar="K", help="classes per sample (default 1)"
    )
    parser.add_argument("--batch-size", type=int, default=EVAL_BATCH_SIZE, metavar="N", help="samples per forward pass")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def read_inputs(path: str | Path, input_shape: tuple[int, ...]) -> Any:
    """The samples of ``path`` as an array ``(N, *input_shape)`` in their stored dtype."""
    import numpy as np

    from layerkit.data.idx import read_idx
    from layerkit.errors import DataError

    path = Path(path)
    if not path.is_file():
        problem = "is a directory, not an input file" if path.is_dir() else "no such input file"
        raise DataError(f"{path}: {problem}")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{path}: not a plain .npy array ({exc})") from None
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: unreadable .npy file ({exc})") from None
    else:
        arr = read_idx(path)
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{path}: expected numbers (received dtype {arr.dtype})")
    if arr.size == 0:
        raise DataError(f"{path}: holds no samples (shape {arr.shape})")
    size = math.prod(input_shape)
    if arr.shape == input_shape:
        return arr.reshape(1, *input_shape)
    if arr.ndim >= 2 and arr.shape[0] > 0 and math.prod(arr.shape[1:]) == size:
        return arr.reshape(arr.shape[0], *input_shape)
    if arr.size == size:  # one sample, flat or shaped differently (a 28x28 image)
        return arr.reshape(1, *input_shape)
    raise DataError(
        f"{path}: samples of shape {arr.shape[1:] if arr.ndim > 1 else arr.shape} do not fit the "
        f"network's input {input_shape} (expected (N, {', '.join(map(str, input_shape))}) or one sample)"
    )


def _check_finite(batch: Any, start: int, path: str) -> None:
    """NaN, inf, or a value beyond the network dtype's range would only predict nonsense."""
    import numpy as np

    from layerkit.errors import DataError

    finite = np.isfinite(batch.reshape(batch.shape[0], -1)).all(axis=1)
    if not finite.all():
        first = start + int(np.argmin(finite))
        raise DataError(
            f"{path}: sample {first} holds NaN or infinite values (or values beyond "
            f"{batch.dtype}'s range, {np.finfo(batch.dtype).max:.3g}); inputs must be finite"
        )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from layerkit.errors import ConfigError
    from layerkit.run import restore_network
    from layerkit.training.checkpoint import load_checkpoint

    if args.top_k <= 0:
        raise ConfigError(f"--top-k: must be > 0 (received {args.top_k})")
    if args.batch_size <= 0:
        raise ConfigError(f"--batch-size: must be > 0 (received {args.batch_size})")
    ckpt = load_checkpoint(args.checkpoint)
    network = restore_network(ckpt)
    info = ckpt.manifest.get("input", {})
    names = info.get("class_names")
    input_shape, scores_shape = network.shapes()
    x = read_inputs(args.input, input_shape)
    scale = float(info.get("scale", 1.0)) if x.dtype.kind in "iub" else 1.0
    n = x.shape[0]
    classes = int(scores_shape[-1])
    k = min(args.top_k, classes)
    top = np.empty((n, k), dtype=np.intp)
    prob = np.empty((n, k), dtype=np.float64)
    batch = np.empty((min(n, args.batch_size), *input_shape), dtype=network.dtype)
    for start in range(0, n, args.batch_size):
        xb = batch[: min(args.batch_size, n - start)]
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, by sample
            np.copyto(xb, x[start : start + xb.shape[0]], casting="unsafe")
        if scale != 1.0:
            xb *= scale
        _check_finite(xb, start, args.input)
        p = network.predict_proba(xb)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        top[start : start + xb.shape[0]] = order
        prob[start : start + xb.shape[0]] = np.take_along_axis(p, order, axis=1)

    if args.json:
        predictions = [
            {
                "index": i,
                "top": [
                    {"class": int(c), **({"name": names[c]} if names else {}), "probability": float(pr)}
                    for c, pr in zip(top[i], prob[i], strict=True)
                ],
            }
            for i in range(n)
        ]
        print(json.dumps({"checkpoint": str(ckpt.path), "samples": n, "predictions": predictions}))
        return 0
    width = len(str(n - 1))
    lines = []
    for i in range(n):
        cells = (
            f"{c} {names[c]} {pr:.4f}" if names else f"{c} {pr:.4f}"
            for c, pr in zip(top[i].tolist(), prob[i].tolist(), strict=True)
        )
        lines.append(f"{i:>{width}}  " + "  ".join(cells))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
