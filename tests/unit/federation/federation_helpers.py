"""Helpers shared by the federation unit tests (unique module name: tests dirs have no __init__)."""

from __future__ import annotations

import copy


def base_site(name: str, **overrides) -> dict:
    site = {
        "name": name,
        "kind": "federated",
        "driver": "local",
        "enabled": True,
        "sla_priority": 50,
        "regions": ["r1"],
        "identity_providers": {"idp": {"users": "proj"}},
        "quotas": {
            "instances": 10,
            "cores": 40,
            "ram_mb": 81920,
            "volumes": 10,
            "volume_gb": 500,
            "public_ips": 5,
        },
        "flavors": [
            {"name": "s", "vcpus": 1, "ram_mb": 1024, "disk_gb": 10},
            {"name": "m", "vcpus": 2, "ram_mb": 4096, "disk_gb": 20},
            {"name": "l", "vcpus": 4, "ram_mb": 8192, "disk_gb": 40},
        ],
        "images": [
            {"distribution": "debian", "versions": ["13", "trixie"], "image": "deb13", "default": True}
        ],
        "capabilities": {"gpu_models": [], "object_storage": False, "replicated_object_storage": False},
    }
    for key, value in overrides.items():
        site[key] = copy.deepcopy(value)
    return site
