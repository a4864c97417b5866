"""Plot defects a new user met: colliding tick labels on a log axis under a decade, the best-trial
marker hiding its point, `runs compare` writing into the working directory and overwriting, and
the two-value sweep heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from cli_support import layerkit

from layerkit.sweep.report import sweep_figure  # noqa: E402
from layerkit.sweep.runner import SweepPlan, SweepResult, Trial  # noqa: E402


def sweep_result(
    params: list[dict[str, Any]], values: list[float], scales: dict[str, str]
) -> SweepResult:
    trials = tuple(Trial(id=f"t{i}", params=p, overrides=(), spec="") for i, p in enumerate(params))
    records = tuple(
        {
            "id": t.id,
            "status": "ok",
            "params": t.params,
            "metrics": {"test_accuracy": v},
            "run_dir": None,
        }
        for t, v in zip(trials, values, strict=True)
    )
    plan = SweepPlan(name="s", trials=trials, scales=scales)
    return SweepResult(plan=plan, sweep_dir=Path("."), records=records, missing=())


def visible_tick_labels(fig: Any, ax: Any) -> list[Any]:
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    ticks = ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
    labels = [t.label1 for t in ticks if t.label1.get_visible() and t.label1.get_text()]
    lo, hi = sorted(ax.get_xlim())
    return [lab for lab in labels if lo <= lab.get_position()[0] <= hi]


@pytest.mark.parametrize(
    "lrs", [[0.02, 0.03, 0.05, 0.08], [0.011, 0.012, 0.015, 0.019, 0.022, 0.03, 0.04, 0.05, 0.07]]
)
def test_log_axis_under_a_decade_has_no_colliding_labels(lrs: list[float]) -> None:
    result = sweep_result(
        [{"train.optimizer.lr": v} for v in lrs],
        [0.8 + 0.01 * i for i in range(len(lrs))],
        {"train.optimizer.lr": "log"},
    )
    fig = sweep_figure(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = visible_tick_labels(fig, ax)
    assert len(labels) >= 2
    renderer = fig.canvas.get_renderer()
    boxes = sorted((lab.get_window_extent(renderer) for lab in labels), key=lambda b: b.x0)
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0, [lab.get_text() for lab in labels]


def test_the_best_trial_marker_leaves_its_point_visible() -> None:
    result = sweep_result([{"units": u} for u in (8, 16, 32)], [0.7, 0.9, 0.8], {})
    fig = sweep_figure(result)
    ax = fig.axes[0]
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    height = pixels.shape[0]
    x, y = ax.transData.transform((16, 0.9))
    centre = pixels[int(round(height - y)), int(round(x))]
    # the point keeps its own (blue) colour at its centre; the best is marked by a red ring around it
    blue = np.array([31, 119, 180])
    assert np.abs(centre - blue).max() < 90, centre
    ring = pixels[
        int(round(height - y)) - 9 : int(round(height - y)) + 10,
        int(round(x)) - 9 : int(round(x)) + 10,
    ]
    assert ((ring[..., 0] > 180) & (ring[..., 1] < 90) & (ring[..., 2] < 90)).any()


def test_two_swept_values_get_a_heatmap_with_the_best_cell_outlined() -> None:
    params = [{"lr": lr, "units": u} for lr in (0.01, 0.1) for u in (8, 16, 32)]
    values = [0.70, 0.75, 0.72, 0.80, 0.91, 0.85]
    fig = sweep_figure(sweep_result(params, values, {"lr": "log"}))
    heat = fig.axes[2]
    image = heat.get_images()[0].get_array()
    assert image.shape == (3, 2)  # rows: units, columns: lr
    assert image[1, 1] == pytest.approx(0.91)
    texts = [t.get_text() for t in heat.texts]
    assert "0.91" in texts
    (outline,) = heat.patches
    assert outline.get_xy() == (0.5, 0.5)


def fake_run(folder: Path, accuracy: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(
        "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,seconds,samples_per_s\n"
        f"1,0.1,0.9,0.6,,,0.8,{accuracy - 0.1},1.0,100.0\n2,0.1,0.5,0.8,,,0.6,{accuracy},1.0,100.0\n"
    )
    return folder


def test_runs_compare_writes_beside_the_runs_and_never_overwrites(tmp_path: Path) -> None:
    runs = tmp_path / "runs" / "spiral"
    a, b = fake_run(runs / "a", 0.8), fake_run(runs / "b", 0.9)
    work = tmp_path / "work"
    work.mkdir()
    first = layerkit("runs", "compare", str(a), str(b), cwd=work)
    second = layerkit("runs", "compare", str(a), str(b), cwd=work)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert list(work.iterdir()) == []  # nothing in the working directory
    drawn = sorted(runs.glob("compare-*.png"))
    assert len(drawn) == 2  # the second did not replace the first
    assert f"curves: {drawn[0]}" in first.stdout

    target = work / "mine.png"
    target.write_bytes(b"keep me")
    refused = layerkit("runs", "compare", str(a), str(b), "--plot", str(target), cwd=work)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert target.read_bytes() == b"keep me"
    forced = layerkit("runs", "compare", str(a), str(b), "--plot", str(target), "--force", cwd=work)
    assert forced.returncode == 0 and target.read_bytes()[:4] == b"\x89PNG"
