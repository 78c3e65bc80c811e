"""Fixtures of the TOSCA tests."""

from __future__ import annotations

import pytest
from prereq import require
from tosca_testlib import reference_dir


@pytest.fixture(scope="session")
def reference():
    """INFN's reference directory (templates and types). Missing: skipped, or failed under CI=true."""
    root = reference_dir()
    require(
        (root / "infn-tosca-templates").is_dir() and (root / "infn-tosca-types").is_dir(),
        f"INFN reference directory {root} with infn-tosca-templates/ and infn-tosca-types/ "
        "(set INFN_CLOUD_REFERENCE_DIR, or put it at ../shared/reference next to the checkout)",
    )
    return root


@pytest.fixture
def infn_import_map(tmp_path, reference):
    """An import map pointing at the reference types wherever they are (env or ../shared)."""
    types = reference / "infn-tosca-types"
    path = tmp_path / "map.yaml"
    path.write_text(f'imports:\n  "https://baltig.infn.it/infn-cloud/tosca-types/raw/*/": "{types}/"\n')
    return path
