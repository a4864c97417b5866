"""Optuna, as ``layerkit tune`` uses it: storages, samplers, pruners and search distributions.

Shared by the tune driver and its workers, which open the same study in the same storage: the
driver asks for trials and tells their results, a worker reports its trial's metric each epoch
and asks whether to prune. Optuna is the ``tune`` extra (``pip install 'layerkit[tune]'``);
importing this module does not import it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from layerkit.errors import ConfigError, LayerkitError
from layerkit.sweep.config import Choice, Distribution, LogUniform, RandInt, Uniform

__all__ = [
    "require_optuna",
    "open_storage",
    "default_storage",
    "use_wal",
    "PrunerConfig",
    "make_sampler",
    "optuna_distribution",
    "JOURNAL_PREFIX",
    "PRUNERS",
]

#: ``--storage journal:PATH``: Optuna's journal file storage (no database server, file locks).
JOURNAL_PREFIX = "journal:"
#: Pruner names of ``--pruner``.
PRUNERS = ("median", "asha", "none")
#: Seconds a SQLite connection waits for another process's write lock before giving up.
SQLITE_TIMEOUT = 60.0


def require_optuna() -> Any:
    """The ``optuna`` module, or a :class:`LayerkitError` naming the extra to install."""
    try:
        import optuna
    except ImportError as exc:
        raise LayerkitError(
            "layerkit tune needs the 'tune' extra: pip install 'layerkit[tune]'"
        ) from exc
    # Optuna logs every trial at INFO on stderr; layerkit prints its own progress lines.
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def default_storage(path: Any) -> str:
    """The embedded default: a SQLite database file (``tune.db`` in the tune folder)."""
    from pathlib import Path

    return f"sqlite:///{Path(path).resolve()}"


def use_wal(path: Any) -> None:
    """Put a SQLite database in WAL mode: readers (a worker asking whether to prune) no longer
    wait for writers (another worker reporting an epoch), and a commit appends to the log
    instead of rewriting pages. The mode is stored in the file; like SQLite itself it needs the
    processes on one machine (not a network filesystem)."""
    import sqlite3

    connection = sqlite3.connect(path, timeout=SQLITE_TIMEOUT)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def open_storage(url: str, *, existing: bool = False) -> Any:
    """An Optuna storage for ``url``: any SQLAlchemy URL Optuna's RDB storage accepts
    (``sqlite:///tune.db``, ``postgresql://user:pw@host/db``, ``mysql://...``) or
    ``journal:PATH`` for a journal file.

    ``existing``: the driver has created (and checked) the tables already, so a worker skips
    both (about 3 s per opening under load, on every trial otherwise)."""
    optuna = require_optuna()
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend

        path = url[len(JOURNAL_PREFIX) :]
        if not path:
            raise ConfigError("--storage journal:PATH: needs a file path after 'journal:'")
        try:
            return optuna.storages.JournalStorage(JournalFileBackend(path))
        except OSError as exc:
            raise ConfigError(f"--storage {url}: cannot open the journal file: {exc}") from None
    if "://" not in url:
        raise ConfigError(
            f"--storage: expected a database URL (sqlite:///PATH, postgresql://USER@HOST/DB, ...) "
            f"or journal:PATH (received {url!r})"
        )
    kwargs: dict[str, Any] = {}
    if existing:
        kwargs.update(skip_table_creation=True, skip_compatibility_check=True)
    if url.startswith("sqlite"):
        # Several worker processes report to one file: wait for the write lock, do not fail.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT}}
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except ImportError as exc:  # the database driver (psycopg2, pymysql...) is not installed
        raise LayerkitError(
            f"--storage {_hide_password(url)}: the database driver is missing: {exc}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors (bad URL, refused connection)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LayerkitError(
            f"--storage {_hide_password(url)}: cannot open the study storage: {first}"
        ) from None


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


@dataclass(frozen=True)
class PrunerConfig:
    """Which pruner stops poor trials early, as plain picklable data (workers rebuild it:
    Optuna stores studies, not their pruners)."""

    kind: str = "median"
    #: Epochs every trial trains before it may be pruned (median) or its first rung (asha).
    warmup_epochs: int = 1
    #: Trials that finish before the median pruner prunes anything.
    startup_trials: int = 5

    def create(self) -> Any:
        optuna = require_optuna()
        if self.kind == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_epochs
            )
        if self.kind == "asha":
            # Asynchronous successive halving: rungs at warmup * 3**k epochs, the top third goes on.
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, self.warmup_epochs))
        if self.kind == "none":
            return optuna.pruners.NopPruner()
        raise ConfigError(f"--pruner: must be one of {', '.join(PRUNERS)} (received {self.kind!r})")


def make_sampler(seed: int | None) -> Any:
    """TPE, seeded; ``constant_liar`` keeps parallel workers from being handed the same point
    (it changes nothing with one worker, whose trials are told before the next ask)."""
    optuna = require_optuna()
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


_SCALARS = (str, int, float, bool, type(None))


def optuna_distribution(path: str, dist: Distribution) -> Any:
    """The Optuna distribution of one ``--param``; a :class:`ConfigError` for one it cannot sample."""
    optuna = require_optuna()
    d = optuna.distributions
    if isinstance(dist, Uniform):
        low, high = dist.uniform
        return d.FloatDistribution(low, high)
    if isinstance(dist, LogUniform):
        low, high = dist.loguniform
        return d.FloatDistribution(low, high, log=True)
    if isinstance(dist, RandInt):
        low, high = dist.randint
        return d.IntDistribution(low, high)
    if isinstance(dist, Choice):
        bad = [
            v
            for v in dist.choice
            if not isinstance(v, _SCALARS) or (isinstance(v, float) and not math.isfinite(v))
        ]
        if bad:
            raise ConfigError(
                f"{path}: choice values must be numbers, strings, booleans or null "
                f"(received {bad[0]!r})"
            )
        return d.CategoricalDistribution(list(dist.choice))
    raise ConfigError(f"{path}: cannot be sampled (received {dist!r})")
