"""The bad inputs tried as a new user would, and what each gets (the README's table).

    python -m experiments.studies.bad_inputs [OUT] [--overwrite]
        (default results/reliability/bad_inputs.json)

Each case runs the real command line in a fresh temporary folder holding a few prepared files
(``v.npy``: 300 Gaussian points in R^6; ``few.npy``: 20 points; ``five.npy``: 5; ``dup.npy``:
50 unit vectors in R^10, each 10 times; ``rep.npy``: ``few.npy`` 10 times; ``const.npy``: 30
equal points; ``nan.npy``: a NaN in row 7; ``old.npy``: an earlier output) and records the exit
status, the last line on stderr (the refusal) and which files the command wrote or changed.
Writes the JSON and prints the markdown table.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.helpers import preflight, store

ROOT = Path(__file__).resolve().parents[2]

#: (what the user tried, module, arguments)
CASES = (
    ("50 points, each 10 times; c=auto", "experiments.generate",
     ["data_path=dup.npy", "d=2", "c=auto", "num_samples=200", "out=s.npy"]),
    ("out is the input file", "experiments.generate",
     ["data_path=v.npy", "d=2", "num_samples=5", "out=v.npy"]),
    ("out exists", "experiments.generate", ["data_path=v.npy", "d=2", "out=old.npy"]),
    ("out in a missing folder", "experiments.generate",
     ["data_path=v.npy", "d=2", "out=missing/x.npy"]),
    ("d=auto on 20 points", "experiments.generate", ["data_path=few.npy", "d=auto"]),
    ("d=auto on 5 points", "experiments.generate", ["data_path=five.npy", "d=auto"]),
    ("d=auto on 20 points, each 10 times", "experiments.generate",
     ["data_path=rep.npy", "d=auto"]),
    ("constant data, d=1", "experiments.generate", ["data_path=const.npy", "d=1"]),
    ("a NaN in the data", "experiments.generate", ["data_path=nan.npy", "d=1"]),
    ("a missing file", "experiments.generate", ["data_path=nope.npy"]),
    ("a study's --help", "experiments.studies.generate_clouds", ["--help"]),
    ("a study's output exists", "experiments.studies.generate_clouds", ["old.npy"]),
    ("plots of a missing run folder", "experiments.plots", ["runs/nope"]),
    ("collect of a missing folder", "experiments.collect", ["runs/nope"]),
    ("law draws beyond memory", "experiments.rate", ["sweep=tiny", "evaluator.m_law=100000000"]),
    ("matched draws beyond memory", "experiments.rate",
     ["sweep=tiny", "evaluator.m_match=200000000"]),
    ("manifold.d=0", "experiments.rate", ["manifold.d=0"]),
    ("an unknown manifold in a sweep", "experiments.rate", ["-m", "manifold=circle,klein"]),
)  # fmt: skip


def _prepare(folder: Path) -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 6))
    np.save(folder / "v.npy", v)
    np.save(folder / "few.npy", v[:20])
    np.save(folder / "five.npy", v[:5])
    np.save(folder / "rep.npy", np.repeat(v[:20], 10, axis=0))
    u = rng.normal(size=(50, 10))
    np.save(folder / "dup.npy", np.repeat(u / np.linalg.norm(u, axis=1, keepdims=True), 10, 0))
    np.save(folder / "const.npy", np.ones((30, 3)))
    bad = v[:40].copy()
    bad[7, 2] = np.nan
    np.save(folder / "nan.npy", bad)
    np.save(folder / "old.npy", v[:3])


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_case(what: str, module: str, args: list[str]) -> dict:
    """One command in a fresh folder: exit status, its last stderr line, files touched."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _prepare(folder)
        before = _files(folder)
        env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=folder, capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        after = _files(folder)
        touched = sorted(k for k in after if before.get(k) != after[k])
        err = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        out = {
            "input": what,
            "command": " ".join(["python -m", module, *args]),
            "exit": proc.returncode,
            "stderr_lines": len(err),
            "says": err[-1] if err else proc.stdout.strip().splitlines()[0],
            "traceback": "Traceback" in proc.stderr + proc.stdout,
            "written": touched,
            "seconds": round(seconds, 1),
        }
        report = folder / "s.npy.report.json"
        if report.exists():
            rep = json.loads(report.read_text())
            keys = ("copy_fraction", "duplicate_rows", "c", "nearest_over_spacing")
            out["report"] = {k: rep[k] for k in keys}
            out["report"]["decided_by"] = rep["c_info"].get("decided_by")
        return out


def markdown(rows: list[dict]) -> str:
    """The README's table."""
    lines = ["| input | exit | what it says | files written |", "|---|---|---|---|"]
    for r in rows:
        says = r["says"].replace("|", "\\|")
        if "report" in r:
            rep = r["report"]
            says = (
                f"copy fraction {rep['copy_fraction']:.3f}, {rep['duplicate_rows']} duplicate "
                f"rows counted once, c = {rep['c']:.3g} decided by the {rep['decided_by']}"
            )
        written = ", ".join(r["written"]) or "none"
        lines.append(f"| {r['input']} | {r['exit']} | {says} | {written} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    out = preflight.study_output(__doc__, "results/reliability/bad_inputs.json", argv)
    from tqdm.auto import tqdm

    rows = [run_case(*case) for case in tqdm(CASES, desc="cases", disable=not sys.stderr.isatty())]
    store.write_json(out, {"cases": rows})
    print(markdown(rows))  # noqa: T201


if __name__ == "__main__":
    main()
