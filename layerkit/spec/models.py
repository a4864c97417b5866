"""pydantic models of a spec, built from the plugin registry.

A spec has six sections::

    name: two_layer_net            # names the run folder
    seed: 42                       # weights, dropout, shuffling
    dtype: float32                 # or float64
    data: {dataset: fashion_mnist, augment: [{type: hflip}], ...that dataset's options}
    model:
      input_shape: [784]           # optional: the dataset says
      layers: [{type: Affine, id: fc1, units: 50}, ..., {type: SoftmaxWithLoss}]
    train: {epochs: 10, batch_size: 100, optimizer: {type: SGD, lr: 0.1}, ...}

Each layer entry, the ``data`` section, each ``data.augment`` entry, ``train.optimizer`` and each
``train.callbacks`` entry are validated by the ``Params``
model of the component they name: the registry is turned into a pydantic union discriminated by
``type`` (``dataset`` for data), so a plugin's layers get exactly the checks, errors and JSON
Schema of the built-ins. The classes are built once per registry by :func:`spec_models`;
:class:`Spec` is their common base (use it for ``isinstance`` and type hints).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from layerkit._validation import INT_CHECK, StrictModel, located_error, strict_numbers
from layerkit.component import Component
from layerkit.data.base import Dataset
from layerkit.errors import PluginError
from layerkit.layer_list import (
    LAYER_ID_MAX_LENGTH,
    LAYER_ID_PATTERN,
    LAYER_ID_RULE,
    structure_problems,
)
from layerkit.layers.base import Layer
from layerkit.optimizers.base import Optimizer
from layerkit.plugins import Entry, Registry, get_registry
from layerkit.spec.yamlio import dump_yaml
from layerkit.training.config import TrainConfig

__all__ = [
    "Spec",
    "structure_problems",
    "ModelSpec",
    "ComponentSpec",
    "LayerSpec",
    "DataSpec",
    "AugmentationSpec",
    "OptimizerSpec",
    "CallbackSpec",
    "SpecModels",
    "spec_models",
    "LAYER_ID_PATTERN",
    "SPEC_NAME_PATTERN",
]

#: Spec names name run folders (``runs/<name>/``).
SPEC_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


def _matching(pattern: str, rule: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


# The pattern is in the JSON Schema for editors; the validator says it in words.
LayerId = Annotated[
    str,
    StringConstraints(max_length=LAYER_ID_MAX_LENGTH),
    _matching(LAYER_ID_PATTERN, LAYER_ID_RULE),
    WithJsonSchema(
        {"type": "string", "pattern": LAYER_ID_PATTERN, "maxLength": LAYER_ID_MAX_LENGTH}
    ),
]
SpecName = Annotated[
    str,
    StringConstraints(max_length=100),
    _matching(
        SPEC_NAME_PATTERN,
        "must be a folder name: letters, digits, '_', '-' and '.', not starting with '.' or '-'",
    ),
    WithJsonSchema({"type": "string", "pattern": SPEC_NAME_PATTERN, "maxLength": 100}),
]
Dim = Annotated[int, Field(gt=0), INT_CHECK]


# -- entries: one model per registered component ---------------------------------------------


# aliases: inside the entry classes, ``type`` is the name of a field
_LayerClass = type[Layer]
_OptimizerClass = type[Optimizer]
_DatasetClass = type[Dataset]


class ComponentSpec:
    """Mixin of the models built for each registered component (layer, dataset, optimizer)."""

    #: the registered class this entry configures
    component: ClassVar[type[Component[Any]]]
    #: the registry entry (name, plugin, distribution)
    entry: ClassVar[Entry]
    #: the key naming the component: ``type``, or ``dataset`` in the data section
    discriminator: ClassVar[str] = "type"
    #: keys of the entry that are not the component's hyperparameters
    reserved: ClassVar[tuple[str, ...]] = ("type",)

    def options(self) -> dict[str, Any]:
        """The component's hyperparameters (defaults filled in), as Python values."""
        fields = set(self.component.Params.model_fields)
        return self.model_dump(include=fields)  # type: ignore[attr-defined]

    def params(self) -> BaseModel:
        """The component's ``Params``, taken from this entry as validated: the entry model is a
        subclass of ``Params`` (same fields, same validators), so nothing is validated again."""
        params_cls = self.component.Params
        fields = params_cls.model_fields
        values = {name: getattr(self, name) for name in fields}
        given = self.model_fields_set & set(fields)  # type: ignore[attr-defined]
        return params_cls.model_construct(_fields_set=given, **values)

    def to_config(self) -> dict[str, Any]:
        """The entry as plain data, component name first: what the YAML shows."""
        out: dict[str, Any] = {}
        for key in self.reserved:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        fields = set(self.component.Params.model_fields)
        out.update(self.model_dump(mode="json", include=fields))  # type: ignore[attr-defined]
        return out


