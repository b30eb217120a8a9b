"""Trained score networks for the experiments: training with a progress bar, and a disk cache.

:func:`fit` trains :mod:`idm.trained`'s network on a training set, or loads the same model
from the cache: a model is keyed by the SHA-256 of its training set (bytes, shape, dtype),
its key and its :class:`idm.trained.TrainConfig`, so a resumed or repeated sweep does not
retrain. The cache is a folder of ``<hash>.npz`` files (weights, EMA, the loss curve and the
original training time), written atomically; ``idm/`` itself never touches files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments.helpers import store
from experiments.helpers.schemas import TrainedConfig
from idm import trained

__all__ = ["DEFAULT_CACHE", "cache_key", "fit", "load", "save"]

log = logging.getLogger(__name__)

#: The default cache folder (git-ignored).
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "trained"


def cache_key(key: jax.Array, data, cfg: trained.TrainConfig) -> str:
    """24 hex digits of SHA-256 over the training set, the key and the training settings."""
    h = hashlib.sha256()
    x = np.ascontiguousarray(np.asarray(data))
    h.update(json.dumps([x.shape, str(x.dtype)]).encode())
    h.update(x.tobytes())
    h.update(np.asarray(jax.random.key_data(key)).tobytes())
    h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    return h.hexdigest()[:24]


def save(path: Path, model: trained.TrainedModel) -> None:
    """Writes a model to ``path`` (.npz) atomically."""
    leaves = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(model.params))}
    meta = dict(
        t_min=model.t_min,
        T=model.T,
        losses=list(model.losses),
        seconds=model.seconds,
        steps=model.steps,
        depth=len(model.params) - 1,
    )
    buf = io.BytesIO()
    np.savez(buf, s2=np.asarray(model.s2), meta=np.asarray(json.dumps(meta)), **leaves)
    path.parent.mkdir(parents=True, exist_ok=True)
    with store.atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())


def load(path: Path) -> trained.TrainedModel:
    """Reads a model written by :func:`save`."""
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        leaves = [jnp.asarray(f[f"p{i}"]) for i in range(len(f.files) - 2)]
        s2 = jnp.asarray(f["s2"])
    dt = leaves[0].dtype
    template = trained.init(
        jax.random.key(0), 1, width=1, depth=meta["depth"], features=2, dtype=dt
    )
    params = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
    return trained.TrainedModel(
        params=params,
        s2=s2,
        t_min=meta["t_min"],
        T=meta["T"],
        losses=tuple(meta["losses"]),
        seconds=meta["seconds"],
        steps=meta["steps"],
    )


def _cache_dir(cfg: TrainedConfig) -> Path | None:
    if cfg.cache_dir == "":
        return None
    return DEFAULT_CACHE if cfg.cache_dir is None else Path(cfg.cache_dir)


def fit(
    cfg: TrainedConfig, key: jax.Array, data, *, label: str = "", progress: bool = True
) -> tuple[trained.TrainedModel, bool]:
    """The trained model of ``data``: from the cache, or trained (and then cached).

    Args:
        cfg: the ``trained`` section of the config.
        key: the training key.
        data: the training set, ``[n, D]``; cast to ``cfg.dtype`` before training.
        label: shown on the progress bar.
        progress: show a tqdm bar with the loss (only on a terminal).

    Returns:
        ``(model, cached)``.

    Raises:
        idm.trained.TrainingDiverged: the loss diverged (nothing is cached).
    """
    tc = cfg.train_config()
    x = jnp.asarray(data, getattr(jnp, cfg.dtype))
    folder = _cache_dir(cfg)
    path = None if folder is None else folder / f"{cache_key(key, x, tc)}.npz"
    if path is not None and path.exists():
        return load(path), True
    from tqdm.auto import tqdm

    with tqdm(
        total=tc.steps,
        desc=f"train {label}".strip(),
        unit="step",
        leave=False,
        disable=not (progress and sys.stderr.isatty()),
    ) as bar:

        def callback(done, loss, _model):
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{loss:.4f}")

        model = trained.train(key, x, tc, callback=callback)
    log.info(
        "trained %s: %d steps, %d parameters, %.1f s, final loss %.4f",
        label,
        model.steps,
        model.num_params,
        model.seconds,
        model.losses[-1],
    )
    if path is not None:
        save(path, model)
    return model, False
