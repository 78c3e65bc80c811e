"""`python -m infn_cloud.deploy.provision remove-instances`, the removal step of playbooks/update.yml:
which instances it hands to the site's driver, and its errors (a fake driver: the local driver's
own remove_instances is exercised by tests/integration/awx/test_update_scale.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infn_cloud.federation.drivers as drivers
from infn_cloud.deploy import provision
from infn_cloud.errors import EXIT_USAGE

REGISTRY = str(Path(__file__).resolve().parents[3] / "inventories" / "local")


class FakeDriver:
    def __init__(self, names):
        self.names = names
        self.removed = None

    def describe(self, deployment_id):
        return {"nodes": {"worker": [{"name": n, "index": i} for i, n in enumerate(self.names)]}}

    def remove_instances(self, deployment_id, instances, progress=None):
        self.removed = list(instances)
        return [f"container/{n}" for n in instances]


@pytest.fixture
def fake(monkeypatch):
    driver = FakeDriver(["d-worker-0", "d-worker-1", "d-worker-2"])
    monkeypatch.setattr(drivers, "site_driver", lambda registry, name, **kw: driver)
    return driver


def _run(capsys, *args):
    code = provision.main(["remove-instances", "--registry", REGISTRY, "--deployment-id", "d", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_named_instances_are_removed(fake, capsys):
    code, result, _ = _run(capsys, "--site", "LOCAL-BACKBONE", "--instance", "d-worker-0")
    assert code == 0
    assert fake.removed == ["d-worker-0"]
    assert result == {"changed": True, "removed": ["container/d-worker-0"]}


def test_all_but_removes_what_a_failed_update_added(fake, capsys):
    code, result, _ = _run(
        capsys, "--site", "LOCAL-BACKBONE", "--all-but", "d-worker-0", "--all-but", "d-worker-1"
    )
    assert code == 0 and fake.removed == ["d-worker-2"]
    assert result["removed"] == ["container/d-worker-2"]


def test_all_but_every_instance_removes_nothing(fake, capsys):
    keep = [a for n in fake.names for a in ("--all-but", n)]
    code, result, _ = _run(capsys, "--site", "LOCAL-BACKBONE", *keep)
    assert code == 0 and fake.removed is None and result == {"changed": False, "removed": []}


def test_an_unknown_site_is_an_error_naming_it(fake, capsys):
    code, result, err = _run(capsys, "--site", "NOWHERE", "--instance", "d-worker-0")
    assert code == EXIT_USAGE and result is None  # as delete's unknown site
    assert "site NOWHERE is not in the registry" in err and fake.removed is None


def test_instances_or_all_but_is_required(capsys):
    with pytest.raises(SystemExit) as exc:
        provision.main(["remove-instances", "--site", "LOCAL-BACKBONE", "--deployment-id", "d"])
    assert exc.value.code == 2
    assert "one of the arguments --instance --all-but is required" in capsys.readouterr().err
