"""``layerkit report``: a run, several runs or a sweep as one self-contained HTML page.

* :func:`write_run_report` - ``RUN/report.html``: spec, lock, graph, curves, confusion matrix,
  per-class precision/recall/F1, a gallery of test images, weight and gradient histograms, the
  first convolution's filters;
* :func:`write_runs_report` - several runs or a sweep: the ranked table, the curves overlaid,
  the spec values that differ, the sweep's metric by swept value.

Every picture is inlined (``data:`` URIs) and the page runs no script and fetches nothing: it
opens from disk, offline, and can be mailed as one file. Needs the ``report`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from layerkit._version import __version__
from layerkit.errors import ConfigError
from layerkit.fileio import atomic_write_text, unique_path
from layerkit.report.html import highlight_yaml, render, require_extra
from layerkit.report.run_report import collect_run, lock_rows
from layerkit.report.runs_report import collect_runs, is_sweep
from layerkit.sweep.runs import common_folder

__all__ = ["write_run_report", "write_runs_report", "write_report", "REPORT_FILE"]

#: the report's name inside a run or sweep folder
REPORT_FILE = "report.html"


def _created() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _explicit(out: str | os.PathLike[str], force: bool) -> Path:
    """The file the user named: refused if it is a folder, or exists (unless ``force``)."""
    target = Path(out)
    if target.is_dir():
        raise ConfigError(f"--out {target}: is a folder; name the HTML file to write")
    if target.exists() and not force:
        raise ConfigError(
            f"--out {target}: exists; choose another name or pass --force to replace it"
        )
    return target


def write_run_report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write the report of one run (default ``RUN/report.html``, rewritten each time)."""
    require_extra()
    folder = Path(run_dir)
    target = folder / REPORT_FILE if out is None else _explicit(out, force)
    report = collect_run(folder)
    html = render(
        "run.html.j2",
        title=report.title,
        run=report,
        s=report.sections,
        spec_html=highlight_yaml(report.spec_yaml),
        lock=lock_rows(report.lock),
        version=__version__,
        created=_created(),
    )
    return atomic_write_text(target, html)


def write_runs_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> Path:
    """Write the report comparing several runs, or a sweep's trials.

    Default place: ``SWEEP/report.html`` for one sweep; otherwise a new
    ``report-<timestamp>.html`` in the runs' nearest common folder, never replacing a file.
    """
    require_extra()
    if not paths:
        raise ConfigError("report: name at least one run or sweep folder")
    if out is not None:
        target = _explicit(out, force)
    elif len(paths) == 1 and is_sweep(paths[0]):
        target = Path(paths[0]) / REPORT_FILE
    else:
        target = unique_path(common_folder(paths), "report", ".html")
    report = collect_runs(paths, out=target)
    html = render(
        "runs.html.j2", title=report.title, report=report, version=__version__, created=_created()
    )
    return atomic_write_text(target, html)


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
) -> Path:
    """One run folder: its run report; several runs or a sweep: the comparison."""
    if len(paths) == 1 and not is_sweep(paths[0]):
        return write_run_report(paths[0], out, force=force)
    return write_runs_report(paths, out, force=force)
