"""The layer contract every built-in and plugin layer follows.

A layer is a node of the computational graph of the textbook's backpropagation chapter, written
the way Keras writes layers:

* ``__init__(*, id=None, **hyperparameters)`` validates the hyperparameters against the class's
  pydantic model :attr:`Layer.Params` (unknown keys are errors) and stores them as ``self.hp``.
  The same model validates the layer's entry in a YAML spec.
* ``build(input_shape, *, rng, dtype) -> output_shape`` checks the per-sample input shape (batch
  axis excluded), allocates the weights in ``params`` (and zeroed ``grads`` with the same keys),
  and returns the per-sample output shape, so shapes are inferred through a whole network before
  any data exists.
* ``forward(x, *, train)`` computes the output for a batch and caches what backward needs;
  ``backward(dout)`` returns ``dx`` and fills ``grads``. Neither ever writes into its inputs.

Loss layers (:class:`Loss`) end a network: ``forward(x, t)`` returns the mean loss over the
batch as a Python float, ``backward(dout=1.0)`` returns ``dx``; labels may be class indices or
one-hot. Merge layers (:class:`Merge`: the textbook's Mul and Add, and Concat) take several
inputs: ``forward(*xs, train)`` returns one output and ``backward(dout)`` returns a tuple with one
``dx`` per input, in the order of the inputs; ``build(input_shapes)`` receives one per-sample
shape per input. They are nodes of a graph :class:`~layerkit.network.Network` (``inputs:`` in a
spec, ``Add()(a, b)`` in Python) and, unbuilt, the textbook's hand-made graphs (``Mul().forward(100,
2)``).

Conventions the :class:`~layerkit.network.Network` and the trainer rely on:

* ``params`` arrays are updated in place by optimizers: a layer never rebinds them after
  ``build`` (``load_state_dict`` copies into them).
* ``grads`` arrays are overwritten (not accumulated) by each ``backward``, **in place**: write
  into the arrays ``build`` allocated (``np.matmul(..., out=self.grads["W"])``,
  ``self.grads["b"][...] = ...``) and never rebind ``self.grads[k]`` or ``self.grads``. The
  network maps ``"<id>.<name>"`` to these arrays once, at build, and optimizers keep
  per-parameter references to them (the conformance check ``arrays-in-place`` verifies it).
* ``buffers`` hold non-trainable state saved with checkpoints (BatchNorm's running statistics).
* A stochastic layer (Dropout) draws from its own generator ``self.rng``, seeded in ``build``
  from the ``rng`` it is given; the network saves and restores its state for exact resumes.
* ``needs_input_grad``: a network sets it to ``False`` on layers whose ``dx`` nobody reads (no
  weights upstream of them); ``backward`` may then skip computing ``dx`` and return ``None``
  (saving the largest matrix product of a first Affine layer).
* The arrays ``backward`` returns are read-only to the caller: a network never writes into them
  (it sums fan-out gradients into buffers of its own), so a layer may return ``dout`` itself or
  a view of it (Add, Flatten and Concat do).

Every layer class declares ``examples``: hyperparameters and a per-sample input shape the
conformance kit (:mod:`layerkit.testing`) builds it with, and may declare ``bad_params``:
hyperparameters its validation must reject (out-of-range values are also derived from the
``Params`` constraints). The project's table test runs the kit on every *registered* layer,
plugins included, so a layer without ``examples`` fails it::

    class Affine(Layer):
        examples = ({"params": {"units": 3}, "input_shape": (4,)},
                    {"params": {"units": 2, "init": "he"}, "input_shape": (2, 3)})
        bad_params = ({"units": 0}, {"init": {"type": "normal", "std": -1.0}})

A merge layer's examples give ``"input_shapes"`` (one shape per input) instead of
``"input_shape"``.

An example may also carry ``"xfail": {"check-name": "reason"}`` for checks the layer is known
to fail, and ``"rtol"`` for the gradient check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from layerkit._validation import StrictModel
from layerkit.component import Component
from layerkit.errors import ConfigError, ShapeError
from layerkit.layers.symbolic import Tensor, apply_layer

__all__ = ["LayerParams", "LayerParamsT", "Layer", "Loss", "Merge", "Node", "Shape"]

Shape = tuple[int, ...]


class LayerParams(StrictModel):
    """Base of every layer's hyperparameter model: strict, immutable, no unknown keys."""


