"""Strict JSON (RFC 8259), as parsers other than Python's read it: no NaN, no Infinity."""

import json
from pathlib import Path


def _reject(token: str):
    raise ValueError(f"{token} is not JSON (RFC 8259)")


def loads(text: str):
    """``json.loads`` that raises on the NaN, Infinity and -Infinity tokens Python accepts."""
    return json.loads(text, parse_constant=_reject)


def check_tree(root: str | Path) -> list[Path]:
    """Parses every ``*.json`` under ``root`` strictly; returns the files read.

    Raises:
        ValueError: naming the first file that is not strict JSON.
    """
    files = sorted(Path(root).rglob("*.json"))
    for path in files:
        try:
            loads(path.read_text())
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
    return files
