"""idm: the inertial diffusion model of Lyu, Qian, Nguyen and Tong (arXiv 2505.02508)."""

from idm import schedule, score
from idm.samplers import sample

__all__ = ["sample", "schedule", "score"]
