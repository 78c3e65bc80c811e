"""Fixtures of the TOSCA tests."""

from __future__ import annotations

import pytest
from tosca_testlib import reference_dir


@pytest.fixture
def infn_import_map(tmp_path):
    """An import map pointing at the reference types wherever they are (env or ../shared)."""
    types = reference_dir() / "infn-tosca-types"
    if not types.is_dir():
        pytest.skip(f"INFN reference types not found at {types} (set INFN_CLOUD_REFERENCE_DIR)")
    path = tmp_path / "map.yaml"
    path.write_text(f'imports:\n  "https://baltig.infn.it/infn-cloud/tosca-types/raw/*/": "{types}/"\n')
    return path
