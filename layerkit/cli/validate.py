"""``layerkit validate SPEC``: check a spec, infer every shape, print the network's summary.

Exit status 0 when the spec builds; 2 with every problem listed, one per line, as
``FILE:LINE:COL: path: message``, otherwise. No data is loaded.
"""

from __future__ import annotations

import argparse

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    from layerkit.cli.train import add_spec_options

    parser.add_argument("spec", metavar="SPEC", help="the YAML spec file")
    add_spec_options(parser)  # --set PATH=VALUE, --set-file FILE
    parser.add_argument("--json", action="store_true", help="print the result (or the errors) as JSON")
    parser.add_argument(
        "--print-resolved",
        action="store_true",
        help="print the resolved spec (overrides applied, every default filled in) as YAML, "
        "instead of the summary",
    )


def _issue_dict(issue: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(issue)  # type: ignore[call-overload]


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from layerkit.errors import SpecError
    from layerkit.spec import build_network, dataset_info, load_spec

    try:
        spec = load_spec(args.spec, overrides=args.overrides, set_files=args.set_files)
        network = build_network(spec)
        info = dataset_info(spec)
    except SpecError as exc:
        if args.json:
            print(json.dumps({"ok": False, "errors": [_issue_dict(i) for i in exc.issues]}, indent=2))
        else:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            n = len(exc.issues)
            print(f"{args.spec}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return exc.exit_code

    if args.json:
        doc = {
            "ok": True,
            "name": spec.name,
            "dataset": spec.data.dataset,
            "input_shape": list(network.shapes()[0]),
            "num_classes": info.num_classes,
            "dtype": spec.dtype,
            "layers": [
                {**row, "output_shape": list(row["output_shape"] or ())} for row in network.summary_rows()
            ],
            "total_params": network.param_count(),
        }
        if args.print_resolved:
            doc["spec"] = spec.to_dict()
        print(json.dumps(doc, indent=2))
        return 0

    if args.print_resolved:  # YAML only, so that it can be saved and used as a spec
        print(spec.to_yaml(), end="")
        return 0
    print(
        f"{spec.name}: {spec.data.dataset} ({info.train_size:,} train / {info.test_size:,} test, "
        f"input {network.shapes()[0]}, {info.num_classes} classes), {spec.dtype}"
    )
    print(network.summary())
    return 0
