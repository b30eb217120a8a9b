"""experiments.tradeoff at a tiny size: every output written, and the trade-off it shows.

The empirical diffusion model (dm) run to t -> 0 returns training images (copy fraction near
1); IDM and the kernel baselines copy less as c grows; the training set's own held-out W1 and
the floor between two halves of the test split stand beside every method's.
"""

import csv
import json
import math

import numpy as np
import pytest
from sklearn.datasets import load_digits

from experiments import tradeoff
from experiments.helpers.schemas import TradeoffConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    digits = load_digits()
    keep = np.arange(0, 1797, 4)  # 450 images
    data = (digits.data[keep] / 16.0, digits.target[keep], "digits subset")
    cfg = TradeoffConfig(splits=1, c_grid=(0.3, 1.0), num_samples=256, progress=False)
    out = tmp_path_factory.mktemp("tradeoff")
    return cfg, tradeoff.run(cfg, out, data=data), out


def test_every_output_is_written(tiny):
    cfg, summary, out = tiny
    assert sorted(p.name for p in out.iterdir()) == [
        "rows.csv", "samples.png", "summary.json", "tradeoff.png",
    ]  # fmt: skip
    rows = list(csv.DictReader(open(out / "rows.csv")))
    # per split: idm, cfdm, kde at 2 c each, dm and train once, idm at c=auto
    assert len(rows) == cfg.splits * (3 * 2 + 2 + 1)
    assert json.loads((out / "summary.json").read_text())["auto"]["splits"] == cfg.splits


def test_dm_copies_and_the_guarded_idm_does_not(tiny):
    cfg, summary, _ = tiny
    dm = summary["curves"]["dm"][0]
    assert dm["copy_fraction"] > 0.9  # memorization: it returns training images
    for p in summary["auto"]["per_split"]:
        # the guard targets 0.6% on the sampler's own draws; 256 fresh draws: SE ~ 0.5%
        assert p["copy_fraction"] <= cfg.max_copy_fraction + 3 * math.sqrt(0.006 / 256)
        assert p["decided_by"] in ("guard", "criterion")


def test_w1_stands_beside_its_floor_and_the_training_set(tiny):
    _, summary, _ = tiny
    assert summary["w1_floor"] > 0
    assert summary["w1_train"] > 0
    idm = {e["c"]: e for e in summary["curves"]["idm"]}
    kde = {e["c"]: e for e in summary["curves"]["kde"]}
    # copying falls as c grows (more averaging)
    assert idm[1.0]["copy_fraction"] <= idm[0.3]["copy_fraction"]
    # at the same sigma KDE adds ambient noise of size sigma sqrt(D); IDM's inertia step removes it
    assert idm[1.0]["w1_test"] < kde[1.0]["w1_test"]


def test_trained_row_on_request(tmp_path):
    """methods=[..., trained]: one network per split, its samples and its training seconds."""
    from experiments.helpers.schemas import TrainedConfig

    digits = load_digits()
    keep = np.arange(0, 1797, 8)
    data = (digits.data[keep] / 16.0, digits.target[keep], "digits subset")
    tiny_net = TrainedConfig(width=16, depth=1, features=4, steps=20, batch=16, chunk=20,
                             sample_steps=5, cache_dir="")  # fmt: skip
    cfg = TradeoffConfig(splits=1, methods=("train", "trained"), auto=False, num_samples=64,
                         progress=False, figures=False, trained=tiny_net)  # fmt: skip
    summary = tradeoff.run(cfg, tmp_path, data=data)
    rows = list(csv.DictReader(open(tmp_path / "rows.csv")))
    assert [r["method"] for r in rows] == ["train", "trained"]
    assert rows[0]["train_s"] == ""
    assert float(rows[1]["train_s"]) > 0
    entry = summary["curves"]["trained"][0]
    assert 0 <= entry["copy_fraction"] <= 1
    assert math.isfinite(entry["w1_test"])
    assert TradeoffConfig().methods == ("idm", "cfdm", "kde", "dm", "train")  # not by default
