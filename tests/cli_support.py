"""The real ``layerkit`` command in a child process.

For the tests that need a process of its own: a real pipe, a kill, a race between two runs,
plugins installed into the environment. In-process tests call :func:`layerkit.cli.main`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``LAYERKIT_*`` settings, then ``env`` on top."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LAYERKIT_")}
    full.update(env or {})
    return full


def layerkit(
    *args: object,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    **run: Any,
) -> subprocess.CompletedProcess[str]:
    """``python -m layerkit ARGS`` in ``cwd`` (default: the repository), output captured as
    text; a non-zero exit is returned, not raised. ``run`` goes to :func:`subprocess.run`."""
    return subprocess.run(
        [sys.executable, "-m", "layerkit", *map(str, args)],
        cwd=ROOT if cwd is None else cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **run,
    )
