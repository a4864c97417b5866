"""``layerkit gradcheck SPEC``: backprop against numerical gradients for a spec's network, in float64.

The network is built from the spec with its initial weights (zero-initialised biases moved
slightly off zero, see :func:`_off_the_kinks`) and checked on a small batch of the
spec's training data (``--random``: random inputs of the right shape and random labels, for
datasets that are not available here). Exit code 1 when a parameter's relative error exceeds
the tolerance.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    from layerkit.cli.train import add_spec_options

    parser.add_argument("spec", metavar="SPEC", help="the YAML spec whose network to check")
    add_spec_options(parser)
    parser.add_argument("--batch", type=int, default=3, metavar="N", help="samples in the batch (default 3)")
    parser.add_argument("--random", action="store_true", help="use random inputs instead of the spec's data")
    parser.add_argument(
        "--tol", type=float, default=None, metavar="TOL", help="max relative error (default 1e-6)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the batch choice and the sampled entries"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _batch(spec, network, args):  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(args.seed)
    if not args.random:
        splits = spec.data.create().load()
        train = splits["train"]
        idx = np.sort(rng.choice(len(train), size=min(args.batch, len(train)), replace=False))
        x = train.x[idx].astype(np.float64) * train.scale
        return x, train.y[idx].astype(np.intp), "data"
    x = rng.standard_normal((args.batch, *network.input_shape))
    classes = int(network.output_shape[-1])
    return x, rng.integers(0, classes, size=args.batch), "random"


def _off_the_kinks(network, rng) -> None:  # type: ignore[no-untyped-def]
    """Give zero-initialised parameters (biases, BatchNorm shifts) small random values.

    With zero biases, an image patch of background pixels (all exactly 0) puts a unit's input
    exactly on the kink of ReLU or in a tie of a max-pool window, where the function has no
    derivative and central differences average two slopes. Backprop itself is checked just as
    well one hundredth of a unit away from those points.
    """
    for param in network.params.values():
        if not param.any():
            param[...] = rng.normal(0.0, 0.01, param.shape)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from layerkit.errors import ConfigError, RunFailed
    from layerkit.gradcheck import DEFAULT_TOL, gradcheck
    from layerkit.spec import build_network, load_spec

    if args.batch <= 0:
        raise ConfigError(f"--batch: must be > 0 (received {args.batch})")
    tol = DEFAULT_TOL if args.tol is None else args.tol
    if not tol > 0:
        raise ConfigError(f"--tol: must be > 0 (received {args.tol})")
    spec = load_spec(args.spec, overrides=tuple(args.overrides), set_files=tuple(args.set_files))
    network = build_network(spec)
    _off_the_kinks(network, np.random.default_rng(args.seed + 1))
    x, t, source = _batch(spec, network, args)
    report = gradcheck(network, x, t, tol=tol, seed=args.seed)
    if args.json:
        print(json.dumps({"spec": args.spec, "inputs": source, "batch": int(x.shape[0]), **report.to_dict()}))
    else:
        print(
            f"{spec.name}: {x.shape[0]} samples ({'spec data' if source == 'data' else 'random inputs'}), float64"
        )
        print(report.table())
    if not report.passed:
        worst = max(report.checks, key=lambda c: c.rel_error)
        hint = ""
        if source == "data":
            # Real images put ReLU inputs within h of 0 and tie max-pool windows: kinks, where
            # central differences average two slopes. Random inputs check at a generic point.
            hint = (
                "\non real data, a ReLU input or a max-pool tie within h of a kink fails the check "
                "without a bug; if it passes with --random, backprop is right"
            )
        raise RunFailed(
            f"gradient check failed: {worst.name} has relative error {worst.rel_error:.2e} "
            f"(tolerance {tol:.0e}){hint}"
        )
    return 0
