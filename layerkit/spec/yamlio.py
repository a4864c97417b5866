"""Safe, strict YAML for specs: plain data only, and every value knows where it was written.

PyYAML's ``safe_load`` is safe against code execution but not strict enough for a config format:
it keeps the last of two duplicate keys without a word, expands "billion laughs" aliases until
memory runs out, recurses (and, with libyaml, crashes the interpreter) on documents nested
thousands deep, and forgets where each value came from. This module drives the YAML *event*
parser (libyaml's when available) with an explicit stack instead:

* values are plain data: mappings with string keys, lists, strings, integers, floats, booleans
  and null; any other tag (``!!python/object``, ``!!binary``, a local ``!tag``) is an error and
  nothing is ever constructed from it;
* scalars are resolved with the YAML 1.2 core schema, as the yaml-language-server that checks
  specs against :func:`layerkit.spec.schema.spec_schema` does: ``1e-3`` is a float,
  ``yes``/``on``/``no`` are strings, timestamps stay strings;
* duplicate keys are reported at both lines; merge keys (``<<: *defaults``) work as in PyYAML;
* limits fail fast on hostile input: size of the file, depth of nesting, number of values after
  expanding aliases, digits of an integer;
* every mapping and list comes back as a :class:`LocDict` / :class:`LocList` that remembers the
  :class:`Mark` (file, line, column) of each key and value, so validation errors point at
  ``two_layer_net.yaml:9:5``. They are ordinary ``dict``/``list`` subclasses and compare equal to
  plain ones.

Every problem raises :class:`~layerkit.errors.SpecError` holding one or more
:class:`~layerkit.errors.SpecIssue`; non-fatal ones (duplicate keys, forbidden tags) are all
collected before raising.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml import events

from layerkit._validation import format_loc
from layerkit.errors import SpecError, SpecIssue

__all__ = [
    "Mark",
    "LocDict",
    "LocList",
    "Limits",
    "DEFAULT_LIMITS",
    "read_spec_text",
    "parse_yaml",
    "parse_document",
    "dump_yaml",
    "copy_tree",
    "mark_of",
    "plain",
]

try:  # libyaml's parser is ~50x faster; both emit the same events with the same marks
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]  # not in the stubs
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


# -- locations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """Where something was written: a file (or ``--set ...``) and a 1-based line and column."""

    file: str | None = None
    line: int | None = None
    column: int | None = None

    def issue(self, path: str, message: str) -> SpecIssue:
        return SpecIssue(path=path, message=message, file=self.file, line=self.line, column=self.column)

    def __str__(self) -> str:
        text = self.file or ""
        if self.line is not None:
            text += f":{self.line}" if text else f"line {self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class LocDict(dict[Any, Any]):
    """A mapping from YAML; ``key_marks[k]`` / ``value_marks[k]`` say where ``k`` and its value are."""

    __slots__ = ("mark", "key_marks", "value_marks")

    def __init__(self, *args: Any, mark: Mark | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mark = mark
        self.key_marks: dict[str, Mark] = {}
        self.value_marks: dict[str, Mark] = {}

    def set(self, key: str, value: Any, *, key_mark: Mark | None, value_mark: Mark | None) -> None:
        """Set ``key`` and record where it (and its value) came from."""
        self[key] = value
        if key_mark is not None:
            self.key_marks[key] = key_mark
        if value_mark is not None:
            self.value_marks[key] = value_mark

    def remove(self, key: str) -> None:
        del self[key]
        self.key_marks.pop(key, None)
        self.value_marks.pop(key, None)


class LocList(list[Any]):
    """A list from YAML; ``marks[i]`` says where item ``i`` is (``None`` when unknown)."""

    __slots__ = ("mark", "marks")

    def __init__(self, items: Iterable[Any] = (), *, mark: Mark | None = None) -> None:
        super().__init__(items)
        self.mark = mark
        self.marks: list[Mark | None] = [None] * len(self)

    def add(self, value: Any, value_mark: Mark | None) -> None:
        self.append(value)
        self.marks.append(value_mark)

    def put(self, index: int, value: Any, value_mark: Mark | None) -> None:
        self[index] = value
        self.marks[index] = value_mark

    def remove_at(self, index: int) -> None:
        del self[index]
        del self.marks[index]


def mark_of(container: Any, key: str | int, *, of_key: bool = False) -> Mark | None:
    """The mark of ``container[key]`` (of the key itself with ``of_key``), if recorded."""
    if isinstance(container, LocDict) and isinstance(key, str):
        marks = container.key_marks if of_key else container.value_marks
        return marks.get(key)
    if isinstance(container, LocList) and isinstance(key, int) and 0 <= key < len(container.marks):
        return container.marks[key]
    return None


def copy_tree(value: Any) -> Any:
    """A deep copy of loaded data that keeps every mark (plain dicts and lists are copied too)."""
    if isinstance(value, Mapping):
        out = LocDict(mark=getattr(value, "mark", None))
        for key, item in value.items():
            out[key] = copy_tree(item)
        if isinstance(value, LocDict):
            out.key_marks.update(value.key_marks)
            out.value_marks.update(value.value_marks)
        return out
    if isinstance(value, list):
        out_list = LocList((copy_tree(item) for item in value), mark=getattr(value, "mark", None))
        if isinstance(value, LocList):
            out_list.marks = list(value.marks)
        return out_list
    return value


def plain(value: Any) -> Any:
    """The same data as plain ``dict`` / ``list`` objects (for printing and JSON)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


