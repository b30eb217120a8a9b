"""One-off studies behind results/ (each a script: python -m experiments.studies.NAME)."""
