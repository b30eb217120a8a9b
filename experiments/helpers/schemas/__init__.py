"""Typed, immutable schemas of the experiment apps (plain dataclasses, no Hydra), one module each.

* :mod:`~experiments.helpers.schemas.common`: the name lists (``METHODS``, ``MANIFOLDS``, ...),
  the sampler settings (:class:`SamplerConfig`, shared by the rate and generate apps) and the
  trained network (:class:`TrainedConfig`, shared by the rate and trade-off apps);
* :mod:`~experiments.helpers.schemas.evaluators`: one schema per W1 evaluator of the rate app,
  selected by its ``evaluator`` group;
* :mod:`~experiments.helpers.schemas.rate` (:class:`RunConfig`),
  :mod:`~experiments.helpers.schemas.generate` (:class:`GenerateConfig`),
  :mod:`~experiments.helpers.schemas.tradeoff` (:class:`TradeoffConfig`),
  :mod:`~experiments.helpers.schemas.crossover` (:class:`CrossoverConfig`) and
  :mod:`~experiments.helpers.schemas.bench` (:class:`BenchConfig`): one per app, the schema of
  its config root ``conf/<app>/``.

Each app registers its schema with Hydra's ConfigStore, so every YAML value and override is
type-checked at composition, and ``OmegaConf.to_object`` builds the frozen dataclasses, whose
``__post_init__`` checks the values before anything runs. The names are re-exported here.
"""

from experiments.helpers.schemas.common import (
    BANDWIDTH_METHODS,
    DATA_SUFFIXES,
    INERTIAS,
    MANIFOLDS,
    METHODS,
    PRECISIONS,
    SOLVERS,
    SamplerConfig,
    TrainedConfig,
)
from experiments.helpers.schemas.crossover import CrossoverConfig
from experiments.helpers.schemas.evaluators import (
    EVALUATORS,
    LAW_EVALUATORS,
    REFERENCES,
    BracketEvaluator,
    EvaluatorConfig,
    ExactEvaluator,
    ExtrapolatedEvaluator,
    SemidiscreteEvaluator,
    SinkhornEvaluator,
)
from experiments.helpers.schemas.generate import GenerateConfig
from experiments.helpers.schemas.rate import (
    AUTO_METHODS,
    RATE_METHODS,
    FitConfig,
    ManifoldConfig,
    MethodConfig,
    RunConfig,
    SweepConfig,
)
from experiments.helpers.schemas.tradeoff import TradeoffConfig

__all__ = [
    "AUTO_METHODS",
    "BANDWIDTH_METHODS",
    "DATA_SUFFIXES",
    "EVALUATORS",
    "INERTIAS",
    "LAW_EVALUATORS",
    "MANIFOLDS",
    "METHODS",
    "PRECISIONS",
    "RATE_METHODS",
    "REFERENCES",
    "SOLVERS",
    "BracketEvaluator",
    "CrossoverConfig",
    "EvaluatorConfig",
    "ExactEvaluator",
    "ExtrapolatedEvaluator",
    "FitConfig",
    "GenerateConfig",
    "ManifoldConfig",
    "MethodConfig",
    "RunConfig",
    "SamplerConfig",
    "SemidiscreteEvaluator",
    "SinkhornEvaluator",
    "SweepConfig",
    "TradeoffConfig",
    "TrainedConfig",
]
