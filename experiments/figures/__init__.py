"""Figures drawn only from saved results: one module per experiment, one shared style.

* :mod:`experiments.figures.style`: the palette, markers, panel titles and axis helpers every
  figure shares (colours are set here and nowhere else);
* :mod:`experiments.figures.rate`: the rate app's figures (rate, d_independence,
  memorization, crossover), from rows and the summary's fit table;
* :mod:`experiments.figures.tradeoff`: the trade-off app's figures (tradeoff, samples).

``python -m experiments.plots DIR`` redraws a run directory's figures from its files.
"""
