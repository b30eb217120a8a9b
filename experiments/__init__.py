"""Hydra entry points and figures for the idm experiments (not part of the library)."""
