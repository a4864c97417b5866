"""The strict YAML reader: plain data only, every value located, hostile input refused fast."""

from __future__ import annotations

import math
import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerkit.errors import SpecError
from layerkit.spec import loads_spec
from layerkit.spec.yamlio import (
    LocDict,
    LocList,
    Mark,
    dump_yaml,
    mark_of,
    parse_document,
    parse_yaml,
)

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def value(text: str | bytes) -> object:
    return parse_yaml(text, filename="f.yaml")[0]


def errors(text: str | bytes) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_document(text, filename="f.yaml")
    return [str(issue) for issue in info.value.issues]


# -- scalars: the YAML 1.2 core schema ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-3", 0.001),  # a string for PyYAML (YAML 1.1), a float for editors and for us
        ("1.5", 1.5),
        ("-2", -2),
        ("0o17", 15),
        ("0x1F", 31),
        ("007", 7),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("true", True),
        ("False", False),
        ("yes", "yes"),  # the "Norway problem" does not exist here
        ("off", "off"),
        ("~", None),
        ("null", None),
        ("2024-01-01", "2024-01-01"),  # no timestamps: plain data only
        ("'12'", "12"),
        ('"true"', "true"),
        ("!!str 5", "5"),
        ("!!float 1", 1.0),
        ("!!int '12'", 12),
        ("1_000", "1_000"),
    ],
)
def test_scalars_resolve_like_yaml_1_2(text: str, expected: object) -> None:
    got = value(f"a: {text}\n")
    assert got == {"a": expected}
    assert type(got["a"]) is type(expected)  # type: ignore[index]


def test_nan_is_read_as_a_float_for_the_models_to_reject() -> None:
    assert math.isnan(value("a: .nan\n")["a"])  # type: ignore[index]


def test_marks_locate_keys_and_values() -> None:
    doc = parse_document("name: x\nmodel:\n  layers:\n    - {type: Affine, units: 5}\n    - type: Relu\n", filename="s.yaml")
    assert isinstance(doc, LocDict)
    assert mark_of(doc, "model", of_key=True) == Mark("s.yaml", 2, 1)
    layers = doc["model"]["layers"]
    assert isinstance(layers, LocList)
    assert layers.marks == [Mark("s.yaml", 4, 7), Mark("s.yaml", 5, 7)]
    assert mark_of(layers[0], "units") == Mark("s.yaml", 4, 29)
    assert mark_of(layers[1], "type", of_key=True) == Mark("s.yaml", 5, 7)
    assert doc == {"name": "x", "model": {"layers": [{"type": "Affine", "units": 5}, {"type": "Relu"}]}}


def test_aliases_and_merge_keys_work_as_in_pyyaml() -> None:
    text = "base: &b {units: 5, init: he}\na: *b\nc: {<<: *b, units: 7}\nd: {<<: [*b, {x: 1}], init: normal}\n"
    got = value(text)
    assert got == yaml.safe_load(text)
    assert got["c"] == {"units": 7, "init": "he"}  # type: ignore[index]
    got["a"]["units"] = 99  # type: ignore[index]
    assert got["base"]["units"] == 5  # type: ignore[index]  # every alias is its own copy


# -- strictness -----------------------------------------------------------------------------


def test_duplicate_keys_are_reported_at_both_lines() -> None:
    assert errors("train:\n  epochs: 1\n  lr: 2\n  epochs: 3\n") == [
        "f.yaml:4:3: train.epochs: duplicate key (first defined at line 2)",
        "f.yaml:2:3: train.epochs: duplicate key (defined again at line 4)",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['touch /tmp/layerkit-pwned']\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x, y}\n",
        "a: !local 1\n",
        "a: !!python/tuple [1, 2]\n",
    ],
)
def test_tags_beyond_plain_data_are_refused_and_nothing_runs(text: str, tmp_path) -> None:
    (message,) = errors(text)
    assert "is not allowed: a spec holds plain data only" in message
    assert message.startswith("f.yaml:1:4: a: tag !")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "f.yaml:1:1: the file is empty"),
        (b"# nothing\n", "f.yaml:1:1: the file is empty"),
        (b"- 1\n", "f.yaml:1:1: a spec must be a mapping of sections (name, data, model, train); received a list"),
        (b"42\n", "f.yaml:1:1: a spec must be a mapping of sections (name, data, model, train); received the int 42"),
        (b"a: caf\xe9\n", "f.yaml:1:7: not valid UTF-8 (byte 0xe9)"),
        (b"\xff\xfea\x00", "f.yaml:1:1: the file is UTF-16; save it as UTF-8"),
        (b"a: 1\n---\nb: 2\n", "f.yaml:2:1: a second YAML document"),
        (b"a: [1, 2\n", "f.yaml:2:1: invalid YAML: did not find expected ',' or ']'"),
        (b"a: \x00\n", "f.yaml:1:4: invalid YAML: character U+0000 is not allowed"),
        (b"a: *nowhere\n", "f.yaml:1:4: a: alias *nowhere refers to no anchor &nowhere defined before it"),
        (b"a: &x [1, *x]\n", "f.yaml:1:11: a[1]: alias *x refers to a value that contains it (a recursive alias)"),
        (b"[1, 2]: x\n", "f.yaml:1:1: keys must be strings (received a list)"),
        (b"a: " + b"7" * 5000 + b"\n", "f.yaml:1:4: a: integer with 5,000 digits is too large (at most 30 digits)"),
        (b"a: {<<: 5}\n", "f.yaml:1:9: a.<<: a merge key '<<' takes a mapping or a list of mappings"),
    ],
)
def test_bad_documents_are_clear_spec_errors(data: bytes, expected: str) -> None:
    assert errors(data)[0].startswith(expected)


