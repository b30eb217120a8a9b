"""The one-off studies' command lines: each answers ``--help`` and writes nothing doing so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted(
    p.stem for p in (ROOT / "experiments" / "studies").glob("*.py") if p.stem != "__init__"
)


def test_every_study_is_listed():
    assert len(STUDIES) >= 7, STUDIES  # the glob looks where the studies are


@pytest.mark.parametrize("study", STUDIES)
def test_study_help_exits_zero_and_writes_nothing(study, tmp_path):
    # This checkout's packages first (an editable install may point at another one); the
    # working directory is empty, so a study's default output (results/...) would land there.
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-m", f"experiments.studies.{study}", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:"), proc.stdout
    assert list(tmp_path.iterdir()) == []
