"""Turn pydantic validation errors into layerkit's one-line messages.

pydantic says "Input should be greater than 0"; layerkit users read
``units: must be > 0 (received 0)``. The spec loader reuses :func:`describe_errors` and adds
file/line/column from the YAML node of each path.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from layerkit.errors import ConfigError

__all__ = [
    "StrictModel",
    "describe_errors",
    "format_loc",
    "located_error",
    "validate_params",
    "short_repr",
    "closest",
    "did_you_mean",
]

_MISSING = object()


class StrictModel(BaseModel):
    """The base of every layerkit model of user input (hyperparameters, spec sections, sweeps):
    unknown keys are errors, values are immutable once validated, NaN and infinities rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: ``(loc, kind, message, received)``: one error for :func:`located_error`.
ErrorSpec = tuple[tuple[str | int, ...], str, str, Any]


def located_error(title: str, errors: Sequence[ErrorSpec], **ctx: Any) -> ValidationError:
    """A ValidationError with the given errors, for validators to raise.

    ``loc`` is relative to the value being validated: pydantic prefixes it with that value's own
    location, so the spec loader reports ``model.layers[3].type`` or ``train.optimizer.type``
    rather than the whole section. ``message`` may use ``{name}`` fields filled from ``ctx``.
    """
    details = [
        InitErrorDetails(type=PydanticCustomError(kind, message, ctx or None), loc=loc, input=value)
        for loc, kind, message, value in errors
    ]
    return ValidationError.from_exception_data(title, details)

_Model = TypeVar("_Model", bound=BaseModel)


def short_repr(value: Any, limit: int = 60) -> str:
    """A repr that never floods a terminal (huge ints, long lists)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<integer with {len(str(abs(value)))} digits>" if value.bit_length() < 10_000 else "<huge integer>"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def closest(name: Any, choices: Iterable[str]) -> str | None:
    """The choice ``name`` was most likely meant to be: the same letters in another case, else
    the nearest spelling regardless of case (``AFINE`` -> ``Affine``), else None."""
    if not isinstance(name, str):
        return None
    by_lower = {c.lower(): c for c in choices}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return by_lower[found[0]] if found else None


def did_you_mean(name: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'units'?"`` for a close match, else ``""``."""
    match = closest(name, choices)
    return f"; did you mean {match!r}?" if match else ""


def format_loc(loc: tuple[str | int, ...]) -> str:
    """``("layers", 2, "units")`` -> ``layers[2].units``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: ErrorDetails) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    simple = {
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than": "must be < {lt}",
        "less_than_equal": "must be <= {le}",
        "missing": "required",
        "extra_forbidden": "unknown key",
        "finite_number": "must be a finite number",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "tuple_type": "must be a list",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "literal_error": "must be one of {expected}",
        "enum": "must be one of {expected}",
        "too_short": "must have at least {min_length} item(s)",
        "too_long": "must have at most {max_length} item(s)",
        "string_too_short": "must have at least {min_length} character(s)",
        "string_pattern_mismatch": "must match {pattern}",
        "multiple_of": "must be a multiple of {multiple_of}",
    }
    template = simple.get(kind)
    if template is not None:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    msg = str(err.get("msg", "invalid value"))
    # pydantic prefixes custom ValueError messages; the user does not need to know that.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def describe_errors(exc: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
    """Yield ``(loc, message, received)`` per error; ``received`` is ``_MISSING`` when absent."""
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        received = _MISSING if kind == "missing" else err.get("input", _MISSING)
        if isinstance(received, dict) and kind not in ("dict_type", "model_type"):
            received = _MISSING
        yield loc, _message(err), received


def render(loc: tuple[str | int, ...], message: str, received: Any, prefix: str = "") -> str:
    path = format_loc(loc)
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    text = f"{path}: {message}" if path else message
    if received is not _MISSING:
        text += f" (received {short_repr(received)})"
    return text


def validate_params(model: type[_Model], values: dict[str, Any], owner: str) -> _Model:
    """Validate ``values`` against ``model``; raise :class:`ConfigError` naming ``owner``.

    ``Affine(units=0)`` fails with ``Affine.units: must be > 0 (received 0)``.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        lines = [render(loc, msg, rec, prefix=owner) for loc, msg, rec in describe_errors(exc)]
        raise ConfigError("\n".join(lines)) from None
