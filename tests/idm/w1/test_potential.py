"""The c-transform of a potential on anchors and its certified mean (idm.w1.potential)."""

import numpy as np

from idm.w1 import law


def test_c_transform_allowance_brackets_the_float64_value(key):
    rng = np.random.default_rng(1)
    z, a, p = rng.normal(size=(500, 3)), rng.normal(size=(300, 3)), rng.normal(size=300)
    exact = np.mean(np.min(np.linalg.norm(z[:, None] - a[None], axis=-1) - p, axis=1))
    lo = law.c_transform_mean(z, a, p, side="low")
    hi = law.c_transform_mean(z, a, p, side="high")
    assert lo <= exact <= hi
    assert hi - lo < 1e-4  # 16 float32 roundings of numbers below S ~ 15 here
