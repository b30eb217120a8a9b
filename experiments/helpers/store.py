"""Where a job's results live and how they are written: atomically, keyed by the config's hash.

A rate study is hundreds of jobs that can die at any moment (pre-emption, time limits, OOM).
Three rules make a sweep restartable without losing or duplicating a row:

* **Atomic files.** Every output is written to a temporary file in the same directory and then
  renamed over its final name (``os.replace`` is atomic on POSIX), so a killed job leaves either
  the old file or the new one, never half of one.
* **Keyed by config.** A job's directory name ends in :func:`config_hash` of its resolved
  config (``${idm_hash:}`` in ``conf/rate/config.yaml``), and the job's summary.json, written last,
  records the same hash: a job whose summary carries its own hash is complete and skips itself.
* **Cell checkpoints.** Inside a job, the rows of every finished (n, seed) cell are saved to
  ``partial.json`` (atomically); a restarted job reloads them and computes only the missing
  cells. Every draw is ``fold_in`` of (stream, seed, n, method), so a recomputed cell equals the
  one that was lost.
* **Cells shared across sweep shapes.** A cell's rows depend on what :func:`cells_hash` covers
  (the config without the n grid, the seed count and the fit settings) and on its (n, seed),
  not on the rest of the grid. Every job records its ``cells_hash``; a job reuses the finished
  cells of any job beside it (same parent directory) with the same ``cells_hash``, so
  widening a sweep (more seeds, more n) computes only the new cells.

Every JSON file is strict (RFC 8259): a missing or non-finite number (NaN, inf) is written as
``null`` (:func:`plain_json`), and ``allow_nan=False`` makes a value that slipped through fail
loudly. Readers that do arithmetic turn ``null`` back into NaN (:func:`nan_if_none`); files
written before this rule hold bare ``NaN`` tokens, which Python's ``json`` still reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "CELLS_EXCLUDED",
    "HASH_EXCLUDED",
    "atomic_path",
    "atomic_write_text",
    "cells_hash",
    "config_hash",
    "dumps",
    "find_jobs",
    "is_complete",
    "job_summary",
    "load_partial",
    "nan_if_none",
    "plain_json",
    "save_partial",
    "write_json",
]

# Settings that change how a job runs or what it draws, but not a single number in its rows.
HASH_EXCLUDED = ("skip_existing", "progress", "figures")
# ... and, beyond those, settings that choose which cells run or how rows are fitted, but not
# the rows of one (n, seed) cell (``sweep.ns``, ``sweep.seeds``; the fit settings).
CELLS_EXCLUDED = ("fit", ("sweep", "ns"), ("sweep", "seeds"))

PARTIAL = "partial.json"


def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (mkstemp's files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success renames it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def plain_json(obj):
    """``obj`` with NaN and inf as None, numpy scalars and arrays as Python ones, recursively.

    Dicts keep their keys; tuples and arrays become lists. What strict JSON can hold (RFC 8259
    has no NaN or Infinity): a missing or non-finite number is ``null``.
    """
    if isinstance(obj, dict):
        return {k: plain_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain_json(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps(obj, **kwargs) -> str:
    """Strict JSON text of ``obj`` (:func:`plain_json`; ``json.dumps`` keywords pass through).

    Raises:
        ValueError: a non-finite float :func:`plain_json` does not reach (``allow_nan=False``).
    """
    return json.dumps(plain_json(obj), allow_nan=False, **kwargs)


def nan_if_none(v) -> float:
    """A number read from JSON: ``null`` (a missing or non-finite value) as NaN."""
    return math.nan if v is None else v


def write_json(path: str | Path, obj, *, indent: int = 2) -> None:
    """Writes ``obj`` as strict JSON (:func:`dumps`) to ``path`` atomically, making its folder."""
    atomic_write_text(path, dumps(obj, indent=indent))


def config_hash(config) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of a config's result-relevant fields.

    Args:
        config: a dataclass (``RunConfig``) or a plain dict of the resolved config.
    """
    d = _hashed(config)
    for key in HASH_EXCLUDED:
        d.pop(key, None)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cells_hash(config) -> str:
    """12 hex digits of SHA-256 over what one (n, seed) cell's rows depend on.

    :func:`config_hash`'s fields less :data:`CELLS_EXCLUDED`: two jobs with the same
    ``cells_hash`` give the same rows for every (n, seed) they share.
    """
    d = _hashed(config)
    for key in (*HASH_EXCLUDED, *CELLS_EXCLUDED):
        if isinstance(key, tuple):
            d.get(key[0], {}).pop(key[1], None)
        else:
            d.pop(key, None)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _hashed(config) -> dict:
    """The config as plain JSON, less what cannot change its rows.

    The ``trained`` section (the network of ``method=trained``) counts only when that method
    runs, and never its ``cache_dir``: runs without it keep the hashes (and directories) they
    had before the section existed.
    """
    d = _plain(config)
    if isinstance(d, dict) and isinstance(d.get("trained"), dict):
        if "trained" in (d.get("method") or {}).get("names", ()):
            d["trained"].pop("cache_dir", None)
        else:
            d.pop("trained")
    return d


