"""``layerkit graph SPEC``: draw the network's computational graph (DOT, SVG or PNG).

One node per layer (id, type, hyperparameters), edges labelled with the shapes flowing along
them. ``--values`` runs one small batch of the spec's data (``--batch 1`` by default, chosen
with ``--seed``; ``--random`` for random inputs) through the network in float64 and labels each
edge with the forward value above and the gradient flowing back along it below, like the
textbook's figures. ``--format dot`` is plain text and needs nothing; ``svg`` and ``png`` need
Graphviz (the ``dot`` program, or ``pip install 'layerkit[graph]'`` for its Python package).
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    from layerkit.cli.train import add_spec_options

    parser.add_argument("spec", metavar="SPEC", help="the YAML spec whose network to draw")
    add_spec_options(parser)
    parser.add_argument(
        "--format",
        choices=("dot", "svg", "png"),
        default=None,
        help="output format (default: from -o's suffix, else dot)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout"
    )
    parser.add_argument(
        "--values",
        action="store_true",
        help="run one small batch and label the edges with forward values and backward gradients",
    )
    parser.add_argument(
        "--batch", type=int, default=1, metavar="N", help="samples for --values (default 1)"
    )
    parser.add_argument(
        "--random", action="store_true", help="--values on random inputs instead of the spec's data"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the --values batch (default 0)"
    )


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import numpy as np

    from layerkit.cli.gradcheck import _batch
    from layerkit.drawing import network_dot, render
    from layerkit.errors import ConfigError
    from layerkit.fileio import atomic_write
    from layerkit.spec import build_network, load_spec

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
        fmt = suffix if suffix in ("svg", "png", "dot", "gv") else "dot"
        fmt = "dot" if fmt == "gv" else fmt
    if fmt == "png" and args.output is None and sys.stdout.isatty():
        raise ConfigError("--format png: give -o FILE.png (PNG is binary, not for a terminal)")
    if args.batch <= 0:
        raise ConfigError(f"--batch: must be > 0 (received {args.batch})")
    spec = load_spec(args.spec, overrides=tuple(args.overrides), set_files=tuple(args.set_files))
    network = build_network(spec)
    values: dict[str, np.ndarray] | None = None
    grads: dict[tuple[str, str], np.ndarray] | None = None
    loss: float | None = None
    if args.values:
        net = network.with_dtype(np.float64)
        x, t, _ = _batch(spec, net, args)
        values = net.forward_values(x, train=True)
        loss = net.loss(x, t, train=True)
        grads = {}
        net.backward(record=grads)
    dot = network_dot(network, values=values, grads=grads, loss=loss, title=spec.name)
    data = render(dot, fmt)
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        atomic_write(args.output, lambda f: f.write(data))
    return 0
