"""``layerkit tune``: real driver and worker processes, a real SQLite study (and a journal file),
Optuna's real TPE sampler and median pruner, on the spiral dataset with tiny networks."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_support import layerkit
from sweep_support import SPIRAL, pid_alive, raw_records, start_layerkit, wait_for
from test_sweep_dask import scheduler  # noqa: F401,F811 - the fixture: a real scheduler and 2 workers

optuna = pytest.importorskip("optuna", reason="the tune extra is not installed")

pytestmark = pytest.mark.timeout(600)

#: The search space of these tests: the learning rate and the hidden layer's width.
PARAMS = [
    "--param",
    "train.optimizer.lr=loguniform(1e-3,1e-1)",
    "--param",
    "model.layers.fc1.units=int(4,32)",
]

#: Tiny trials: few epochs, small validation split, no per-epoch checkpoint files.
FAST = [
    "--set",
    "train.validation_split=0.2",
    "--set",
    "train.epochs=4",
    "--set",
    "train.checkpoint.every=1000",
    "--set",
    "data.points_per_class=100",
    "--set",
    "model.layers.fc2.units=16",
]


def _study(tune_dir: Path, storage: str | None = None) -> Any:
    url = storage or f"sqlite:///{tune_dir / 'tune.db'}"
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        backend = optuna.storages.JournalStorage(JournalFileBackend(url[len("journal:") :]))
        return optuna.load_study(study_name="spiral", storage=backend)
    return optuna.load_study(study_name="spiral", storage=url)


def _params(tune_dir: Path) -> list[tuple[float, int]]:
    return [
        (r["params"]["train.optimizer.lr"], r["params"]["model.layers.fc1.units"])
        for r in raw_records(tune_dir)
    ]


def test_tune_prunes_poor_trials_and_writes_a_ready_to_train_best_spec(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    done = layerkit(
        "tune",
        str(SPIRAL),
        "--param",
        "train.optimizer.lr=loguniform(1e-5,1e-1)",
        "--param",
        "model.layers.fc1.units=int(4,32)",
        *FAST,
        "--set",
        "train.epochs=6",
        "--trials",
        "12",
        "--workers",
        "2",
        "--pruner",
        "median",
        "--seed",
        "1",
        "--out",
        str(out),
        "--json",
        cwd=tmp_path,
        timeout=560,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = raw_records(out)
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    pruned = [r for r in records if r["status"] == "pruned"]
    assert pruned, "a median pruner over lr down to 1e-5 prunes some trials"
    for record in pruned:
        folder = out / record["run_dir"]
        trial = json.loads((folder / "trial.json").read_text())
        assert trial["state"] == "pruned" and trial["pruned_after_epoch"] == record["pruned_at"] < 6
        status = json.loads((folder / "status.json").read_text())
        assert status["status"] == "pruned" and status["pruned_after_epoch"] == record["pruned_at"]
        rows = (folder / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) - 1 == record["pruned_at"]  # stopped cleanly after that epoch
    # the study in tune.db agrees with the committed records
    study = _study(out)
    states = {t.number: t.state.name for t in study.trials}
    assert states == {
        int(r["id"]): ("COMPLETE" if r["status"] == "ok" else r["status"].upper()) for r in records
    }
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["pruned"] == len(pruned)
    best = summary["best"]
    assert best["metrics"]["val_accuracy"] == max(
        r["metrics"]["val_accuracy"] for r in records if r["status"] == "ok"
    )
    assert study.best_trial.number == int(best["id"])
    # best.yaml is the best trial's spec, ready to train
    from layerkit.spec import load_spec

    spec = load_spec(out / "best.yaml")
    assert spec.train.optimizer["lr"] == best["params"]["train.optimizer.lr"]
    assert spec.model.layers[0].units == best["params"]["model.layers.fc1.units"]  # type: ignore[attr-defined]
    for name in ("summary.csv", "history.png", "intermediate.png"):
        assert (out / name).stat().st_size > 0, name


def test_a_fixed_seed_with_one_worker_gives_the_same_trials_in_order_whatever_the_storage(
    tmp_path: Path,
) -> None:
    runs = []
    for name, storage in (("a", None), ("b", f"journal:{tmp_path / 'study.journal'}")):
        extra = ["--storage", storage] if storage else []
        done = layerkit(
            "tune",
            str(SPIRAL),
            *PARAMS,
            *FAST,
            "--trials",
            "3",
            "--workers",
            "1",
            "--seed",
            "7",
            "--pruner",
            "none",
            "--out",
            str(tmp_path / name),
            *extra,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(_params(tmp_path / name))
    assert runs[0] == runs[1] and len(runs[0]) == 3
    assert len(_study(tmp_path / "b", f"journal:{tmp_path / 'study.journal'}").trials) == 3
    assert not (tmp_path / "b" / "tune.db").exists()


def test_a_killed_driver_resumes_the_same_study_without_losing_or_repeating_a_trial(
    tmp_path: Path,
) -> None:
    out = tmp_path / "tune"
    args = [
        "tune",
        str(SPIRAL),
        *PARAMS,
        *FAST,
        "--trials",
        "5",
        "--workers",
        "1",
        "--seed",
        "3",
        "--pruner",
        "none",
        "--out",
        str(out),
    ]
    driver = start_layerkit(*args, cwd=tmp_path)
    try:
        wait_for(lambda: len(raw_records(out)) >= 2, timeout=400, what="two committed trials")
        # kill it while a third trial trains (its attempt folder exists)
        wait_for(
            lambda: any((out / ".attempts").glob("*/attempt.json")),
            timeout=200,
            what="a trial in progress",
        )
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    before = raw_records(out)
    orphans = [json.loads(p.read_text())["pid"] for p in (out / ".attempts").glob("*/attempt.json")]
    wait_for(
        lambda: not any(pid_alive(pid) for pid in orphans),
        timeout=30,
        what="the orphaned worker to exit",
    )
    done = layerkit("tune", "--resume", str(out), cwd=tmp_path, timeout=500)
    assert done.returncode == 0, done.stdout + done.stderr
    after = raw_records(out)
    assert after[: len(before)] == before  # nothing committed was lost or rewritten
    assert len(after) == 5 and len({r["id"] for r in after}) == 5
    assert (
        len(
            {
                (r["params"]["train.optimizer.lr"], r["params"]["model.layers.fc1.units"])
                for r in after
            }
        )
        == 5
    )
    study = _study(out)
    finished = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.number for t in finished) == sorted(int(r["id"]) for r in after)
    interrupted = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(interrupted) <= 1  # the trial the kill cut short, run again under a new number
    for t in interrupted:
        rerun = [f for f in finished if f.user_attrs.get("rerun_of") == t.number]
        assert len(rerun) == 1 and rerun[0].params == t.params
    assert not (out / ".attempts").exists() or not any((out / ".attempts").iterdir())


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            ["--param", "model.layers.fc9.units=int(4,32)"],
            ["--param model.layers.fc9.units=int(4,32)", "did you mean 'fc2'"],
        ),
        (
            ["--param", "train.optimzer.lr=uniform(0.1,0.2)"],
            ["--param train.optimzer.lr", "did you mean 'optimizer'"],
        ),
        (
            ["--param", "train.optimizer.lr=loguniform(0,1)"],
            ["--param train.optimizer.lr=loguniform(0,1)", "low > 0"],
        ),
        (
            ["--param", "model.layers.fc1.units=int(0,8)"],
            ["--param model.layers.fc1.units=int(0,8)", "(at 0)"],
        ),
        (
            ["--param", "train.optimizer.lr=loguniform(1e-3,1e-1)", "--metric", "val_acuracy"],
            ["did you mean 'val_accuracy'"],
        ),
    ],
)
def test_bad_input_is_one_error_before_any_trial(
    tmp_path: Path, option: list[str], expected: list[str]
) -> None:
    done = layerkit(
        "tune",
        str(SPIRAL),
        *option,
        "--set",
        "train.validation_split=0.2",
        "--out",
        str(tmp_path / "t"),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip()
    assert message.startswith("layerkit tune: error:") and "Traceback" not in message
    for text in expected:
        assert text in message, message
    assert not (tmp_path / "t").exists()


def test_a_metric_the_runs_do_not_record_is_refused(tmp_path: Path) -> None:
    # the spiral spec holds out no validation data: val_accuracy would never be reported
    done = layerkit(
        "tune",
        str(SPIRAL),
        "--param",
        "train.optimizer.lr=loguniform(1e-3,1e-1)",
        "--out",
        str(tmp_path / "t"),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "val_accuracy needs validation_split > 0" in done.stderr
    assert not (tmp_path / "t").exists()


def test_a_tune_file_is_validated_with_locations(tmp_path: Path) -> None:
    tune = tmp_path / "tune.yaml"
    tune.write_text(
        f"tune:\n  base: {SPIRAL}\n  params:\n    train.optimizer.lr: {{loguniform: [1.0e-3, 1.0e-1]}}\n"
        "  trials: 0\n  pruner: medain\n"
    )
    done = layerkit("tune", str(tune), cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert f"{tune}:5:" in done.stderr and "tune.trials" in done.stderr
    assert f"{tune}:6:" in done.stderr and "tune.pruner" in done.stderr


def test_resume_refuses_new_options(tmp_path: Path) -> None:
    done = layerkit("tune", "--resume", str(tmp_path), "--trials", "3", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "drop --trials" in done.stderr
    done = layerkit("tune", "--resume", str(tmp_path), cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "not a tune folder" in done.stderr


def test_spiral_tune_runs_on_two_real_dask_workers(tmp_path: Path, scheduler: str) -> None:  # noqa: F811
    out = tmp_path / "tune"
    done = layerkit(
        "tune",
        str(SPIRAL),
        *PARAMS,
        *FAST,
        "--trials",
        "4",
        "--seed",
        "0",
        "--scheduler",
        scheduler,
        "--out",
        str(out),
        cwd=tmp_path,
        timeout=500,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = raw_records(out)
    assert len(records) == 4 and all(r["status"] in ("ok", "pruned") for r in records)
    assert len({r["worker"] for r in records}) == 2  # both workers trained trials
    assert len(_study(out).trials) == 4
    assert (out / "best.yaml").is_file()


def test_a_tune_in_process_leaves_matplotlib_defaults_alone(tmp_path: Path) -> None:
    """Optuna's plots switch to its ggplot style; later figures of the process keep theirs."""
    import matplotlib

    from layerkit.cli import main

    def style() -> dict[str, object]:  # the backend is chosen for files (Agg) on purpose
        return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}

    before = style()
    args = ["tune", str(SPIRAL), *FAST, "--param", "train.optimizer.lr=loguniform(0.01,0.1)"]
    args += ["--trials", "3", "--workers", "1", "--pruner", "none"]
    assert main([*args, "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "history.png").is_file()  # Optuna did draw
    assert style() == before
