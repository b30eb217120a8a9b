"""Alias of :mod:`idm.w1.semidiscrete` (moved there; this name stays for one release)."""

from idm.w1.semidiscrete import *  # noqa: F403
from idm.w1.semidiscrete import __all__  # noqa: F401
