"""Markdown tables of the fitted exponents in a run's summary.json (the README's tables).

python -m experiments.studies.table results/default/summary.json

Prints the tables to stdout; writes nothing.
"""

import json
from pathlib import Path

from experiments.helpers import preflight
from experiments.helpers.fits import markdown


def main(argv=None) -> None:
    parser = preflight.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Prints to stdout; writes nothing."
    )
    parser.add_argument("summary", help="a run's summary.json (rate or collect)")
    args = parser.parse_args(argv)
    path = Path(args.summary)
    if not path.is_file():
        preflight.fail(f"summary: {path} is not a file")
    print(markdown(json.loads(path.read_text())))  # noqa: T201


if __name__ == "__main__":
    main()