#: The hyperparameter model of a layer class: ``class Affine(Layer[AffineParams])``.
LayerParamsT = TypeVar("LayerParamsT", bound=LayerParams)


class Layer(Component[LayerParamsT]):
    """A single-input layer: ``forward(x, *, train)`` and ``backward(dout) -> dx``."""

    #: Registry name used in specs (``type: Affine``); defaults to the class name.
    name: ClassVar[str] = ""
    #: ``"layer"``, ``"loss"`` or ``"merge"``.
    kind: ClassVar[str] = "layer"
    #: The pydantic model of this layer's hyperparameters.
    Params: ClassVar[type[LayerParams]] = LayerParams
    #: Hyperparameters and input shapes for the conformance kit (see the module docstring).
    examples: ClassVar[tuple[dict[str, Any], ...]] = ()
    #: Hyperparameter sets that validation must reject.
    bad_params: ClassVar[tuple[dict[str, Any], ...]] = ()

    def __init__(self, *, id: str | None = None, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.id: str | None = id
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: Non-trainable state saved with checkpoints (e.g. BatchNorm running statistics).
        self.buffers: dict[str, np.ndarray] = {}
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.dtype: np.dtype = np.dtype(np.float32)
        self.built = False
        #: ``False`` when nobody reads ``dx`` (set by a network on its first layers).
        self.needs_input_grad = True
        #: The generator of a stochastic layer (``None`` for deterministic layers).
        self.rng: np.random.Generator | None = None

    # -- shapes and weights ------------------------------------------------------------------

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Per-sample output shape for ``input_shape``; raise :class:`ShapeError` if invalid."""
        return input_shape

    def create_params(
        self, input_shape: Shape, rng: np.random.Generator, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        """Allocate and initialise the weights (none by default)."""
        return {}

    def build(
        self,
        input_shape: Shape,
        *,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type | str = np.float32,
    ) -> Shape:
        """Check ``input_shape``, create the weights and return the output shape."""
        shape = tuple(int(d) for d in input_shape)
        if any(d <= 0 for d in shape):
            raise ShapeError(f"{self.label}: input shape must be positive (received {shape})")
        out = tuple(int(d) for d in self.compute_output_shape(shape))
        self._allocate(shape, out, rng, dtype)
        return out

    def _allocate(
        self, input_shape: Shape, output_shape: Shape, rng: np.random.Generator | None, dtype: Any
    ) -> None:
        """The end of ``build``: check the dtype, create weights and zeroed grads, record shapes."""
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ShapeError(f"{self.label}: dtype must be a float type (received {self.dtype})")
        self.params = self.create_params(input_shape, rng or np.random.default_rng(), self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.input_shape, self.output_shape = input_shape, output_shape
        self.built = True

    # -- maths -------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Return ``dx`` (``None`` when ``needs_input_grad`` is false) and fill ``grads``."""
        raise NotImplementedError

    # -- functional API ----------------------------------------------------------------------

    def __call__(self, *inputs: Tensor) -> Tensor:
        """Apply this layer to symbolic tensors (Keras' functional API): ``Relu()(Affine(units=50)(x))``.

        Nothing is computed: the result records the layer and its inputs, and
        ``Network(inputs=x, outputs=loss)`` turns the recorded graph into a network.
        """
        return apply_layer(self, inputs)

    # -- description -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How messages refer to this layer: its id if it has one, else its type."""
        return self.id or self.name

    def config(self) -> dict[str, Any]:
        """The spec entry that rebuilds this layer: ``{"type": ..., "id": ..., **hp}``."""
        entry: dict[str, Any] = {"type": self.name}
        if self.id is not None:
            entry["id"] = self.id
        entry.update(self.hp.model_dump(mode="json"))
        return entry

    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}"] if self.id else []
        parts += [f"{k}={v!r}" for k, v in self.hp.model_dump().items()]
        return f"{type(self).__name__}({', '.join(parts)})"


