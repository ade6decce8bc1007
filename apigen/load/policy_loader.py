"""Read the policy file: plain data, source positions and a content digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apigen.diagnostics import Diagnostics, Position
from apigen.load.yaml_positions import (
    PositionMap,
    YamlLoadError,
    check_inner_bom,
    load_yaml_with_positions,
    read_text,
)


@dataclass(frozen=True)
class PolicySource:
    path: Path  # absolute
    display: str  # as the user named it, for messages
    data: dict[str, Any]
    positions: PositionMap
    digest: str  # sha256 of the file's bytes

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def pos(self, *path: object, key: bool = False) -> Position:
        return self.positions.at(path, key=key)  # type: ignore[arg-type]


def load_policy(path: Path, diags: Diagnostics, display: str | None = None) -> PolicySource | None:
    display = display if display is not None else str(path)
    try:
        text = read_text(path, display)
        check_inner_bom(text, display)
        data, positions = load_yaml_with_positions(text, display)
    except YamlLoadError as exc:
        diags.error(exc.message, exc.position)
        return None
    if data is None:
        diags.error("the policy file is empty", Position(display, 1, 1))
        return None
    if not isinstance(data, dict):
        diags.error("the policy file must be a mapping at the top level", Position(display, 1, 1))
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return PolicySource(path.resolve(), display, data, positions, digest)
