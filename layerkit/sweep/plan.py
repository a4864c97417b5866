"""From a sweep file or a spec plus command-line options to a validated :class:`SweepPlan`.

Every trial is the base spec with overrides (the same ``PATH=VALUE`` overrides as
``layerkit train --set``), validated and built (shapes inferred, no data loaded) before anything
runs, so an invalid combination is reported up front with the overrides that made it. A trial's
id is a hash of its resolved spec, which includes its seed: the same trial always has the same
id, which is what lets ``--resume`` skip it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from layerkit._validation import describe_errors, format_loc, render
from layerkit.errors import SpecError, SpecIssue
from layerkit.sweep.config import (
    SWEEP_KEY,
    SweepConfig,
    format_value,
    parse_grid_option,
    parse_random_option,
)
from layerkit.sweep.runner import SweepPlan, Trial

__all__ = [
    "plan_sweep",
    "trial_id",
    "MAX_REPORTED",
    "load_definition",
    "check_metric",
    "resolve_trial",
    "fixed_overrides",
]


class _Section(Protocol):
    base: str | None
    name: str | None

    @classmethod
    def model_validate(cls, obj: Any) -> Any: ...


ConfigT = TypeVar("ConfigT", bound=_Section)

#: Invalid trials listed in full before the rest are counted.
MAX_REPORTED = 10


def trial_id(resolved_spec: str) -> str:
    """12 hex digits of the SHA-256 of the resolved spec's YAML (the seed is part of it)."""
    return hashlib.sha256(resolved_spec.encode("utf-8")).hexdigest()[:12]


def _section_issues(exc: ValidationError, section: Any, key: str = SWEEP_KEY) -> list[SpecIssue]:
    from layerkit.spec.locate import locate

    issues = []
    for loc, message, received in describe_errors(exc):
        mark = locate(section, loc) if section is not None else None
        path = format_loc((key, *loc))
        text = render((), message, received)
        if mark is None:
            issues.append(SpecIssue(path=path, message=text))
        else:
            issues.append(mark.issue(path, text))
    return issues


def _read(path: str) -> Any:
    from layerkit.spec.yamlio import parse_document, read_spec_text

    return parse_document(read_spec_text(path), filename=path, what="a spec or sweep file")


def _load_definition(source: str) -> tuple[Any, str, SweepConfig, str]:
    """``(base raw spec, base file, sweep section, default name)`` from a sweep file or a spec."""
    return load_definition(
        source, SweepConfig, key=SWEEP_KEY, fields="base, grid, random, samples, ..."
    )


def load_definition(
    source: str, model: type[ConfigT], *, key: str, fields: str
) -> tuple[Any, str, ConfigT, str]:
    """``(base raw spec, base file, section, default name)`` from a file whose ``key:`` section
    (validated by ``model``, errors at their ``FILE:LINE:COL``) may name a ``base:`` spec, or from
    a spec that carries the section itself or none (then the section's defaults)."""
    from layerkit.spec.loader import default_name
    from layerkit.spec.yamlio import mark_of

    raw = _read(source)
    if key not in raw:
        return raw, source, model.model_validate({}), default_name(source)
    section = raw[key]
    where = mark_of(raw, key)
    if not isinstance(section, dict):
        issue = SpecIssue(path=key, message=f"must be a mapping ({fields})")
        raise SpecError([where.issue(key, issue.message) if where else issue])
    try:
        config = model.model_validate(section)
    except ValidationError as exc:
        raise SpecError(_section_issues(exc, section, key)) from None
    raw.remove(key)
    name = config.name or default_name(source)
    if config.base is None:
        return raw, source, config, name  # a spec carrying its own sweep: section
    if raw:
        extra = ", ".join(raw)
        key_mark = mark_of(raw, next(iter(raw)), of_key=True)
        message = (
            f"a {key} file that names a base spec holds only the {key}: section (found {extra})"
        )
        raise SpecError(
            [key_mark.issue("", message) if key_mark else SpecIssue("", message, file=source)]
        )
    base = Path(config.base)
    if not base.is_absolute():
        base = Path(source).parent / base
    base_file = os.path.relpath(base) if not Path(config.base).is_absolute() else str(base)
    return _read(base_file), base_file, config, name


def _merge_cli(
    config: SweepConfig,
    *,
    grid: Sequence[str],
    random: Sequence[str],
    samples: int | None,
    seed: int | None,
    metric: str | None,
    mode: str | None,
) -> SweepConfig:
    """The file's sweep section with command-line options on top (the command line wins)."""
    grid_values = dict(config.grid)
    random_values: dict[str, Any] = dict(config.random)
    for option in grid:
        path, values = parse_grid_option(option)
        grid_values[path] = values
        random_values.pop(path, None)
    for option in random:
        path, dist = parse_random_option(option)
        random_values[path] = dist
        grid_values.pop(path, None)
    update: dict[str, Any] = {"grid": grid_values, "random": random_values}
    for key, value in (("samples", samples), ("seed", seed), ("metric", metric), ("mode", mode)):
        if value is not None:
            update[key] = value
    data = {**config.model_dump(exclude={"grid", "random"}), **update}
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        issues = [
            SpecIssue(path=format_loc(loc), message=render((), m, r), file="command line")
            for loc, m, r in describe_errors(exc)
        ]
        raise SpecError(issues) from None


def _check_metric(config: SweepConfig) -> None:
    check_metric(config.metric, where="sweep.metric")


