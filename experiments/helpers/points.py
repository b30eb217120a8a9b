"""Point clouds in files: read with one-line refusals of bad input, written atomically.

Used by the apps that take a user's data (``experiments.generate``, ``experiments.tradeoff``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from experiments.helpers import preflight, store

__all__ = ["load_points", "save_points"]


def load_points(path: str | Path) -> np.ndarray:
    """The (n, D) float array in ``path``, or :class:`preflight.InputError` saying what is wrong.

    .npy: the array. .npz: the array named ``data`` or ``x``, or the only array. .csv: numbers
    separated by commas, one point per line (a header line is skipped). Refusals name the
    config field ``data_path``.
    """
    field = "data_path"
    path = Path(path)
    if not path.exists():
        raise preflight.InputError(field, f"no such file: {path}")
    if not path.is_file():
        raise preflight.InputError(field, f"not a file: {path}")
    if path.stat().st_size == 0:
        raise preflight.InputError(field, f"empty file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = list(z.keys())
                name = next((k for k in ("data", "x") if k in names), None)
                if name is None and len(names) != 1:
                    raise preflight.InputError(
                        field, f"{path} holds arrays {names}: name the points 'data' or 'x'"
                    )
                x = z[name or names[0]]
        elif suffix == ".csv":
            try:
                x = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
        else:
            raise preflight.InputError(
                field, f"unknown file type {suffix!r} (allowed: .npy, .npz, .csv)"
            )
    except preflight.InputError:
        raise
    except PermissionError:
        raise preflight.InputError(field, f"cannot read {path}: permission denied") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        msg = " ".join(str(err).split())[:160]
        raise preflight.InputError(field, f"cannot read {path}: {msg}") from None
    if x.size == 0:
        raise preflight.InputError(field, f"{path} holds no points (shape {x.shape})")
    if x.ndim != 2:
        raise preflight.InputError(field, f"{path} must hold an (n, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise preflight.InputError(field, f"{path} must hold real numbers, got dtype {x.dtype}")
    if x.shape[0] < 2:
        raise preflight.InputError(field, f"{path} has {x.shape[0]} point; at least 2 are needed")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise preflight.InputError(
            field,
            f"{path} has {int(bad.sum())} points with NaN or inf "
            f"(first at row {int(bad.argmax())})",
        )
    return x


def save_points(path: str | Path, x: np.ndarray) -> None:
    """Writes points atomically in the format of the path's extension."""
    path = Path(path)
    with store.atomic_path(path) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, x)
        elif path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, data=x)
        else:
            np.savetxt(tmp, x, delimiter=",", fmt="%.9g")
