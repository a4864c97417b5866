"""The test environment is reproducible, and deep YAML is refused the same way on every PyYAML."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from layerkit.errors import SpecError
from layerkit.spec import yamlio

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_the_lock_pins_every_requirement_the_tests_install() -> None:
    # A dependency or extra added without rerunning scripts/lock.sh would be installed unpinned.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("plot", "dev"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    pinned = {
        _name(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert wanted <= pinned, f"run scripts/lock.sh: not pinned: {sorted(wanted - pinned)}"
    for script in ("scripts/setup.sh", ".ci/run"):
        assert (ROOT / script).is_file()
    assert "constraints.txt" in (ROOT / "scripts/setup.sh").read_text()


def test_package_requirements_stay_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [r for r in project["dependencies"] if "==" in r]


@pytest.mark.parametrize("depth", [49, 1_000, 200_000])
@pytest.mark.parametrize("shape", ["flow-list", "flow-map", "block-then-flow"])
def test_deep_nesting_is_refused_before_the_parser_limit(depth: int, shape: str) -> None:
    text = {
        "flow-list": "[" * depth + "]" * depth,
        "flow-map": "a: " + "{b: " * depth + "1" + "}" * depth,
        "block-then-flow": "a:\n  b:\n    - " + "[" * depth + "]" * depth,
    }[shape]
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        yamlio.parse_yaml(text, filename="deep.yaml")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line) == ("deep.yaml", 1 if shape != "block-then-flow" else 3)
    assert f"more than {yamlio.DEFAULT_LIMITS.max_depth} levels" in issue.message
    assert time.perf_counter() - start < 10


def test_the_parsers_own_nesting_limit_reads_as_layerkits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without layerkit's pre-scan, a PyYAML with its own nesting limit (>= 6.0.4) stops first;
    # the user must see the same located error either way.
    monkeypatch.setattr(yamlio, "_too_deep_at", lambda text, limit: None)
    with pytest.raises(SpecError) as caught:
        yamlio.parse_yaml("[" * 200_000 + "]" * 200_000, filename="deep.yaml")
    (issue,) = caught.value.issues
    assert issue.file == "deep.yaml" and issue.line == 1
    assert f"more than {yamlio.DEFAULT_LIMITS.max_depth} levels" in issue.message
    assert "invalid YAML" not in issue.message, yaml.__version__


@pytest.mark.parametrize(
    "text",
    [
        "a: '" + "[" * 60 + "'\n",  # brackets in a quoted string
        'a: "' + "{" * 60 + '\\""\n',
        "a: |\n  " + "[" * 60 + "\nb: 1\n",  # in a block scalar
        "a: x" + "[" * 60 + "\n",  # in a plain scalar
        "# " + "[" * 60 + "\na: 1\n",  # in a comment
        "a: " + "[" * 40 + "]" * 40 + "\n",  # deep, but within the limit
    ],
)
def test_brackets_that_do_not_nest_are_not_counted(text: str) -> None:
    yamlio.parse_yaml(text, filename="ok.yaml")