class LayerSpec(ComponentSpec):
    """An entry of ``model.layers``: ``{type, id?, inputs?, **that layer's hyperparameters}``."""

    reserved = ("type", "id", "inputs")
    # pydantic collects these annotations too, so the entry models list them first; their
    # actual types (the Literal of the name, the id pattern) are given by _entry_model.
    type: str
    id: str | None
    inputs: list[str] | None

    component: ClassVar[_LayerClass]

    def create(self) -> Layer:
        """A new, unbuilt layer."""
        return self.component.from_params(self.params(), id=self.id)


class DataSpec(ComponentSpec):
    """The ``data`` section: ``{dataset, augment?, **that dataset's options}``."""

    discriminator = "dataset"
    reserved = ("dataset", "augment")
    dataset: str
    #: :class:`AugmentationSpec` entries (typed by the registry-built subclass)
    augment: list[Any]

    component: ClassVar[_DatasetClass]

    def create(self) -> Dataset:
        """The dataset object (nothing is loaded until its ``load()``)."""
        return self.component.from_params(self.params())

    def create_augmentations(self) -> list[Any]:
        """The ``augment`` list as :class:`~layerkit.data.augment.Augmentation` objects, in order."""
        return [entry.create() for entry in self.augment]

    def to_config(self) -> dict[str, Any]:
        out = super().to_config()
        if self.augment:  # an empty list is the default, left out like a missing key
            out["augment"] = [entry.to_config() for entry in self.augment]
        else:
            out.pop("augment", None)
        return out


class AugmentationSpec(ComponentSpec):
    """An entry of ``data.augment``: ``{type, **that augmentation's options}``."""

    type: str

    def create(self) -> Any:
        return self.component(**self.options())


class OptimizerSpec(ComponentSpec):
    """``train.optimizer``: ``{type, **that optimizer's hyperparameters}``."""

    type: str
    component: ClassVar[_OptimizerClass]

    def create(self) -> Optimizer:
        """The optimizer this entry configures."""
        return self.component.from_params(self.params())


class OptimizerOptions(dict[str, Any]):
    """``train.optimizer`` as validated: plain data (what YAML, ``to_dict`` and ``==`` see) that
    keeps the entry model it was validated into, so the optimizer is created from that entry
    without validating ``lr`` and the rest a second time."""

    def __init__(self, entry: OptimizerSpec) -> None:
        super().__init__(entry.to_config())
        self.entry = entry


class CallbackSpec(ComponentSpec):
    """An entry of ``train.callbacks``: ``{type, **that callback's options}``."""

    type: str

    def create(self) -> Any:
        """A new callback (its run folder is given later, by ``setup``)."""
        return self.component(**self.options())


def _model_name(entry: Entry, suffix: str, ambiguous: bool) -> str:
    """``AffineLayer``, ``FashionMnistData``, ``activations_GELULayer`` (JSON Schema $defs keys)."""
    name = entry.name if not entry.name.islower() else entry.name.title().replace("_", "")
    base = f"{entry.plugin}_{name}" if ambiguous else name
    return re.sub(r"\W", "_", base) + suffix


