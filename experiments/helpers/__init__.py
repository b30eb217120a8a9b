"""Helpers of the experiment apps: schemas, start-up checks, storage, rows, fits, cells."""
