"""Helpers for the TOSCA tests: where INFN's reference templates live."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(__file__).parent / "corpus"


def reference_dir() -> Path:
    return Path(os.environ.get("INFN_CLOUD_REFERENCE_DIR") or REPO.parent / "shared" / "reference")


def infn_templates() -> list[Path]:
    root = reference_dir() / "infn-tosca-templates"
    return sorted(root.rglob("*.yaml")) if root.is_dir() else []


def fill_required(required: list[dict]) -> dict:
    """Values for the inputs INFN templates leave without default (first valid value, else by type)."""
    by_type = {"string": "value", "integer": 1, "boolean": False, "scalar-unit.size": "10 GB", "float": 1.0}
    values = {}
    for entry in required:
        valid = [
            c["valid_values"] for c in entry["constraints"] if isinstance(c, dict) and "valid_values" in c
        ]
        values[entry["name"]] = valid[0][0] if valid else by_type.get(entry["type"], "value")
    return values
