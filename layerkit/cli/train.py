"""``layerkit train SPEC``: train a spec and leave a run folder; ``--resume RUN_DIR`` continues one.

Progress goes to stderr (a bar per epoch on a terminal, one line per epoch otherwise); the result
goes to stdout: a short summary, or with ``--json`` a single JSON object as the last line. Exit
codes: 0 trained, 1 the run failed (diverged), 2 bad input (spec, data, checkpoint).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["configure", "run", "add_spec_options", "json_safe"]


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """``--set`` and ``--set-file``, shared by the commands that take a spec."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. train.optimizer.lr=0.05 (repeatable)",
    )
    parser.add_argument(
        "--set-file",
        dest="set_files",
        action="append",
        default=[],
        metavar="FILE",
        help="merge a YAML patch into the spec (repeatable)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC", help="the YAML spec to train")
    add_spec_options(parser)
    parser.add_argument("--out", metavar="DIR", help="run folder (default runs/<name>/<timestamp>/)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint"
    )
    parser.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="BLAS threads while training (default: all cores)"
    )
    parser.add_argument(
        "--no-plot",
        dest="plot",
        action="store_false",
        help="do not draw curves.png (saves matplotlib's ~0.5 s import and render per run)",
    )


def json_safe(value: Any) -> Any:
    """NaN and infinities become ``null`` (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from layerkit.errors import ConfigError, LayerkitError
    from layerkit.run import train

    if args.spec is None and args.resume is None:
        raise ConfigError("a SPEC to train is required (or --resume RUN_DIR)")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads: must be >= 1 (received {args.threads})")
    try:
        result = train(
            args.spec,
            out=args.out,
            overrides=args.overrides,
            set_files=args.set_files,
            resume=args.resume,
            quiet=args.quiet or False,
            threads=args.threads,
            plot=args.plot,
        )
    except LayerkitError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "exit_code": exc.exit_code}))
        raise
    metrics = result.metrics
    if args.json:
        payload = {
            "ok": True,
            "run_dir": str(result.run_dir),
            "checkpoint": str(result.checkpoint) if result.checkpoint else None,
            "epochs": len(result.history),
            "stop_reason": result.stop_reason,
            **metrics,
        }
        print(json.dumps(json_safe(payload)))
        return 0
    if result.stop_reason:
        print(result.stop_reason)
    if metrics.get("test_accuracy") is not None:
        print(
            f"test accuracy {metrics['test_accuracy']:.4f}  test loss {metrics['test_loss']:.4f}  "
            f"(epoch {metrics['epoch']}, train accuracy {metrics['train_accuracy']:.4f})"
        )
    print(f"run folder: {result.run_dir}")
    return 0