def _entry_model(
    entry: Entry,
    tag: str,
    spellings: list[str],
    mixin: type[ComponentSpec],
    suffix: str,
    ambiguous: bool,
    extra: dict[str, Any] | None = None,
) -> type[BaseModel]:
    params = entry.component.Params  # type: ignore[attr-defined]
    reserved = set(mixin.reserved) & set(params.model_fields)
    if reserved:
        raise PluginError(
            f"{entry.group[:-1]} {entry.qualified_name} (from {entry.distribution or entry.plugin}): "
            f"its Params may not define {', '.join(sorted(reserved))}, which specs use to name it"
        )
    what = mixin.discriminator
    origin = entry.distribution or entry.plugin
    # The JSON Schema names every spelling the registry resolves to this entry (Affine,
    # builtins:Affine); the loader's BeforeValidator turns them all into ``tag`` first.
    name_schema = (
        {"type": "string", "enum": spellings}
        if len(spellings) > 1
        else {"type": "string", "const": tag}
    )
    described = f"{entry.kind} {entry.name} from {origin}" + (
        f" (also written {', '.join(s for s in spellings if s != tag)})"
        if len(spellings) > 1
        else ""
    )
    fields: dict[str, Any] = {
        what: (Annotated[Literal[tag], WithJsonSchema(name_schema)], Field(description=described)),
    }
    # In a spec a bool or a string is never a number, whatever the component's Params accept
    # from Python: each int/float field is redeclared strict, its constraints kept.
    for field_name, info in params.model_fields.items():
        strict = strict_numbers(info.annotation)
        if strict is not info.annotation:
            fields[field_name] = (strict, info)
    if mixin is LayerSpec:
        fields["id"] = (
            LayerId | None,
            Field(
                None,
                description="names the layer's parameters (fc1.W) and override paths; default <type><n>",
            ),
        )
        fields["inputs"] = (
            Annotated[
                list[Annotated[str, StringConstraints(max_length=200)]],
                Field(min_length=1, max_length=64),
            ]
            | None,
            Field(
                None,
                description="ids of the layers whose outputs this layer takes ('input': the data); "
                "default: the layer before it. Merge layers (Add, Mul, Concat) take several",
            ),
        )
    fields.update(extra or {})
    model = create_model(
        _model_name(entry, suffix, ambiguous),
        __base__=(params, mixin),
        __doc__=entry.summary or None,
        __module__=__name__,
        **fields,
    )
    model.component = entry.component
    model.entry = entry
    return model


@dataclass(frozen=True)
class _Group:
    """The entry models of one registry group and their discriminated union."""

    group: str
    discriminator: str
    models: dict[str, type[BaseModel]]  # tag -> model
    union: Any

    def names(self) -> list[str]:
        return sorted(self.models)


def _group(
    registry: Registry,
    group: str,
    mixin: type[ComponentSpec],
    suffix: str,
    extra: dict[str, Any] | None = None,
) -> _Group:
    entries = registry.entries(group)
    models: dict[str, type[BaseModel]] = {}
    for entry in entries:
        # A name two plugins provide is only accepted qualified, so nothing silently wins.
        tag = registry.display_name(entry)
        models[tag] = _entry_model(
            entry, tag, registry.spellings(entry), mixin, suffix, tag != entry.name, extra
        )
    disc = mixin.discriminator
    members = tuple(models.values())
    if not members:
        union: Any = Annotated[dict[str, Any], Field(description=f"no {group} are registered")]
    elif len(members) == 1:
        union = members[0]
    else:
        union = Annotated[Union[members], Field(discriminator=disc)]  # noqa: UP007
    if members:
        union = Annotated[union, BeforeValidator(_canonical_names(registry, group, disc))]
    return _Group(group, disc, models, union)


