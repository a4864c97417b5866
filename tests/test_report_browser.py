"""`layerkit report` pages opened from disk in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright without a browser download): no console errors, no network requests, every
image decodes, the confusion matrix adds up, and a screenshot is kept under the test's tmp dir.

The runs are real: a small CNN on a Fashion-MNIST subset (class names, a gallery, filters) and a
two-trial sweep on the spiral data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layerkit.report import write_report, write_run_report, write_runs_report
from layerkit.run import train

CHROMIUM = os.environ.get("LAYERKIT_TEST_CHROMIUM", "/usr/bin/chromium")
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
#: Flags of a clean, quiet browser: nothing phones home on its own, so any request the test sees
#: comes from the page. Playwright adds --headless and a fresh temporary --user-data-dir itself.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# CI installs Chromium (scripts/setup.sh): there a missing browser is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason=f"no Chromium at {CHROMIUM}"
)

CNN = """\
name: report_cnn
seed: 0
data: {dataset: fashion_mnist, train_size: 1500, test_size: 600}
model:
  layers:
    - {type: Conv2D, id: conv1, filters: 6, kernel_size: 3, padding: 1}
    - {type: Relu}
    - {type: MaxPool2D, pool_size: 2}
    - {type: Flatten}
    - {type: Affine, id: fc, units: 10}
    - {type: SoftmaxWithLoss}
train:
  epochs: 2
  batch_size: 50
  optimizer: {type: Adam, lr: 0.003}
"""

SPIRAL = """\
name: report_spiral
seed: 0
data: {dataset: spiral, points_per_class: 60}
model:
  layers:
    - {type: Affine, id: fc1, units: 16, init: he}
    - {type: Relu}
    - {type: Affine, id: fc2, units: 3}
    - {type: SoftmaxWithLoss}
train: {epochs: 3, batch_size: 30, optimizer: {type: Adam, lr: 0.02}}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, html: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``html`` from disk; return what the page logged and requested, and its images."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)
    page = context.new_page()
    console: list[str] = []
    requests: list[str] = []
    failed: list[str] = []
    page.on(
        "console",
        lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    images = page.evaluate(
        """() => Promise.all([...document.images].map(img =>
               img.decode().then(() => ({ok: true, w: img.naturalWidth, h: img.naturalHeight, src: img.src.slice(0, 30)}),
                                 () => ({ok: false, w: 0, h: 0, src: img.src.slice(0, 30)}))))"""
    )
    confusion = page.evaluate(
        """() => {
            const table = document.getElementById('confusion-counts');
            if (!table) return null;
            const cells = [...table.querySelectorAll('td.count')].map(td => Number(td.textContent));
            const rows = [...table.querySelectorAll('td[data-row-total]')].map(td => Number(td.textContent));
            return {total: Number(table.dataset.total), sum: cells.reduce((a, b) => a + b, 0),
                    cells: cells.length, rows};
        }"""
    )
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return {
        "console": console,
        "requests": requests,
        "failed": failed,
        "images": images,
        "confusion": confusion,
    }


def assert_clean(seen: dict[str, Any], html: Path) -> None:
    assert seen["console"] == [], seen["console"]
    assert seen["requests"] == [html.resolve().as_uri()], seen[
        "requests"
    ]  # the page itself, nothing else
    assert seen["failed"] == []
    assert seen["images"], "the page shows no picture"
    broken = [img for img in seen["images"] if not (img["ok"] and img["w"] > 0 and img["h"] > 0)]
    assert broken == [], broken
    assert all(img["src"].startswith("data:image/") for img in seen["images"])


@pytest.mark.skipif(not FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_run_report_of_a_cnn_in_chromium(browser: Any, tmp_path: Path) -> None:
    spec = tmp_path / "cnn.yaml"
    spec.write_text(CNN)
    result = train(spec, out=tmp_path / "run", quiet=True, plot=False)
    html = write_run_report(result.run_dir)
    assert html == result.run_dir / "report.html"
    text = html.read_text()
    for expected in (
        "Ankle boot",
        "T-shirt/top",
        '<section id="filters">',
        "(conv1, (6, 1, 3, 3))",
        "most confidently misclassified",
        "Per-class precision",
        "name</span>",
    ):
        assert expected in text, expected

    seen = open_page(browser, html, tmp_path / "run-report.png")
    assert_clean(seen, html)
    confusion = seen["confusion"]
    assert confusion["cells"] == 100
    assert confusion["total"] == confusion["sum"] == sum(confusion["rows"]) == 600
    # the page's matrix is the checkpoint's: its diagonal is the final test accuracy
    final = result.metrics["test_accuracy"]
    assert f"{final:.4f}" in text
    assert (tmp_path / "run-report.png").stat().st_size > 50_000
    # gallery: misclassified thumbnails + 3 correct per class, plus curves, histograms, filters
    assert len(seen["images"]) >= 24 + 3 + 3
    if shutil.which("dot"):  # Graphviz draws the network (scripts/setup.sh installs it)
        assert any(img["src"].startswith("data:image/svg+xml") for img in seen["images"])
    else:
        assert "no graph picture" in text


def test_sweep_and_runs_reports_in_chromium(browser: Any, tmp_path: Path) -> None:
    from layerkit.sweep.executor import make_executor
    from layerkit.sweep.plan import plan_sweep
    from layerkit.sweep.runner import run_sweep

    spec = tmp_path / "spiral.yaml"
    spec.write_text(SPIRAL)
    plan = plan_sweep(
        str(spec), grid=["train.optimizer.lr=0.003,0.03", "model.layers.fc1.units=8,16"]
    )
    with make_executor("local", workers=2) as executor:
        run_sweep(plan, tmp_path / "sweep", executor, plot=False)
    sweep_page = write_runs_report([tmp_path / "sweep"])
    assert sweep_page == tmp_path / "sweep" / "report.html"
    text = sweep_page.read_text()
    assert "model.layers.fc1.units" in text and "train.optimizer.lr" in text  # spec differences
    seen = open_page(browser, sweep_page, tmp_path / "sweep-report.png")
    assert_clean(seen, sweep_page)
    assert len(seen["images"]) == 2  # curves overlaid, metric by swept value (with the heatmap)

    trials = sorted((tmp_path / "sweep" / "trials").iterdir())
    # a run of 2-D points: no gallery, a note says why; the comparison links to this report
    first = write_report([str(trials[0])])
    assert first == trials[0] / "report.html"
    assert "the inputs of this dataset are not images" in first.read_text()
    seen = open_page(browser, first, tmp_path / "spiral-report.png")
    assert_clean(seen, first)
    assert (
        seen["confusion"]["total"] == seen["confusion"]["sum"] == 180
    )  # 3 classes x 60 test points

    runs_page = write_report([str(t) for t in trials[:2]])
    assert runs_page.parent == tmp_path / "sweep" / "trials" and runs_page.name.startswith(
        "report-"
    )
    assert f'href="{trials[0].name}/report.html"' in runs_page.read_text()
    seen = open_page(browser, runs_page, tmp_path / "runs-report.png")
    assert_clean(seen, runs_page)
