"""What every registered component (layer, optimizer, dataset) has in common.

A component class has a registry ``name`` (the class name unless it sets one), a pydantic
``Params`` model of its hyperparameters, validated at construction into ``self.hp``, and a
one-line ``summary()`` (its docstring's first line) that ``layerkit layers`` shows.

``Component`` is generic in its ``Params`` model, so ``class Affine(Layer[AffineParams])`` gives
``self.hp`` the type ``AffineParams`` for mypy. :meth:`Component.from_params` creates a component
from hyperparameters validated already (the spec models do this), without validating them again.
"""

from __future__ import annotations

import functools
import weakref
from importlib import metadata
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from layerkit._validation import validate_params

__all__ = ["Component", "ParamsT", "record_origin"]

#: The hyperparameter model of a component class.
ParamsT = TypeVar("ParamsT", bound=BaseModel)
_C = TypeVar("_C", bound="Component[Any]")


class Component(Generic[ParamsT]):
    """Base of layers, optimizers and datasets: a named class with validated hyperparameters."""

    #: Registry name used in specs; :meth:`default_name` of the class unless set.
    name: ClassVar[str] = ""
    #: The pydantic model of the hyperparameters.
    Params: ClassVar[type[BaseModel]]
    #: The validated hyperparameters (an instance of ``Params``).
    hp: ParamsT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.default_name()

    @classmethod
    def default_name(cls) -> str:
        return cls.__name__

    def __init__(self, **hyperparameters: Any) -> None:
        if "hp" in self.__dict__:  # set by from_params: validated already
            return
        self.hp = cast(ParamsT, validate_params(self.Params, hyperparameters, self.name))

    @classmethod
    def from_params(cls: type[_C], params: BaseModel, **options: Any) -> _C:
        """A component with hyperparameters validated already (an instance of ``cls.Params``).

        ``options`` are the other constructor arguments (a layer's ``id``). Subclasses that
        override ``__init__`` keep working: it runs as usual, with no hyperparameters to validate.
        """
        if not isinstance(params, cls.Params):
            raise TypeError(
                f"{cls.__name__}.from_params: expected {cls.Params.__name__} "
                f"(received {type(params).__name__})"
            )
        component = cls.__new__(cls)
        component.hp = params
        cls.__init__(component, **options)
        return component

    @classmethod
    def origin(cls) -> str:
        """Whose code this class is (``layerkit-activations 0.1.0``), for messages that must say
        who to blame: the distribution the registry loaded it from, else the installed
        distribution owning its module, else the module."""
        recorded = _ORIGINS.get(cls)
        if recorded:
            return recorded
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


#: class -> "distribution version" of the plugin that registered it (see :func:`record_origin`)
_ORIGINS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def record_origin(cls: type, distribution: str | None, version: str | None, module: str) -> None:
    """Remember where the registry loaded ``cls`` from (the first registration wins)."""
    if cls not in _ORIGINS:
        _ORIGINS[cls] = (
            f"{distribution} {version}"
            if distribution and version
            else distribution or f"module {module}"
        )


@functools.cache
def _distributions() -> dict[str, list[str]]:
    # Scanning installed metadata takes ~10 ms; only error messages need it, once per process.
    return dict(metadata.packages_distributions())
