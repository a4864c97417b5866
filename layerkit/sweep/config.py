"""What to sweep: the ``sweep:`` section, command-line ``--grid``/``--random``, and sampling.

A sweep file names its base spec and the values to vary::

    sweep:
      base: ../model_specs/spiral.yaml   # relative to this file
      metric: test_accuracy              # rank trials by this final metric
      mode: max                          # or min; 'auto': min for losses, max otherwise
      set: {train.epochs: 5}             # fixed overrides applied to every trial
      grid:                              # every combination (Hydra's basic sweeper)
        train.optimizer.lr: [0.3, 0.1, 0.03]
      random:                            # drawn `samples` times per grid point (Ray Tune)
        model.layers.fc1.units: {choice: [16, 32, 64]}
        train.optimizer.momentum: {uniform: [0.5, 0.95]}
        train.weight_decay: {loguniform: [1.0e-6, 1.0e-3]}
      samples: 4
      seed: 0                            # seeds the random search (not the trials)

A spec may also carry the ``sweep:`` section itself (then ``base`` is the spec). Paths are those
of ``layerkit train --set`` (layers by id or index). The number of trials is
``len(grid combinations) * samples``.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from layerkit._validation import StrictModel, describe_errors, format_loc
from layerkit.errors import SpecError, SpecIssue

__all__ = [
    "SweepConfig",
    "Uniform",
    "LogUniform",
    "Choice",
    "RandInt",
    "Distribution",
    "parse_grid_option",
    "parse_random_option",
    "parse_value",
    "format_value",
    "combinations",
    "SWEEP_KEY",
]

SWEEP_KEY = "sweep"


class Uniform(StrictModel):
    """A float drawn uniformly from ``[low, high]``."""

    scale: ClassVar[str] = "linear"  # the x axis of its plot
    uniform: tuple[float, float]

    @field_validator("uniform")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("needs low < high")
        return value

    def sample(self, rng: Any) -> float:
        return float(rng.uniform(*self.uniform))


class LogUniform(StrictModel):
    """A float whose logarithm is uniform on ``[log low, log high]`` (learning rates, decays)."""

    scale: ClassVar[str] = "log"
    loguniform: tuple[float, float]

    @field_validator("loguniform")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("needs low > 0")
        if not value[0] < value[1]:
            raise ValueError("needs low < high")
        return value

    def sample(self, rng: Any) -> float:
        low, high = self.loguniform
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))


class RandInt(StrictModel):
    """An integer drawn uniformly from ``low`` to ``high``, both included."""

    scale: ClassVar[str] = "linear"
    randint: tuple[int, int]

    @field_validator("randint")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not value[0] <= value[1]:
            raise ValueError("needs low <= high")
        return value

    def sample(self, rng: Any) -> int:
        return int(rng.integers(self.randint[0], self.randint[1], endpoint=True))


class Choice(StrictModel):
    """One of the listed values, each equally likely."""

    scale: ClassVar[str] = "category"
    choice: list[Any] = Field(min_length=1)

    def sample(self, rng: Any) -> Any:
        return self.choice[int(rng.integers(len(self.choice)))]


Distribution = Uniform | LogUniform | RandInt | Choice
_DISTRIBUTIONS: dict[str, type[StrictModel]] = {
    "uniform": Uniform,
    "loguniform": LogUniform,
    "randint": RandInt,
    "choice": Choice,
}


def _distribution(value: Any) -> Any:
    # One key names the distribution; dispatching here keeps error paths free of union tags
    # ("random.lr.loguniform", not "random.lr.LogUniform.loguniform").
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in _DISTRIBUTIONS:
        hint = ""
        if isinstance(value, Mapping) and len(value) == 1 and isinstance(next(iter(value)), str):
            close = difflib.get_close_matches(next(iter(value)), _DISTRIBUTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            "must be one of {uniform: [low, high]}, {loguniform: [low, high]}, "
            f"{{randint: [low, high]}}, {{choice: [v1, v2, ...]}}{hint}"
        )
    return _DISTRIBUTIONS[next(iter(value))].model_validate(value)


class SweepConfig(StrictModel):
    """The ``sweep:`` section (see the module docstring)."""

    base: str | None = Field(None, description="the spec to sweep, relative to the sweep file")
    name: str | None = Field(None, description="the sweep's name (default: the sweep file's name)")
    metric: str = Field("test_accuracy", description="final metric that ranks trials")
    mode: Literal["auto", "max", "min"] = "auto"
    set: dict[str, Any] = Field(default_factory=dict, description="overrides applied to every trial")
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    random: dict[str, Annotated[Distribution, BeforeValidator(_distribution)]] = Field(default_factory=dict)
    samples: int = Field(1, ge=1, le=100_000, description="random draws per grid point")
    seed: int = Field(0, ge=0, description="seed of the random search")

    @model_validator(mode="after")
    def _paths_once(self) -> SweepConfig:
        both = sorted(set(self.grid) & set(self.random))
        if both:
            raise ValueError(f"{both[0]!r} is in both grid and random; sweep it in one of them")
        return self

    @property
    def direction(self) -> Literal["max", "min"]:
        if self.mode != "auto":
            return self.mode
        return "min" if self.metric.endswith("loss") else "max"

    @property
    def scales(self) -> dict[str, str]:
        """Swept path -> x scale of its plot."""
        out = {path: "linear" for path in self.grid}
        out.update({path: dist.scale for path, dist in self.random.items()})
        return out

    def points(self) -> list[dict[str, Any]]:
        """Every trial's swept values: grid combinations, each with ``samples`` random draws.

        The draws come from ``seed`` in a fixed order, so the same sweep gives the same trials.
        """
        import numpy as np

        rng = np.random.default_rng(self.seed)
        draws = self.samples if self.random else 1
        out = []
        for _ in range(draws):
            for combo in combinations(self.grid):
                point = dict(combo)
                for path, dist in self.random.items():
                    point[path] = dist.sample(rng)
                out.append(point)
        return out


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of a grid, the last path varying fastest (as Hydra does)."""
    paths = list(grid)
    return [dict(zip(paths, values, strict=False)) for values in itertools.product(*(grid[p] for p in paths))]