# -- limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Bounds that make hostile input fail fast, far above what any real spec needs."""

    #: bytes in a file
    max_bytes: int = 2 * 1024 * 1024
    #: mappings and lists nested in one another
    max_depth: int = 48
    #: values (scalars, mappings, lists) in the document, counting every alias expansion
    max_nodes: int = 100_000
    #: digits in an integer literal
    max_int_digits: int = 30


DEFAULT_LIMITS = Limits()


# -- scalars: the YAML 1.2 core schema ------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_NO_VALUE = object()
_SCALAR_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


class _Document:
    """Builds one document's value from parser events, with an explicit stack."""

    def __init__(self, text: str, filename: str | None, limits: Limits) -> None:
        self.parser = _Parser(text)
        self.filename = filename
        self.limits = limits
        self.issues: list[SpecIssue] = []
        #: the mappings and lists being read, outermost first
        self.stack: list[_Frame] = []
        self.nodes = 0
        #: anchor -> (value, mark, size in nodes)
        self.anchors: dict[str, tuple[Any, Mark, int]] = {}

    # -- helpers -----------------------------------------------------------------------------

    def mark(self, event: events.Event) -> Mark:
        m = event.start_mark
        if m is None:  # PyYAML's parsers mark every event; kept for the type checker
            return Mark(self.filename)
        return Mark(self.filename, m.line + 1, m.column + 1)

    def path(self, *extra: str | int) -> str:
        """The path of the value being read (``train.epochs``), plus ``extra`` segments."""
        segments: list[str | int] = []
        for frame in self.stack:
            if not frame.is_map:
                segments.append(len(frame.items))
            elif frame.pending_key is _NO_VALUE:
                break  # reading a key: the issue is about this mapping
            else:
                key = frame.pending_key
                segments.append(key if isinstance(key, str) else "?")
        segments.extend(extra)
        if len(segments) > 12:  # a path as deep as the nesting limit says nothing more
            return format_loc(tuple(segments[:6])) + "..."
        return format_loc(tuple(segments))

    def report(self, mark: Mark, message: str, *extra: str | int) -> None:
        """Record a problem with the value being read; reading goes on to find the others."""
        self.issues.append(mark.issue(self.path(*extra), message))

    def fatal(self, mark: Mark | None, message: str) -> SpecError:
        where = mark or Mark(self.filename)
        return SpecError([*self.issues, where.issue(self.path(), message)])

    def count(self, n: int, mark: Mark) -> None:
        self.nodes += n
        if self.nodes > self.limits.max_nodes:
            raise self.fatal(
                mark,
                f"more than {self.limits.max_nodes:,} values once aliases are expanded "
                "(an alias bomb?); a spec is far smaller",
            )

    def next_event(self) -> events.Event:
        event = self.parser.get_event()
        if event is None:  # only after StreamEndEvent, which the reader never reads past
            raise SpecError([Mark(self.filename).issue("", "unexpected end of the YAML stream")])
        return event

    # -- scalars -----------------------------------------------------------------------------

    def scalar(self, event: events.ScalarEvent, mark: Mark) -> Any:
        """A scalar's value; ``None`` after recording an issue for a bad one."""
        tag, text = event.tag, event.value
        if tag == "!" or (tag is None and (event.style or not event.implicit[0])):
            return text  # quoted, block or '!'-tagged: a string
        if tag is None:
            value = self.resolve(text, mark)
            return None if value is _NO_VALUE else value
        kind = tag[len(_TAG) :] if tag.startswith(_TAG) else None
        if kind == "str":
            return text
        if kind not in _SCALAR_CHECKS:
            self.report(mark, self.forbidden_tag(tag))
            return None
        value = self.resolve(text, mark)
        if value is _NO_VALUE:
            return None
        if not _SCALAR_CHECKS[kind](value):
            self.report(mark, f"{text!r} is not a valid !!{kind}")
            return None
        return float(value) if kind == "float" else value

    @staticmethod
    def forbidden_tag(tag: str) -> str:
        return (
            f"tag {_short_tag(tag)} is not allowed: a spec holds plain data only "
            "(mappings, lists, strings, numbers, true/false, null), and nothing in it is ever "
            "constructed or run"
        )

    def resolve(self, text: str, mark: Mark) -> Any:
        """A plain scalar's value under the YAML 1.2 core schema."""
        if _NULL.fullmatch(text):
            return None
        if text in _BOOL:
            return _BOOL[text]
        digits = None
        if _INT10.fullmatch(text):
            digits, base = text.lstrip("+-"), 10
        elif _INT8.fullmatch(text) or _INT16.fullmatch(text):
            digits, base = text[2:], 8 if text[1] == "o" else 16
        if digits is not None:
            if len(digits) > self.limits.max_int_digits:
                self.report(mark, f"integer with {len(digits):,} digits is too large "
                            f"(at most {self.limits.max_int_digits} digits)")
                return _NO_VALUE
            value = int(digits, base)
            return -value if text.startswith("-") else value
        if _FLOAT.fullmatch(text):
            # a float literal of any length parses in linear time (to inf when out of range)
            return float(text)
        if _INF.fullmatch(text):
            return -math.inf if text.startswith("-") else math.inf
        if _NAN.fullmatch(text):
            return math.nan
        return text

    # -- structure ---------------------------------------------------------------------------

    def check_collection_tag(self, event: events.CollectionStartEvent, kind: str, mark: Mark) -> None:
        if event.tag not in (None, "!", _TAG + kind):
            self.report(mark, self.forbidden_tag(event.tag))

    def alias(self, event: events.AliasEvent, mark: Mark, open_anchors: set[str]) -> tuple[Any, int]:
        name = event.anchor
        if name in open_anchors:
            raise self.fatal(mark, f"alias *{name} refers to a value that contains it (a recursive alias)")
        if name not in self.anchors:
            raise self.fatal(mark, f"alias *{name} refers to no anchor &{name} defined before it")
        value, _, size = self.anchors[name]
        self.count(size, mark)
        return copy_tree(value), size

    def value(self) -> tuple[Any, Mark]:
        """Read one complete value (a node and everything under it) from the event stream."""
        stack = self.stack
        while True:
            event = self.next_event()
            mark = self.mark(event)
            merge_key = False
            if isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
                if len(stack) >= self.limits.max_depth:
                    raise self.fatal(
                        mark, f"nested more than {self.limits.max_depth} levels deep; a spec needs a handful"
                    )
                self.count(1, mark)
                is_map = isinstance(event, events.MappingStartEvent)
                self.check_collection_tag(event, "map" if is_map else "seq", mark)
                stack.append(_Frame(self, is_map, mark, event.anchor))
                continue
            if isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
                frame = stack.pop()
                value, mark, size, anchor = frame.finish(), frame.mark, frame.size, frame.anchor
            elif isinstance(event, events.AliasEvent):
                value, size, anchor = *self.alias(event, mark, {f.anchor for f in stack if f.anchor}), None
            elif isinstance(event, events.ScalarEvent):
                self.count(1, mark)
                value, size, anchor = self.scalar(event, mark), 1, event.anchor
                merge_key = event.value == "<<" and event.tag is None and not event.style
            else:  # pragma: no cover - the parser only emits node events here
                raise self.fatal(mark, f"unexpected YAML event {type(event).__name__}")
            if anchor is not None:
                self.anchors[anchor] = (value, mark, size)
            if not stack:
                return value, mark
            stack[-1].add(value, mark, size, merge_key=merge_key)

    def document(self) -> tuple[Any, Mark | None]:
        """The single document of the stream: ``(value, mark)``; ``(None, None)`` if empty."""
        self.next_event()  # StreamStart
        if isinstance(self.parser.peek_event(), events.StreamEndEvent):
            return None, None
        self.next_event()  # DocumentStart
        value, mark = self.value()
        self.next_event()  # DocumentEnd
        following = self.next_event()
        if not isinstance(following, events.StreamEndEvent):
            raise self.fatal(
                self.mark(following),
                "a second YAML document ('---'): a spec file holds exactly one",
            )
        return value, mark


