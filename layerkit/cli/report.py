"""``layerkit report RUN|SWEEP [RUN...]``: one self-contained HTML page about runs.

One run folder: ``RUN/report.html`` (rewritten each time). A sweep folder: ``SWEEP/report.html``.
Several runs: a new ``report-<timestamp>.html`` in their nearest common folder. ``--out FILE``
writes elsewhere (an existing file only with ``--force``).
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write an HTML report: for a run, its curves, confusion matrix, per-class metrics, a gallery "
        "of test images, weight and gradient histograms, graph, spec and lock; for several runs or a "
        "sweep, the ranked table, curves overlaid, spec differences and the swept-value plot. One "
        "file, every picture inlined: it opens from disk and fetches nothing."
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a run folder, a sweep folder, or several run folders",
    )
    parser.add_argument(
        "--out", metavar="FILE", help="where to write the page (default: see above)"
    )
    parser.add_argument("--force", action="store_true", help="replace --out FILE if it exists")


def run(args: argparse.Namespace) -> int:
    from layerkit.report import write_report

    path = write_report(args.runs, args.out, force=args.force)
    print(f"report: {path}")
    return 0