# -- command line -------------------------------------------------------------------------------


def parse_value(text: str, *, where: str) -> Any:
    """A value from the command line, read as a YAML scalar (``1e-3`` is a float, ``relu`` a string)."""
    from layerkit.spec.yamlio import parse_yaml

    value, _ = parse_yaml(text, filename=where)
    return value


def format_value(value: Any) -> str:
    """A value as override text that reads back to the same value (floats exactly)."""
    from layerkit.spec.yamlio import dump_yaml

    text = dump_yaml(value).strip()
    return text.removesuffix("...").strip()


def _problem(flag: str, option: str, message: str, path: str = "") -> SpecError:
    # located like the spec loader's --set errors: "--grid lr=0.1,: lr: needs ..."
    return SpecError([SpecIssue(path=path, message=message, file=f"{flag} {option}")])


def _split_option(option: str, flag: str) -> tuple[str, str]:
    from layerkit.spec.overrides import parse_path

    path, sep, values = option.partition("=")
    path = path.strip()
    if not sep:
        raise _problem(flag, option, "expected PATH=VALUES, e.g. train.optimizer.lr=0.1,0.03")
    try:
        parse_path(path)
    except ValueError as exc:
        raise _problem(flag, option, str(exc)) from None
    return path, values


def parse_grid_option(option: str) -> tuple[str, list[Any]]:
    """``train.optimizer.lr=0.1,0.03`` -> ``("train.optimizer.lr", [0.1, 0.03])``."""
    path, text = _split_option(option, "--grid")
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise _problem("--grid", option, "needs comma-separated values, none empty", path)
    return path, [parse_value(item, where=f"--grid {option}") for item in items]


_CALL = re.compile(r"\s*(\w+)\s*\((.*)\)\s*")


def parse_random_option(option: str) -> tuple[str, Distribution]:
    """``lr=loguniform(1e-4,1e-1)``, ``units=choice(16,32)``, ``m=uniform(0.5,0.9)``, ``k=randint(1,5)``."""
    path, text = _split_option(option, "--random")
    match = _CALL.fullmatch(text)
    if match is None or match.group(1) not in _DISTRIBUTIONS:
        expected = "uniform(LOW,HIGH), loguniform(LOW,HIGH), randint(LOW,HIGH) or choice(V1,V2,...)"
        raise _problem("--random", option, f"expected {expected} (received {text!r})", path)
    kind, args = match.groups()
    values = [parse_value(a.strip(), where=f"--random {option}") for a in args.split(",")] if args.strip() else []
    try:
        return path, _distribution({kind: values})
    except ValidationError as exc:
        loc, message, _ = next(describe_errors(exc))  # loc: (kind,) or (kind, index)
        raise _problem("--random", option, f"{format_loc(loc)}: {message}", path) from None