class _Frame:
    """A mapping or list being read."""

    def __init__(self, doc: _Document, is_map: bool, mark: Mark, anchor: str | None) -> None:
        self.doc = doc
        self.is_map = is_map
        self.mark = mark
        self.anchor = anchor
        self.size = 1
        self.items: LocDict | LocList = LocDict(mark=mark) if is_map else LocList(mark=mark)
        self.pending_key: Any = _NO_VALUE
        self.pending_mark: Mark | None = None
        self.pending_merge = False
        self.merged: list[tuple[LocDict, Mark]] = []
        self.bad_key = False

    def add(self, value: Any, mark: Mark, size: int, *, merge_key: bool) -> None:
        self.size += size
        if not self.is_map:
            self.items.add(value, mark)  # type: ignore[union-attr]
            return
        if self.pending_key is _NO_VALUE:  # this is a key
            self.bad_key = not merge_key and not isinstance(value, str)
            if self.bad_key:
                shown = "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else repr(value)
                self.doc.report(mark, f"keys must be strings (received {shown}); quote it if it is a name")
            self.pending_key, self.pending_mark, self.pending_merge = value, mark, merge_key
            return
        key, key_mark = self.pending_key, self.pending_mark
        self.pending_key = _NO_VALUE
        if self.pending_merge:
            self.merge(value, mark)
        elif not self.bad_key:
            items: LocDict = self.items  # type: ignore[assignment]
            if key in items:
                first = items.key_marks[key]
                self.doc.report(key_mark, f"duplicate key (first defined at line {first.line})", key)  # type: ignore[arg-type]
                self.doc.report(first, f"duplicate key (defined again at line {key_mark.line})", key)  # type: ignore[union-attr]
                return
            items.set(key, value, key_mark=key_mark, value_mark=mark)

    def merge(self, value: Any, mark: Mark) -> None:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, LocDict):
                self.doc.report(mark, "a merge key '<<' takes a mapping or a list of mappings (e.g. <<: *defaults)", "<<")
                return
            self.merged.append((source, mark))

    def finish(self) -> LocDict | LocList:
        if not self.merged:
            return self.items
        # As PyYAML does: merged keys come first; explicit keys win, then earlier sources.
        out = LocDict(mark=self.mark)
        explicit: LocDict = self.items  # type: ignore[assignment]
        for source, _ in self.merged:
            for key, item in source.items():
                if key not in explicit and key not in out:
                    out.set(key, copy_tree(item), key_mark=source.key_marks.get(key),
                            value_mark=source.value_marks.get(key))
        for key, item in explicit.items():
            out.set(key, item, key_mark=explicit.key_marks.get(key), value_mark=explicit.value_marks.get(key))
        return out


