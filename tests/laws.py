"""What the W1 evaluators' tests compare with: exact OT, the uniform circle, closed forms.

One definition each, shared by ``tests/idm/w1/``: POT's exact W1 between two clouds (float64),
a randomly offset equally spaced circle (a population set with no sampling noise), the radial
distance to the unit circle or sphere (1-Lipschitz), the closed-form W1 of an M-point grid
against the uniform circle, and the evaluators' small test sizes.
"""

import jax
import numpy as np
import ot

# The law evaluators' sizes in these tests.
SMALL = dict(m=2048, m_exact=512, m_fresh=1024, anchors=1024)


def exact_w1(x, y) -> float:
    """POT's exact W1 (network simplex, Euclidean cost) between two clouds, in float64."""
    cost = ot.dist(np.asarray(x, float), np.asarray(y, float), metric="euclidean")
    return float(ot.emd2([], [], cost, numItermax=10**9))


def circle_grid(key, k):
    """k equally spaced points of the unit circle at a random offset."""
    off = float(jax.random.uniform(key, ()))
    a = 2 * np.pi * (np.arange(k) + off) / k
    return np.stack([np.cos(a), np.sin(a)], 1)


def radial(x):
    """|1 - |x||: the distance to the unit circle or sphere."""
    return np.abs(1 - np.linalg.norm(x, axis=1))


def grid_w1(M):
    """W1 between M equally spaced points and the uniform circle (closed form)."""
    return 4 * M / np.pi * (1 - np.cos(np.pi / (2 * M)))
