"""Sizes inside a traced computation, for the tests that a kernel streams."""

import numpy as np


def max_intermediate(jaxpr):
    """Largest number of elements of any value inside a jaxpr, sub-jaxprs included."""
    best = 0
    for eqn in jaxpr.eqns:
        for v in list(eqn.outvars) + [v for v in eqn.invars if hasattr(v, "aval")]:
            shape = getattr(v.aval, "shape", ())
            best = max(best, int(np.prod(shape)) if shape else 1)
        for p in eqn.params.values():
            subs = p if isinstance(p, tuple | list) else [p]
            for sub in subs:
                if hasattr(sub, "jaxpr"):
                    best = max(best, max_intermediate(getattr(sub.jaxpr, "jaxpr", sub.jaxpr)))
                elif hasattr(sub, "eqns"):
                    best = max(best, max_intermediate(sub))
    return best
