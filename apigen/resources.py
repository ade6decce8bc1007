"""Locate the data directories (`templates/`, `schemas/`) in a wheel or in a source checkout.

The wheel ships them inside the package (``apigen/templates``); a checkout or an editable install
has them at the top level of the repository, next to ``apigen/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"apigen data directory {name!r} not found next to {_PACKAGE_DIR}")


def schema_path(name: str = "policy.schema.json") -> Path:
    return data_dir("schemas") / name


def templates_dir() -> Path:
    return data_dir("templates")