def test_several_problems_are_reported_together() -> None:
    got = errors("a: !!binary x\nb: 1\nb: 2\nc: " + "1" * 40 + "\n")
    assert [line.split(": ")[1] for line in got] == ["a", "b", "b", "c"]


@pytest.mark.parametrize("depth", [100, 300, 200_000])
def test_deep_nesting_is_refused_fast(depth: int) -> None:
    # libyaml's composer would crash the interpreter at this depth; we stop at the limit.
    start = time.perf_counter()
    for text in ("[" * depth + "]" * depth, "a: " + "{b: " * depth + "1" + "}" * depth):
        assert "nested more than 48 levels deep" in errors(text)[0]
    assert time.perf_counter() - start < 10  # generous: the point is "not quadratic"


def test_a_billion_laughs_is_refused_with_little_memory() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    tracemalloc.start()
    try:
        (message,) = errors("\n".join(lines) + "\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "more than 100,000 values once aliases are expanded" in message
    assert peak < 100 * 1024 * 1024  # the expanded document would need ~10^9 nodes


def test_an_oversized_file_is_refused_before_parsing() -> None:
    assert "is too large for a spec" in errors(b"a: 1\n" + b"#" * (3 * 1024 * 1024))[0]


# -- dumping --------------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(["1e-3", "0o17", "yes", "no", "null", "~", "<<", "=", "2024-01-01", ".inf", "1_000", "0x1F", "", " a", "a: b", "- x", "#c", "'q'", "!tag", "&a", "*a"])
)
_data = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _data, max_size=5))
def test_dump_then_parse_gives_back_the_same_data(data: dict) -> None:
    text = dump_yaml(data)
    assert parse_yaml(text)[0] == data


def test_dump_quotes_strings_that_other_readers_would_not_read_as_strings() -> None:
    text = dump_yaml({"a": "1e-3", "b": "yes", "c": "0o17", "d": 1e-05, "e": [1, 2]})
    assert yaml.safe_load(text) == {"a": "1e-3", "b": "yes", "c": "0o17", "d": 1e-05, "e": [1, 2]}


# -- fuzzing: nothing but SpecError, ever ---------------------------------------------------


def _load_or_spec_error(data: str | bytes) -> None:
    try:
        loads_spec(data, filename="fuzz.yaml")
    except SpecError as exc:
        assert exc.issues and all(isinstance(i.message, str) and i.message for i in exc.issues)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_spec_errors(data: bytes) -> None:
    _load_or_spec_error(data)


_TOKENS = [*"{}[],:-?&*!|>'\"#%@`~<=. \n\tab0123456789eExyz_+", "!!python/object:os.system ", "!!binary ",
           "<< ", "---\n", "...\n", ".nan", ".inf", "1e400", "9" * 60, "&a ", "*a", "  "]
_yaml_text = st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join)


@FUZZ
@given(_yaml_text)
def test_arbitrary_yaml_text_raises_only_spec_errors(text: str) -> None:
    _load_or_spec_error(text)


_VALID = {
    "name": "fuzz",
    "seed": 1,
    "data": {"dataset": "spiral", "classes": 3},
    "model": {"layers": [{"type": "Affine", "id": "fc1", "units": 4}, {"type": "Relu"}, {"type": "Affine", "units": 3}, {"type": "SoftmaxWithLoss"}]},
    "train": {"epochs": 1, "optimizer": {"type": "SGD", "lr": 0.1}},
}
_fuzz_values = (
    _scalars
    | st.sampled_from([float("nan"), float("inf"), -1, 0, 10**25, [], {}, [1, "a"], {"type": "Relu"}])
    | st.lists(_scalars, max_size=3)
    | st.dictionaries(st.sampled_from(["type", "id", "units", "lr", "x"]), _scalars, max_size=3)
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_VALID_PATHS = _paths(_VALID)[1:]


@st.composite
def _mutated_specs(draw: st.DrawFn) -> str:
    """A valid spec with a few values replaced by anything, dumped in a random YAML style."""
    import copy

    spec = copy.deepcopy(_VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_VALID_PATHS))
        node = spec
        try:
            for seg in path[:-1]:
                node = node[seg]
            node[path[-1]] = draw(_fuzz_values)
        except (KeyError, IndexError, TypeError):  # an earlier mutation replaced a parent
            pass
    flow = draw(st.sampled_from([None, True, False]))
    return yaml.dump(spec, Dumper=_DUMPER, default_flow_style=flow, sort_keys=draw(st.booleans()))


@FUZZ
@given(st.one_of(_mutated_specs(), _data.map(lambda d: yaml.dump(d, Dumper=_DUMPER, allow_unicode=True))))
def test_arbitrary_yaml_documents_raise_only_spec_errors(text: str) -> None:
    _load_or_spec_error(text)
