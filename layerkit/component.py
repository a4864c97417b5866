"""What every registered component (layer, optimizer, dataset) has in common.

A component class has a registry ``name`` (the class name unless it sets one), a pydantic
``Params`` model of its hyperparameters, validated at construction into ``self.hp``, and a
one-line ``summary()`` (its docstring's first line) that ``layerkit layers`` shows.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any, ClassVar

from pydantic import BaseModel

from layerkit._validation import validate_params

__all__ = ["Component"]


class Component:
    """Base of layers, optimizers and datasets: a named class with validated hyperparameters."""

    #: Registry name used in specs; :meth:`default_name` of the class unless set.
    name: ClassVar[str] = ""
    #: The pydantic model of the hyperparameters.
    Params: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.default_name()

    @classmethod
    def default_name(cls) -> str:
        return cls.__name__

    def __init__(self, **hyperparameters: Any) -> None:
        self.hp: Any = validate_params(self.Params, hyperparameters, self.name)

    @classmethod
    def origin(cls) -> str:
        """The distribution that installed this class (``layerkit-activations 0.1.0``), for
        messages that must say whose code failed; its module when no distribution owns it."""
        top = cls.__module__.partition(".")[0]
        found = _distributions().get(top)
        if not found:
            return f"module {cls.__module__}"
        name = found[0]
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return name

    @classmethod
    def summary(cls) -> str:
        """One-line description: the first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


@functools.cache
def _distributions() -> dict[str, list[str]]:
    # Scanning installed metadata takes ~10 ms; only error messages need it, once per process.
    return dict(metadata.packages_distributions())