def _canonical_names(registry: Registry, group: str, disc: str) -> Any:
    """``plugin:Name`` is accepted wherever the registry accepts it, and stored as ``Name``
    when that name is not ambiguous (the spec's canonical form)."""

    def canonical(value: Any) -> Any:
        name = value.get(disc) if isinstance(value, Mapping) else None
        if not isinstance(name, str) or ":" not in name:
            return value
        try:
            shown = registry.display_name(registry.lookup(group, name))
        except PluginError:
            return value  # the union reports it, with the registry's explanation
        return {**value, disc: shown}

    return canonical


# -- sections -------------------------------------------------------------------------------


class BlockSpec(StrictModel):
    """A block: a named sub-graph with parameters, used as ``{type: block, block: NAME, with: {...}}``."""

    params: dict[str, Any] | list[str] = Field(
        default_factory=dict,
        description="the block's parameters: a mapping to defaults (null: required), or a list of "
        "required names; layers use a parameter by writing $name as a whole value",
    )
    layers: list[dict[str, Any]] = Field(
        min_length=1,
        description="the block's layers, as in model.layers; inputs name the block's layers or "
        "'input' (what the use takes); the last layer's output is the block's output",
    )


class BlockUse(StrictModel):
    """A use of a block in model.layers: replaced by copies of the block's layers."""

    type: Literal["block"] = Field(description="block: this entry uses a block of model.blocks")
    block: str = Field(description="the name of a block in model.blocks")
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="values of the block's parameters"
    )
    repeat: Annotated[int, Field(ge=1, le=1000)] = Field(
        1, description="how many copies, each taking the previous one's output"
    )
    id: LayerId | None = Field(
        None,
        description="qualifies the ids of the copy's layers (res1.conv1); default <block><n>; "
        "with repeat, <id>1 ... <id>n",
    )
    inputs: list[str] | None = Field(
        None, description="the one layer id whose output the block takes; default: the layer before"
    )


class ModelSpec(StrictModel):
    """The ``model`` section: the layers (a graph, a chain by default) and, optionally, the input shape."""

    input_shape: Annotated[tuple[Dim, ...], Field(min_length=1, max_length=8)] | None = Field(
        None, description="per-sample input shape; default: the dataset's"
    )
    #: :class:`LayerSpec` entries (typed by the registry-built subclass)
    layers: Annotated[
        list[Any], Field(min_length=1, description="layers in order, a loss layer last")
    ]
    blocks: dict[str, BlockSpec] = Field(
        default_factory=dict,
        description="named, parameterised sub-graphs that model.layers use with {type: block, block: NAME}",
    )

    @model_validator(mode="after")
    def _check_layers(self) -> ModelSpec:
        items = [
            (
                entry.type,
                entry.id,
                entry.component.kind,
                entry.inputs,
                getattr(entry.component, "arity_problem", None),
            )
            for entry in self.layers
        ]
        problems = structure_problems(items)
        if problems:
            raise located_error("model", problems)
        return self


_MODEL_DOC = "the network: {layers: [{type: NAME, id: ID?, ...options}, ..., a loss last], input_shape: [...]?}"
_TRAIN_DOC = "how to train: epochs, batch_size, optimizer, schedule, early_stopping, checkpoint, ...; all optional"


