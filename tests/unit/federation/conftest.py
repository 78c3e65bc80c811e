"""Shared fixtures: the repo's registries, a plan fixture, and a registry builder for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PLANS = ROOT / "tests" / "fixtures" / "plans"


@pytest.fixture
def plan() -> dict:
    return json.loads((PLANS / "htcondor_cluster.json").read_text())


@pytest.fixture
def local_registry_path() -> Path:
    return ROOT / "inventories" / "local"


@pytest.fixture
def infn_registry_path() -> Path:
    return ROOT / "inventories" / "infn-cloud"


@pytest.fixture
def make_registry(tmp_path):
    """make_registry({name: site_dict_or_text}, federation=dict) -> registry directory."""

    def make(sites: dict, federation: dict | None = None) -> Path:
        root = tmp_path / "reg"
        (root / "sites").mkdir(parents=True, exist_ok=True)
        if federation is not None:
            (root / "federation.yml").write_text(yaml.safe_dump(federation))
        for name, content in sites.items():
            text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
            (root / "sites" / f"{name}.yml").write_text(text)
        return root

    return make
