"""End to end: object_storage_replication with both regions on ONE site (site_a = site_b).

Its default (one region on each backbone site) is tested by test_backbone.py; this module keeps
the single-site form a user gets by naming one site for both inputs. Two storage nodes, one
Swift ring with one region per node, on LOCAL-BACKBONE only. The tests share that deployment:
the outputs, an object written through region A's S3 endpoint read through region B's (and the
other way), and delete leaving nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from conftest import delete_and_assert_clean, read_secrets, s3_client

pytestmark = pytest.mark.integration

SITE = "LOCAL-BACKBONE"


@pytest.fixture(scope="module")
def replicated(module_cli):
    rc, data = module_cli.deploy(
        "object_storage_replication", "--set", f"site_a={SITE}", "--set", f"site_b={SITE}"
    )
    assert rc == 0, data
    assert data["site"] == SITE and {n[0].get("site", SITE) for n in data["nodes"].values()} <= {SITE}, data
    rc, shown = module_cli.json("outputs", data["id"], "--show-secrets")
    assert rc == 0, shown
    return module_cli, data, shown["outputs"]


def test_outputs_name_one_endpoint_per_region(replicated):
    cli, data, out = replicated
    assert data["status"] == "CREATE_COMPLETE"
    ip_a = data["nodes"]["server_a"][0]["private_ip"]
    ip_b = data["nodes"]["server_b"][0]["private_ip"]
    assert ip_a != ip_b
    assert out["s3_endpoint_a"] == f"http://{ip_a}:8080"
    assert out["s3_endpoint_b"] == f"http://{ip_b}:8080"
    assert out["access_key"] == "demo:s3"
    assert out["secret_key"] == read_secrets(cli, data["id"])["secret_key"]


def _ring_regions(container: str) -> dict:
    """{region: devices} of the object ring as the node's own Swift reads it."""
    code = (
        "import json; from swift.common.ring import Ring; r = Ring('/etc/swift', ring_name='object'); "
        "print(json.dumps({'replicas': r.replica_count, "
        "'regions': sorted({d['region'] for d in r.devs if d}), "
        "'ips': sorted({d['ip'] for d in r.devs if d})}))"
    )
    out = subprocess.run(
        ["podman", "exec", container, "python3", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_both_nodes_share_one_ring_with_a_region_each(replicated):
    _, data, _ = replicated
    nodes = [data["nodes"][n][0] for n in ("server_a", "server_b")]
    rings = [_ring_regions(n["name"]) for n in nodes]
    expected = {"replicas": 2, "regions": [1, 2], "ips": sorted(n["private_ip"] for n in nodes)}
    assert rings == [expected, expected]


def test_written_at_region_a_is_read_at_region_b(replicated):
    _, _, out = replicated
    at_a = s3_client(out["s3_endpoint_a"], out["access_key"], out["secret_key"])
    at_b = s3_client(out["s3_endpoint_b"], out["access_key"], out["secret_key"])
    assert [b["Name"] for b in at_b.list_buckets()["Buckets"]] == ["data"]
    body = f"written at A {uuid.uuid4()}\n".encode()
    at_a.put_object(Bucket="data", Key="from-a.txt", Body=body)
    # The proxy writes one replica per region before answering: readable at B at once.
    assert at_b.get_object(Bucket="data", Key="from-a.txt")["Body"].read() == body
    body_b = f"written at B {uuid.uuid4()}\n".encode()
    at_b.put_object(Bucket="data", Key="from-b.txt", Body=body_b)
    assert at_a.get_object(Bucket="data", Key="from-b.txt")["Body"].read() == body_b


def test_delete_leaves_nothing(replicated):
    cli, data, _ = replicated
    delete_and_assert_clean(cli, data["id"])
