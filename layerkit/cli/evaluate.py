"""``layerkit eval RUN_OR_CHECKPOINT``: loss and accuracy of a checkpoint on its spec's test data.

RUN_OR_CHECKPOINT is a run folder (its latest usable checkpoint is used), a ``checkpoints/``
folder, or one checkpoint (``epoch-0007.json`` or ``.npz``). The checkpoint is verified before
anything is built from it; a checkpoint whose spec needs a plugin that is not installed names
the distribution to install.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or a checkpoint file")
    parser.add_argument(
        "--split", choices=("test", "train"), default="test", help="which split to evaluate (default test)"
    )
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="evaluation batch size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from layerkit.cli.train import json_safe
    from layerkit.data.batches import BatchIterator
    from layerkit.errors import ConfigError, DataError
    from layerkit.run import checkpoint_spec, restore_network
    from layerkit.training.checkpoint import load_checkpoint
    from layerkit.training.trainer import evaluate

    ckpt = load_checkpoint(args.checkpoint)
    spec = checkpoint_spec(ckpt)
    network = restore_network(ckpt, spec)
    splits = spec.data.create().load()
    split = splits.get(args.split)
    if split is None or not len(split):
        raise DataError(f"dataset {spec.data.dataset!r} has no {args.split} split to evaluate")
    batch_size = args.batch_size or spec.train.eval_batch_size
    if batch_size <= 0:
        raise ConfigError(f"--batch-size: must be > 0 (received {batch_size})")
    info = ckpt.manifest.get("input", {})
    names = info.get("class_names")
    classes = int(info.get("num_classes") or network.shapes()[1][-1])
    result = evaluate(network, BatchIterator(split, batch_size, dtype=network.dtype), num_classes=classes)
    per_class = result.per_class_accuracy()
    if args.json:
        payload = {
            "checkpoint": str(ckpt.path),
            "epoch": ckpt.epoch,
            "split": args.split,
            "samples": result.samples,
            f"{args.split}_loss": result.loss,
            f"{args.split}_accuracy": result.accuracy,
            "per_class_accuracy": {
                (names[i] if names else str(i)): float(acc) for i, acc in enumerate(per_class)
            }
            if per_class is not None
            else None,
        }
        print(json.dumps(json_safe(payload)))
        return 0
    print(f"checkpoint {ckpt.path} (epoch {ckpt.epoch}, step {ckpt.step})")
    if per_class is not None:
        from layerkit._table import render_table

        header = ("class", *(("name",) if names else ()), f"{args.split} accuracy")
        rows = [(i, *((names[i],) if names else ()), f"{acc:.4f}") for i, acc in enumerate(per_class)]
        print(render_table(header, rows))
    print(
        f"{args.split} accuracy {result.accuracy:.4f}  {args.split} loss {result.loss:.4f}  ({result.samples:,} samples)"
    )
    return 0