def _plain(obj):
    """Dataclasses to dicts and tuples to lists, recursively (JSON's view of a config).

    A dataclass with a ``hash_record()`` method (the rate app's evaluators,
    ``experiments.helpers.schemas.evaluators``) is seen as the dict that method returns.
    """
    if dataclasses.is_dataclass(obj):
        record = getattr(obj, "hash_record", None)
        obj = (
            record() if record else {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        )
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def is_complete(out: Path, digest: str) -> bool:
    """True when ``out`` holds a finished job of the config with hash ``digest``."""
    summary = out / "summary.json"
    if not (summary.exists() and (out / "rows.csv").exists()):
        return False
    try:
        return json.loads(summary.read_text()).get("config_hash") == digest
    except (OSError, json.JSONDecodeError):
        return False


def job_summary(path: Path) -> dict | None:
    """A finished job's summary.json (it carries a ``config_hash``), else None."""
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if "config_hash" in summary else None


def find_jobs(dirs) -> list[Path]:
    """Finished job directories (rows.csv beside a summary.json with a hash) under ``dirs``.

    Sorted, each listed once.

    Raises:
        FileNotFoundError: when one of ``dirs`` is not a directory.
    """
    jobs = set()
    for root in map(Path, dirs):
        if not root.is_dir():
            raise FileNotFoundError(f"not a directory: {root}")
        for summary in root.rglob("summary.json"):
            if (summary.parent / "rows.csv").exists() and job_summary(summary) is not None:
                jobs.add(summary.parent.resolve())
    return sorted(jobs)


def load_partial(out: Path, digest: str) -> tuple[list[dict], list[dict]]:
    """Rows and nearest-distance rows (plain dicts) of the cells a killed run finished.

    ``digest``: the job's :func:`cells_hash` (a checkpoint of other cells reads as empty). A
    ``null`` (how the checkpoint writes NaN: no row column is ever None) reads as NaN.
    """
    path = out / PARTIAL
    if not path.exists():
        return [], []
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return [], []
    if saved.get("cells_hash") != digest:
        return [], []
    return [_nan_columns(r) for r in saved["rows"]], [_nan_columns(r) for r in saved["nearest"]]


def _nan_columns(row: dict) -> dict:
    return {k: nan_if_none(v) for k, v in row.items()}


def save_partial(out: Path, digest: str, rows: list[dict], nearest: list[dict]) -> None:
    """Checkpoints the finished cells (plain dicts, atomically; NaN written as null).

    Keyed by the job's :func:`cells_hash`.
    """
    text = dumps({"cells_hash": digest, "rows": rows, "nearest": nearest})
    atomic_write_text(out / PARTIAL, text)


def clear_partial(out: Path) -> None:
    """Removes the checkpoint once the job's outputs are complete."""
    (out / PARTIAL).unlink(missing_ok=True)
