"""Make infn.cloud's module_utils importable as ansible_collections.infn.cloud.* in unit tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infn_cloud.paths import collections_path, ensure_collection_link

ensure_collection_link()
if str(collections_path()) not in sys.path:
    sys.path.insert(0, str(collections_path()))

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_json():
    def load(name: str) -> dict:
        return json.loads((FIXTURES / name).read_text())

    return load
