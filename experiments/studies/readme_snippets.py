"""Runs the README's Python blocks, in order, in one fresh process; records what they print.

    python -m experiments.studies.readme_snippets [OUT] [--overwrite]
        (default results/checks/readme_snippets.json)

The blocks share one namespace (the later ones use the first one's ``key``, ``data``, ``M``),
as a reader pasting them into one session would. Each block's printed lines and wall time go
to the JSON, so the values the README's comments quote have a file behind them.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

from experiments.helpers import preflight, store

ROOT = Path(__file__).resolve().parents[2]


def blocks(readme: str) -> list[str]:
    """The README's ```python blocks, in order."""
    return re.findall(r"```python\n(.*?)```", readme, flags=re.S)


def main(argv=None) -> None:
    out = preflight.study_output(__doc__, "results/checks/readme_snippets.json", argv)
    namespace: dict = {}
    rows = []
    for i, code in enumerate(blocks((ROOT / "README.md").read_text())):
        buffer = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, f"README block {i}", "exec"), namespace)  # noqa: S102
        printed = buffer.getvalue().strip().splitlines()
        rows.append({"block": i, "printed": printed, "seconds": time.perf_counter() - t0})
        print(f"block {i}: {len(printed)} lines in {rows[-1]['seconds']:.1f} s")  # noqa: T201
        for line in printed:
            print("   ", line)  # noqa: T201
    store.write_json(out, {"blocks": rows})


if __name__ == "__main__":
    main()
