"""The one exception hierarchy of layerkit.

Every mistake a user can make (a bad hyperparameter, a wrong spec, a missing data file, a broken
plugin, a corrupt checkpoint) raises a subclass of :class:`LayerkitError`. The CLI prints its
message without a traceback and exits with :attr:`LayerkitError.exit_code`: 2 for bad input,
1 for a run that failed (divergence, a failed gradient check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LayerkitError",
    "ConfigError",
    "SpecError",
    "SpecIssue",
    "ShapeError",
    "MemoryBudgetError",
    "PluginError",
    "DataError",
    "CheckpointError",
    "ExportError",
    "RunFailed",
    "LayerFailed",
    "CallbackFailed",
    "LayerkitWarning",
    "PluginWarning",
    "CheckpointWarning",
]


class LayerkitError(Exception):
    """Base class of every error layerkit raises on purpose."""

    exit_code: int = 2


class ConfigError(LayerkitError, ValueError):
    """Hyperparameters or options that do not validate (raised at construction time)."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec, located in its source file when known."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class SpecError(ConfigError):
    """A spec (YAML file or dict) with one or more problems; all are reported at once."""

    def __init__(self, issues: Sequence[SpecIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [SpecIssue(path="", message=issues)]
        self.issues: tuple[SpecIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class ShapeError(ConfigError):
    """A layer cannot accept the shape it is given (found while building, before any data)."""


class MemoryBudgetError(ConfigError):
    """A network whose weights would exceed the memory budget (found before allocating them)."""

    def __init__(self, message: str, *, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index


class PluginError(LayerkitError):
    """A plugin failed to load, or a component name is unknown or ambiguous."""


class DataError(LayerkitError):
    """A dataset cannot be found, downloaded or parsed."""


class CheckpointError(LayerkitError):
    """A checkpoint is missing, corrupt, unsafe, or needs something that is not installed."""


class ExportError(LayerkitError):
    """A network cannot be exported to ONNX.

    A layer without a converter, a converter that builds a graph ``onnx.checker`` rejects, an
    unsupported opset, or the optional ``onnx`` extra not installed.
    """


class RunFailed(LayerkitError):
    """A run that started but failed: divergence (NaN/Inf), a failed gradient check."""

    exit_code = 1


class LayerFailed(RunFailed):
    """A layer raised, or returned an array of the wrong shape, while running (a bug in its code,
    typically a plugin's): the message names its id, type and distribution."""

    def __init__(
        self, message: str, *, layer_id: str | None = None, layer_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.layer_id = layer_id
        self.layer_type = layer_type


class CallbackFailed(RunFailed):
    """A plugin's training callback raised while plugins are strict (``--strict-plugins``).

    Without strict mode the failure is a :class:`PluginWarning` and the run goes on.
    """


class LayerkitWarning(UserWarning):
    """Base class of the warnings layerkit emits (filter them with ``-W`` or ``warnings``)."""


class PluginWarning(LayerkitWarning):
    """A plugin failed to load and was quarantined, or a plugin's callback raised and was switched
    off; everything else keeps working."""


class CheckpointWarning(LayerkitWarning):
    """A checkpoint was unusable (corrupt, truncated) and an older one is used instead."""
