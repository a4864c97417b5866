"""The golden corpus: wrong specs, one mistake each, and the exact errors they must produce.

Each ``tests/specs/NN_name.yaml`` starts with a ``# mistake:`` comment (unless the mistake is
the file's very bytes) and ``NN_name.err`` holds the expected ``FILE:LINE:COL: path: message``
lines (with the list of available components elided). After a deliberate change of wording, regenerate them with
``LAYERKIT_UPDATE_GOLDEN=1 python -m pytest tests/test_spec_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from layerkit.errors import SpecError
from layerkit.spec import build_network, load_spec

SPECS = Path(__file__).parent / "specs"
CASES = sorted(SPECS.glob("*.yaml"))
UPDATE = os.environ.get("LAYERKIT_UPDATE_GOLDEN") == "1"
LOCATED = re.compile(r"^\d\d_[a-z0-9_]+\.yaml:\d+:\d+: ")
# Which components exist grows with the project and its plugins; tests/test_spec_models.py
# checks the listing itself.
AVAILABLE = re.compile(r"\(available: .*$")


def _errors(path: Path) -> str:
    try:
        build_network(load_spec(path.name))
    except SpecError as exc:
        return "".join(AVAILABLE.sub("(available: ...)", str(issue)) + "\n" for issue in exc.issues)
    pytest.fail(f"{path.name} was accepted")


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert all(case.with_suffix(".err").exists() or UPDATE for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_wrong_spec_reports_golden_errors(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SPECS)  # messages name the file as given: NN_name.yaml
    got = _errors(case)
    golden = case.with_suffix(".err")
    if UPDATE:
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")
    # every issue points at a line and column of the file
    assert all(LOCATED.match(line) for line in got.splitlines()), got