class Loss(Layer[LayerParamsT]):
    """A loss layer: ``forward(x, t) -> float`` (batch mean), ``backward(dout=1.0) -> dx``."""

    kind: ClassVar[str] = "loss"

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return ()

    def check_targets(self, input_shape: Shape, num_classes: int | None) -> None:
        """Raise :class:`ShapeError` if inputs of ``input_shape`` cannot score ``num_classes``."""

    def activate(self, x: np.ndarray) -> np.ndarray:
        """The network output at inference (e.g. softmax probabilities); identity by default."""
        return x

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        raise NotImplementedError

    def forward_validated(self, x: np.ndarray, t: np.ndarray) -> float:
        """:meth:`forward` for labels the caller has already checked, once, for a whole split.

        ``x`` is ``(N, C)`` and ``t`` holds ``N`` integer class indices in ``[0, C)``; a loss
        may skip its per-call label checks here (the trainer validates ``split.y`` once and then
        calls this every step). The default is :meth:`forward` itself.
        """
        return self.forward(x, t)

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        raise NotImplementedError


class Merge(Layer[LayerParamsT]):
    """A layer with several inputs: ``forward(*xs, train)``, ``backward(dout) -> (dx1, dx2, ...)``.

    ``build(input_shapes)`` takes one per-sample shape per input (``input_shapes``; its first is
    also ``input_shape``) and :meth:`compute_output_shape` receives them all. ``min_inputs`` and
    ``max_inputs`` bound how many inputs the layer takes.
    """

    kind: ClassVar[str] = "merge"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def __init__(self, *, id: str | None = None, **hyperparameters: Any) -> None:
        super().__init__(id=id, **hyperparameters)
        self.input_shapes: tuple[Shape, ...] | None = None

    @classmethod
    def arity_problem(cls, n: int) -> str | None:
        """Why ``n`` inputs are too few or too many for this layer (``None`` if they are fine)."""
        if n < cls.min_inputs:
            return f"{cls.name} takes at least {cls.min_inputs} inputs (received {n})"
        if cls.max_inputs is not None and n > cls.max_inputs:
            return f"{cls.name} takes at most {cls.max_inputs} inputs (received {n})"
        return None

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:  # type: ignore[override]
        """Per-sample output shape for the inputs' shapes; raise :class:`ShapeError` if they do not agree."""
        raise NotImplementedError

    def build(  # type: ignore[override]
        self,
        input_shapes: Sequence[Sequence[int]],
        *,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type | str = np.float32,
    ) -> Shape:
        """Check the inputs' shapes, create the weights (none by default), return the output shape."""
        if isinstance(input_shapes, tuple) and input_shapes and isinstance(input_shapes[0], int):
            raise ConfigError(f"{self.label}: build takes one shape per input (received {input_shapes})")
        shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
        problem = self.arity_problem(len(shapes))
        if problem is not None:
            raise ShapeError(f"{self.label}: {problem}")
        for s in shapes:
            if any(d <= 0 for d in s):
                raise ShapeError(f"{self.label}: input shapes must be positive (received {list(shapes)})")
        out = tuple(int(d) for d in self.compute_output_shape(shapes))
        self._allocate(shapes[0], out, rng, dtype)
        self.input_shapes = shapes
        return out

    def forward(self, *xs: Any, train: bool = False) -> Any:
        raise NotImplementedError

    def backward(self, dout: Any) -> tuple[Any, ...]:  # type: ignore[override]
        raise NotImplementedError


#: The former name of :class:`Merge` (two-input graph nodes), kept for existing code.
Node = Merge