class Spec(StrictModel):
    """A validated spec. Build one with :func:`layerkit.spec.load_spec` or :meth:`Spec.model_validate`.

    Examples
    --------
    >>> from layerkit.spec import build_network, load_spec
    >>> spec = load_spec("two_layer_net.yaml", overrides=["train.epochs=3"])
    >>> spec.train.epochs, spec.model.layers[0].type
    (3, 'Affine')
    >>> net = build_network(spec)

    ``data`` is a :class:`DataSpec`, ``model.layers`` are :class:`LayerSpec` entries and
    ``train`` is a :class:`~layerkit.training.config.TrainConfig` whose ``optimizer`` dict has been
    validated (defaults filled in) against the registered optimizer.
    """

    name: SpecName = Field(
        description="names the run folder runs/<name>/; default: the file's name"
    )
    seed: Annotated[int, Field(ge=0, lt=2**64), INT_CHECK] | None = Field(
        None,
        description="seeds weights, dropout and shuffling; null: fresh entropy, recorded in the run",
    )
    dtype: Literal["float32", "float64"] = Field(
        "float32", description="floating-point type of weights and batches"
    )
    #: a :class:`DataSpec` (typed by the registry-built subclass)
    data: Any = Field(description="{dataset: NAME, ...that dataset's options}")
    model: ModelSpec = Field(description=_MODEL_DOC)
    train: TrainConfig = Field(default_factory=TrainConfig, description=_TRAIN_DOC)  # type: ignore[arg-type]

    #: the raw data this spec was validated from, with the YAML marks of every value
    _source: Any = PrivateAttr(None)
    #: per layer of model.layers, the block use it came from (:class:`layerkit.spec.blocks.Origin`)
    _origins: list[Any] = PrivateAttr(default_factory=list)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Spec:
        """Validate against the current registry (``Spec`` itself is only the common base)."""
        if cls is Spec:
            return spec_models().spec.model_validate(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    @property
    def source(self) -> Any:
        """The raw data this spec came from (a :class:`~layerkit.spec.yamlio.LocDict` from YAML)."""
        return self._source

    def to_dict(self) -> dict[str, Any]:
        """The whole spec as plain data, every default filled in, sections in the usual order."""
        model: dict[str, Any] = {}
        if self.model.input_shape is not None:
            model["input_shape"] = list(self.model.input_shape)
        model["layers"] = [entry.to_config() for entry in self.model.layers]
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype,
            "data": self.data.to_config(),
            "model": model,
            "train": self.train.model_dump(mode="json"),
        }

    def create_optimizer(self) -> Optimizer:
        """The optimizer of ``train.optimizer``, from the entry validated with the spec."""
        options = self.train.optimizer
        if not isinstance(options, OptimizerOptions):  # a Spec built without validation
            options = spec_models().spec.model_validate(self.to_dict()).train.optimizer
            assert isinstance(options, OptimizerOptions)
        return options.entry.create()

    def to_yaml(self) -> str:
        """The resolved spec as YAML; :func:`layerkit.spec.loads_spec` reads it back equal."""

        return dump_yaml(self.to_dict())

    def __eq__(self, other: object) -> bool:
        # Equal content is equal specs, wherever each was read from.
        if not isinstance(other, Spec):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


# -- building the classes for a registry ----------------------------------------------------


@dataclass(frozen=True)
class SpecModels:
    """The spec classes built from one registry."""

    registry: Registry
    spec: type[Spec]
    layers: _Group
    datasets: _Group
    optimizers: _Group
    augmentations: _Group
    callbacks: _Group
    #: like ``spec`` but with ``train.optimizer`` and ``train.callbacks`` typed as the unions of
    #: registered components, for JSON Schema
    schema_spec: type[BaseModel]

    def group(self, name: str) -> _Group:
        return {
            "layers": self.layers,
            "datasets": self.datasets,
            "optimizers": self.optimizers,
            "augmentations": self.augmentations,
            "callbacks": self.callbacks,
        }[name]


