"""Markdown tables of the fitted exponents in a run's summary.json (the README's tables).

python -m experiments.studies.table results/default/summary.json
"""

import json
import sys

from experiments.helpers.fits import markdown

if __name__ == "__main__":
    print(markdown(json.loads(open(sys.argv[1]).read())))  # noqa: T201