def check_metric(metric: str, *, where: str) -> None:
    """A metric the trials record every epoch, or a one-line error with a did-you-mean."""
    from layerkit.training.config import EPOCH_METRICS

    if metric not in EPOCH_METRICS:
        from layerkit._validation import did_you_mean

        hint = did_you_mean(metric, EPOCH_METRICS)
        raise SpecError(
            [
                SpecIssue(
                    path=where,
                    message=f"unknown metric {metric!r}{hint}; "
                    f"trials report {', '.join(EPOCH_METRICS)}",
                )
            ]
        )


def resolve_trial(base_raw: Any, base_file: str, overrides: Sequence[str], metric: str) -> Any:
    """The validated, built :class:`~layerkit.spec.Spec` of one trial, or a :class:`SpecError`
    (also when the trial would not record ``metric``: a ``val_`` metric without a validation split)."""
    from layerkit.spec import build_network, validate_spec

    spec = validate_spec(base_raw, filename=base_file, overrides=list(overrides))
    if metric.startswith("val_") and spec.train.validation_split == 0:
        raise SpecError(
            [
                SpecIssue(
                    path="train.validation_split",
                    message=f"metric {metric} needs "
                    "validation_split > 0 (the run records no validation metrics)",
                )
            ]
        )
    build_network(spec)
    return spec


def fixed_overrides(
    base_raw: Any, config_set: dict[str, Any], overrides: Sequence[str], swept: Any, seed: int
) -> list[str]:
    """The overrides every trial gets: the section's ``set:``, then ``--set``; plus ``seed=SEED``
    when neither the spec nor a swept path seeds the runs (an unseeded spec would make every
    trial unrepeatable and its id meaningless)."""
    fixed = [f"{path}={format_value(value)}" for path, value in config_set.items()] + list(
        overrides
    )
    seeded = any(o.partition("=")[0].strip() == "seed" for o in fixed) or "seed" in swept
    if base_raw.get("seed") is None and not seeded:
        fixed.insert(0, f"seed={seed}")
    return fixed


def plan_sweep(
    source: str | os.PathLike[str],
    *,
    grid: Sequence[str] = (),
    random: Sequence[str] = (),
    samples: int | None = None,
    seed: int | None = None,
    metric: str | None = None,
    mode: str | None = None,
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> SweepPlan:
    """Read a sweep file (or a spec), add command-line options, expand and validate every trial.

    ``grid`` holds ``PATH=V1,V2`` options, ``random`` ``PATH=loguniform(LOW,HIGH)`` and the like,
    ``overrides`` fixed ``PATH=VALUE`` applied to every trial after the file's ``set:``.
    Raises :class:`SpecError` listing every problem: of the file, of the options, and of each
    invalid trial with its overrides.
    """
    base_raw, base_file, config, default = _load_definition(os.fspath(source))
    config = _merge_cli(
        config, grid=grid, random=random, samples=samples, seed=seed, metric=metric, mode=mode
    )
    if not config.grid and not config.random:
        raise SpecError(
            [
                SpecIssue(
                    path="",
                    file=os.fspath(source),
                    message="nothing to sweep: give --grid PATH=V1,V2 or "
                    "--random PATH=loguniform(LOW,HIGH), or a sweep: section with grid: or random:",
                )
            ]
        )
    _check_metric(config)
    fixed = fixed_overrides(base_raw, config.set, overrides, config.scales, config.seed)

    points = config.points()
    trials: list[Trial] = []
    failures: list[tuple[int, str, list[SpecIssue]]] = []
    seen: set[str] = set()
    duplicates = 0
    for number, point in enumerate(points, 1):
        swept = [f"{path}={format_value(value)}" for path, value in point.items()]
        try:
            spec = resolve_trial(base_raw, base_file, [*fixed, *swept], config.metric)
        except SpecError as exc:
            failures.append((number, " ".join(swept), list(exc.issues)))
            continue
        text = spec.to_yaml()
        tid = trial_id(text)
        if tid in seen:  # e.g. two random draws of the same choices: the same run, run once
            duplicates += 1
            continue
        seen.add(tid)
        trials.append(Trial(id=tid, params=dict(point), overrides=(*fixed, *swept), spec=text))

    if failures:
        raise SpecError(_failure_issues(failures, len(points)))
    return SweepPlan(
        name=name or default,
        trials=tuple(trials),
        metric=config.metric,
        mode=config.direction,
        base=base_file,
        scales=config.scales,
        merged=duplicates,
    )


def _failure_issues(
    failures: list[tuple[int, str, list[SpecIssue]]], total: int
) -> list[SpecIssue]:
    # The same problems in every trial are the base spec's (or a fixed override's): say them once.
    first = [str(i) for i in failures[0][2]]
    if len(failures) == total and all(
        [str(i) for i in issues] == first for _, _, issues in failures
    ):
        return failures[0][2]
    out = [
        SpecIssue(
            path="", message=f"{len(failures)} of {total} trials are invalid; nothing was run"
        )
    ]
    for number, label, issues in failures[:MAX_REPORTED]:
        for issue in issues:
            out.append(SpecIssue(path="", message=f"trial {number} ({label}): {issue}"))
    if len(failures) > MAX_REPORTED:
        out.append(
            SpecIssue(
                path="", message=f"... and {len(failures) - MAX_REPORTED} more invalid trials"
            )
        )
    return out