def _train_class(optimizers: _Group, callbacks: _Group) -> type[TrainConfig]:
    adapter: TypeAdapter[Any] = TypeAdapter(optimizers.union)
    callbacks_adapter: TypeAdapter[Any] = TypeAdapter(list[callbacks.union])  # type: ignore[name-defined]
    default = TrainConfig.model_fields["optimizer"]

    class TrainSpec(TrainConfig):
        __doc__ = TrainConfig.__doc__

        # The default optimizer is validated too, so it shows its defaults like a written one.
        optimizer: dict[str, Any] = Field(  # type: ignore[call-overload]
            default_factory=default.default_factory,
            validate_default=True,
            description=default.description,
        )

        @field_validator("optimizer")
        @classmethod
        def _validate_optimizer(cls, value: dict[str, Any]) -> dict[str, Any]:
            # Errors raised here keep their location (train.optimizer.lr) in the spec.
            return OptimizerOptions(adapter.validate_python(value))

        @field_validator("callbacks")
        @classmethod
        def _validate_callbacks(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # One validation of the whole list: errors keep their index (train.callbacks[1].x).
            return [entry.to_config() for entry in callbacks_adapter.validate_python(value)]

        def callback_entries(self) -> list[Any]:
            """The validated :class:`CallbackSpec` of each ``callbacks`` entry, in order."""
            return list(callbacks_adapter.validate_python(self.callbacks))

    TrainSpec.__name__ = TrainSpec.__qualname__ = "TrainConfig"
    return TrainSpec


def _build(registry: Registry) -> SpecModels:
    layers = _group(registry, "layers", LayerSpec, "Layer")
    augmentations = _group(registry, "augmentations", AugmentationSpec, "Augmentation")
    augment_field: tuple[Any, Any] = (
        list[augmentations.union],  # type: ignore[name-defined]
        Field(
            default_factory=list,
            description="augmentations of training batches, applied in order: "
            "[{type: NAME, ...that augmentation's options}]",
        ),
    )
    datasets = _group(registry, "datasets", DataSpec, "Data", {"augment": augment_field})
    optimizers = _group(registry, "optimizers", OptimizerSpec, "Optimizer")
    callbacks = _group(registry, "callbacks", CallbackSpec, "Callback")
    model_cls = create_model(
        "ModelSpec",
        __base__=ModelSpec,
        __module__=__name__,
        layers=(  # type: ignore[arg-type]
            Annotated[list[layers.union], Field(min_length=1)],  # type: ignore[name-defined]
            Field(description="layers in order, a loss layer last"),
        ),
    )
    train_cls = _train_class(optimizers, callbacks)
    spec_cls = create_model(
        "Spec",
        __base__=Spec,
        __module__=__name__,
        data=(datasets.union, Field(description="{dataset: NAME, ...that dataset's options}")),
        model=(model_cls, Field(description=_MODEL_DOC)),
        train=(train_cls, Field(default_factory=train_cls, description=_TRAIN_DOC)),
    )
    default_optimizer = TrainConfig.model_fields["optimizer"].get_default(call_default_factory=True)
    schema_train = create_model(
        "TrainConfig",
        __base__=train_cls,
        __module__=__name__,
        optimizer=(
            optimizers.union,
            Field(
                default=default_optimizer,
                description="{type: NAME, ...that optimizer's hyperparameters}",
            ),
        ),
        callbacks=(
            list[callbacks.union],  # type: ignore[name-defined]
            Field(
                default_factory=list, description=TrainConfig.model_fields["callbacks"].description
            ),
        ),
    )
    # in the JSON Schema, an entry of model.layers may also be a block use (expanded before validation)
    members: Any = (*layers.models.values(), BlockUse)
    with_uses: Any = Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007
    schema_model = create_model(
        "ModelSpec",
        __base__=model_cls,
        __module__=__name__,
        layers=(
            Annotated[list[with_uses], Field(min_length=1)],
            Field(
                description="layers in order (a graph: each takes the one before it unless it names inputs), a loss layer last; an entry may use a block"
            ),
        ),
    )
    schema_spec = create_model(
        "Spec",
        __base__=spec_cls,
        __module__=__name__,
        train=(schema_train, Field(None, description=_TRAIN_DOC)),
        model=(schema_model, Field(description=_MODEL_DOC)),
    )
    return SpecModels(
        registry, spec_cls, layers, datasets, optimizers, augmentations, callbacks, schema_spec
    )


_CACHE: list[SpecModels] = []


def spec_models(registry: Registry | None = None) -> SpecModels:
    """The spec classes for ``registry`` (default: the process's registry), built once."""
    if registry is None:
        registry = get_registry()
    if _CACHE and _CACHE[0].registry is registry:
        return _CACHE[0]
    models = _build(registry)
    _CACHE[:] = [models]
    return models
