"""Sweep definitions: the sweep: section, --grid/--random, seeded sampling, planning and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_support import SPIRAL

from layerkit.errors import SpecError
from layerkit.spec import loads_spec
from layerkit.sweep.config import (
    SweepConfig,
    format_value,
    parse_grid_option,
    parse_random_option,
    parse_value,
)
from layerkit.sweep.plan import plan_sweep


def test_grid_is_a_cartesian_product_repeated_per_random_draw() -> None:
    config = SweepConfig.model_validate(
        {"grid": {"a": [1, 2], "b": ["x", "y"]}, "random": {"c": {"uniform": [0, 1]}}, "samples": 3, "seed": 7}
    )
    points = config.points()
    assert len(points) == 12
    assert [(p["a"], p["b"]) for p in points[:4]] == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert len({p["c"] for p in points}) == 12  # a fresh draw for every trial
    assert points == SweepConfig.model_validate(config.model_dump()).points()  # seeded: repeatable
    other = SweepConfig.model_validate({**config.model_dump(), "seed": 8}).points()
    assert [p["c"] for p in other] != [p["c"] for p in points]


def test_distributions_stay_in_their_ranges() -> None:
    config = SweepConfig.model_validate({
        "random": {
            "lr": {"loguniform": [1e-4, 1e-1]},
            "m": {"uniform": [0.5, 0.9]},
            "k": {"randint": [1, 3]},
            "units": {"choice": [50, 100]},
        },
        "samples": 400,
    })
    points = config.points()
    lrs = [p["lr"] for p in points]
    assert all(1e-4 <= v <= 1e-1 for v in lrs)
    # log-uniform: about a third of the draws in each decade
    assert 90 < sum(1 for v in lrs if v < 1e-3) < 180 and 90 < sum(1 for v in lrs if v > 1e-2) < 180
    assert all(0.5 <= p["m"] <= 0.9 for p in points)
    assert {p["k"] for p in points} == {1, 2, 3}  # both ends included
    assert {p["units"] for p in points} == {50, 100}
    assert all(isinstance(p["lr"], float) and isinstance(p["k"], int) for p in points)


def test_command_line_options_parse_as_yaml_scalars() -> None:
    assert parse_grid_option("train.optimizer.lr=1e-3, 0.1,3") == ("train.optimizer.lr", [0.001, 0.1, 3])
    assert parse_grid_option("model.layers.0.type=Relu,Tanh") == ("model.layers.0.type", ["Relu", "Tanh"])
    path, dist = parse_random_option("train.optimizer.lr=loguniform(1e-4, 1e-1)")
    assert path == "train.optimizer.lr" and dist.loguniform == (1e-4, 1e-1)
    assert parse_random_option("u=choice(16,32)")[1].choice == [16, 32]
    assert parse_grid_option("model.layers[2].units=8,16") == ("model.layers[2].units", [8, 16])
    with pytest.raises(SpecError, match=r"^--grid lr: expected PATH=VALUES"):
        parse_grid_option("lr")
    with pytest.raises(SpecError, match=r"^--grid lr=0.1,: lr: needs comma-separated values, none empty$"):
        parse_grid_option("lr=0.1,")
    with pytest.raises(SpecError, match=r"^--random lr=loguniform\(0,1\): lr: loguniform: needs low > 0$"):
        parse_random_option("lr=loguniform(0,1)")
    with pytest.raises(SpecError, match=r"^--random m=uniform\(a,1\): m: uniform\[0\]: must be a number$"):
        parse_random_option("m=uniform(a,1)")
    # override text reads back as the very same value, floats to the last bit
    for value in (1e-05, 0.1, 3.0000000000000004e-07, 123456789.125, "1e-3", "true", None, [1, 2]):
        assert parse_value(format_value(value), where="test") == value


def test_sweep_file_with_relative_base_and_located_errors(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spiral.yaml").write_text(SPIRAL.read_text())
    good = tmp_path / "lr.yaml"
    good.write_text(
        "sweep:\n"
        "  base: specs/spiral.yaml\n"
        "  metric: test_loss\n"
        "  set: {train.epochs: 2}\n"
        "  grid: {train.optimizer.lr: [0.1, 0.01]}\n"
    )
    plan = plan_sweep(good)
    assert plan.name == "lr" and plan.metric == "test_loss" and plan.mode == "min"  # auto: losses go down
    assert [t.params for t in plan.trials] == [{"train.optimizer.lr": 0.1}, {"train.optimizer.lr": 0.01}]
    specs = [loads_spec(t.spec) for t in plan.trials]
    assert [s.train.optimizer["lr"] for s in specs] == [0.1, 0.01] and all(s.train.epochs == 2 for s in specs)

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sweep:\n"
        "  base: specs/spiral.yaml\n"
        "  samples: 0\n"
        "  random:\n"
        "    train.optimizer.lr: {logunifrm: [1, 2]}\n"
    )
    with pytest.raises(SpecError) as info:
        plan_sweep(bad)
    lines = str(info.value).splitlines()
    assert f"{bad}:3:12: sweep.samples: must be >= 1 (received 0)" in lines
    assert any(line.startswith(f"{bad}:5:25: sweep.random.train.optimizer.lr: must be one of {{uniform")
               and "did you mean 'loguniform'?" in line for line in lines)

    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("name: x\nsweep:\n  base: specs/spiral.yaml\n  grid: {seed: [1, 2]}\n")
    with pytest.raises(SpecError, match=r"mixed.yaml:1:1: a sweep file that names a base spec holds only the sweep:"):
        plan_sweep(mixed)


def test_a_spec_may_carry_its_own_sweep_section(tmp_path: Path) -> None:
    spec = tmp_path / "spiral_sweep.yaml"
    spec.write_text(SPIRAL.read_text() + "\nsweep:\n  grid: {seed: [1, 2, 3]}\n")
    plan = plan_sweep(spec)
    assert [loads_spec(t.spec).seed for t in plan.trials] == [1, 2, 3]
    assert plan.base == str(spec)


def test_trial_ids_follow_the_resolved_spec(tmp_path: Path) -> None:
    first = plan_sweep(SPIRAL, grid=["train.optimizer.lr=0.1,0.01"])
    again = plan_sweep(SPIRAL, grid=["train.optimizer.lr=0.01,0.1"])
    assert {t.id for t in first.trials} == {t.id for t in again.trials}  # same trial, same id
    # a value spelt differently but equal after validation is the same trial
    assert plan_sweep(SPIRAL, grid=["train.optimizer.lr=1e-2"]).trials[0].id == first.trials[1].id
    # draws that repeat a trial are merged, not run twice
    merged = plan_sweep(SPIRAL, random=["model.layers.fc1.units=choice(16)"], samples=3)
    assert len(merged.trials) == 1 and merged.merged == 2
    # an unseeded base gets the sweep's seed: trials stay repeatable
    unseeded = tmp_path / "unseeded.yaml"
    unseeded.write_text(SPIRAL.read_text().replace("seed: 0\n", ""))
    plan = plan_sweep(unseeded, grid=["train.optimizer.lr=0.1"], seed=5)
    assert loads_spec(plan.trials[0].spec).seed == 5 and plan.trials[0].overrides[0] == "seed=5"


def test_every_invalid_trial_is_reported_with_its_overrides() -> None:
    with pytest.raises(SpecError) as info:
        plan_sweep(SPIRAL, grid=["model.layers.fc1.units=0,16", "train.optimizer.lr=0.1,-1"])
    text = str(info.value)
    assert text.splitlines()[0] == "3 of 4 trials are invalid; nothing was run"
    assert "trial 1 (model.layers.fc1.units=0 train.optimizer.lr=0.1): --set model.layers.fc1.units=0: " in text
    assert "trial 4 (model.layers.fc1.units=16 train.optimizer.lr=-1): --set train.optimizer.lr=-1: " in text
    # a problem every trial shares is the base's: said once, without trial numbers
    with pytest.raises(SpecError) as info:
        plan_sweep(SPIRAL, grid=["train.optimizer.lr=0.1,0.2"], overrides=["train.epochs=0"])
    assert "trial" not in str(info.value) and "train.epochs: must be >= 1 (received 0)" in str(info.value)


def test_swept_values_are_named_by_their_last_key_unless_two_share_it() -> None:
    from layerkit.sweep.report import describe_params

    assert describe_params({"train.optimizer.lr": 0.1, "train.batch_size": 32}) == "lr=0.1 batch_size=32"
    assert describe_params({"a.lr": 0.123456, "b.lr": 2}) == "a.lr=0.1235 b.lr=2"
