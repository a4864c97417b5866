"""What every registered component (layer, optimizer, dataset) has in common.

A component class has a registry ``name`` (the class name unless it sets one), a pydantic
``Params`` model of its hyperparameters, validated at construction into ``self.hp``, and a
one-line ``summary()`` (its docstring's first line) that ``layerkit layers`` shows.

``Component`` is generic in its ``Params`` model, so ``class Affine(Layer[AffineParams])`` gives
``self.hp`` the type ``AffineParams`` for mypy. :meth:`Component.from_params` creates a component
from hyperparameters validated already (the spec models do this), without validating them again.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from layerkit._validation import validate_params

__all__ = ["Component", "ParamsT"]

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
    def summary(cls) -> str:
        """One-line description: the first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""
