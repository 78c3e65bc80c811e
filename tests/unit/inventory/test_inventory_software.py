"""The inventory plugin gives configure.yml each host's software entries with vars and wave."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _plugin():
    spec = importlib.util.spec_from_file_location("deployment_inv", ROOT / "plugins/inventory/deployment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_software_entries_carry_role_vars_and_wave():
    doc = {
        "id": "d1",
        "plan": {
            "nodes": {"cm": {}, "condor": {"properties": {}}},
            "software": [
                {
                    "node": "cm",
                    "role": "infn.cloud.common",
                    "vars": {"common_users": []},
                    "hosts": ["cm"],
                    "wave": 0,
                },
                {
                    "node": "condor",
                    "role": "infn.cloud.htcondor",
                    "vars": {"htcondor_roles": ["submit"]},
                    "hosts": ["cm"],
                    "wave": 1,
                },
            ],
        },
        "resources": {"site": "S", "driver": "local", "nodes": {"cm": [{"name": "d1-cm-0", "index": 0}]}},
    }
    [(host, groups, hostvars)] = _plugin().hosts_from_document(doc)
    assert host == "d1-cm-0"
    entries = hostvars["infn_cloud_software"]
    assert [(e["role"], e["wave"], e["vars"]) for e in entries] == [
        ("infn.cloud.common", 0, {"common_users": []}),
        ("infn.cloud.htcondor", 1, {"htcondor_roles": ["submit"]}),
    ]
    assert "role_htcondor" in groups
