"""The user's manual matches the code: links resolve, the main classes document examples."""

from __future__ import annotations

import pydoc
import re
from pathlib import Path

import pytest

import layerkit
from layerkit.optimizers import SGD, Adam, Optimizer

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "plugins").glob("*/README.md"),
    ]
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_anchor(m) for m in re.findall(r"^#+\s+(.*)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{page.name}: broken links: {broken}"


@pytest.mark.parametrize(
    "obj",
    [
        layerkit.Network,
        layerkit.Layer,
        layerkit.Affine,
        layerkit.SoftmaxWithLoss,
        Optimizer,
        SGD,
        Adam,
        layerkit.Dataset,
        layerkit.Spec,
        layerkit.gradcheck,
        layerkit.load_dataset,
    ],
    ids=lambda o: o.__name__,
)
def test_help_of_the_main_classes_has_examples(obj: object) -> None:
    assert "Examples\n" in pydoc.render_doc(obj, renderer=pydoc.plaintext)


def test_gradcheck_is_the_function_even_after_its_module_is_imported() -> None:
    import layerkit.gradient_check as module
    from layerkit import gradcheck

    assert gradcheck is module.gradcheck and callable(gradcheck)