# -- entry points ---------------------------------------------------------------------------


def _decode(data: bytes, filename: str | None, limits: Limits) -> str:
    if len(data) > limits.max_bytes:
        raise SpecError([Mark(filename).issue("", f"file of {len(data):,} bytes is too large for a spec "
                                                  f"(at most {limits.max_bytes:,})")])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError([Mark(filename, 1, 1).issue("", "the file is UTF-16; save it as UTF-8")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            [Mark(filename, line, column).issue("", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")]
        ) from None
    return text.removeprefix("\ufeff")  # a UTF-8 byte order mark is not content


def _yaml_error(exc: yaml.YAMLError, text: str, filename: str | None) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        char = exc.character
        code = ord(char) if isinstance(char, str) else int(char)
        return SpecError([Mark(filename, line, column).issue(
            "", f"invalid YAML: character U+{code:04X} is not allowed ({exc.reason})")])
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}"
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        message += f" ({context} at line {context_mark.line + 1})"
    if mark is None:
        return SpecError([Mark(filename).issue("", message)])
    return SpecError([Mark(filename, mark.line + 1, mark.column + 1).issue("", message)])


def parse_yaml(
    source: str | bytes, *, filename: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[Any, Mark | None]:
    """Parse one YAML document into plain, located data: ``(value, mark of the value)``.

    An empty document gives ``(None, None)``. Raises :class:`SpecError` for anything that is not
    safe, strict, single-document YAML.
    """
    if isinstance(source, str):  # one path for both: the size limit and UTF-8 checks apply alike
        source = source.encode("utf-8", "surrogatepass")
    text = _decode(source, filename, limits)
    doc = None
    try:
        doc = _Document(text, filename, limits)
        value, mark = doc.document()
    except yaml.YAMLError as exc:
        earlier = doc.issues if doc is not None else []
        raise SpecError([*earlier, *_yaml_error(exc, text, filename).issues]) from None
    if doc.issues:
        raise SpecError(doc.issues)
    return value, mark


def parse_document(
    source: str | bytes, *, filename: str | None = None, what: str = "a spec", limits: Limits = DEFAULT_LIMITS
) -> LocDict:
    """Parse a document that must be a non-empty mapping (a spec, a ``--set-file`` patch)."""
    value, mark = parse_yaml(source, filename=filename, limits=limits)
    if value is None:
        example = " such as 'name: ...', 'data: ...', 'model: ...'" if what == "a spec" else " of keys to values"
        raise SpecError([Mark(filename, 1 if mark is None else mark.line, 1).issue(
            "", f"the file is empty; {what} is a mapping{example}")])
    if not isinstance(value, LocDict):
        kind = "a list" if isinstance(value, list) else f"the {type(value).__name__} {value!r}"
        raise SpecError([(mark or Mark(filename)).issue(
            "", f"{what} must be a mapping of sections (name, data, model, train); received {kind}")])
    return value


def read_spec_text(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Read a spec file's bytes, turning OS errors into a :class:`SpecError`."""
    if not str(path):  # Path("") is the current directory: say what is actually wrong
        raise SpecError([Mark(None).issue("", "no spec file given (received an empty path)")])
    p = Path(path)
    try:
        if p.is_dir():
            raise SpecError([Mark(str(path)).issue("", "is a directory, not a spec file")])
        with p.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise SpecError([Mark(str(path)).issue("", "no such file")]) from None
    except OSError as exc:
        raise SpecError([Mark(str(path)).issue("", f"cannot read: {exc.strerror or exc}")]) from None
    return data


# -- dumping --------------------------------------------------------------------------------

_DumperBase: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _SpecDumper(_DumperBase):
    """Safe dumper that quotes every string a YAML 1.1 *or* 1.2 reader would not read as a string."""


# PyYAML's (YAML 1.1) resolvers plus the 1.2 core ones it lacks: "1e-3" and "0o17" get quoted.
# (A resolver only decides whether a string needs quotes; the dumper's ints and floats are
# written in forms both resolvers read alike.)
_INT_ANY = re.compile(rf"(?:{_INT10.pattern}|{_INT8.pattern}|{_INT16.pattern})\Z")
_FLOAT_ANY = re.compile(rf"(?:{_FLOAT.pattern}|{_INF.pattern}|{_NAN.pattern})\Z")
for _first in "-+0123456789.":
    _SpecDumper.add_implicit_resolver(_TAG + "int", _INT_ANY, [_first])
    _SpecDumper.add_implicit_resolver(_TAG + "float", _FLOAT_ANY, [_first])


class _Flow(dict[Any, Any]):
    """A mapping written on one line."""


class _FlowList(list[Any]):
    """A list written on one line."""


_SpecDumper.add_representer(_Flow, lambda d, v: d.represent_mapping(_TAG + "map", v, flow_style=True))
_SpecDumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(_TAG + "seq", v, flow_style=True))
_SpecDumper.add_representer(dict, lambda d, v: d.represent_mapping(_TAG + "map", v, flow_style=False))
_SpecDumper.add_representer(list, lambda d, v: d.represent_sequence(_TAG + "seq", v, flow_style=False))


def _styled(value: Any, depth: int, room: int) -> Any:
    """Sections in block style; below them, whatever fits in ``room`` columns on one line."""
    if not isinstance(value, (Mapping, list, tuple)):
        return value
    if depth >= 2 and value:
        flow = _flow(value)
        if len(yaml.dump(flow, Dumper=_SpecDumper, width=10**9).rstrip("\n")) <= room:
            return flow
    if isinstance(value, Mapping):
        return {key: _styled(item, depth + 1, room) for key, item in value.items()}
    return [_styled(item, depth + 1, room) for item in value]


def _flow(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Flow((key, _flow(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return _FlowList(_flow(item) for item in value)
    return value


def dump_yaml(data: Any, *, width: int = 88) -> str:
    """YAML text for plain data: key order kept, sections in block style, small values inline.

    :func:`parse_yaml` reads it back to equal data (floats are written with ``repr`` precision,
    and every string that could read as something else is quoted).
    """
    return yaml.dump(
        _styled(data, 0, width - 12),
        Dumper=_SpecDumper,
        sort_keys=False,
        allow_unicode=True,
        width=width,
    )
