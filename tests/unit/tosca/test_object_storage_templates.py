"""The object storage templates plan what infn.cloud.object_storage needs (the e2e tests deploy them)."""

from __future__ import annotations

from infn_cloud.tosca import make_plan


def _storage_entries(plan: dict) -> dict:
    return {e["node"]: e for e in plan["software"] if e["role"] == "infn.cloud.object_storage"}


def test_s3_bucket_plans_one_node_with_generated_swift_secrets():
    plan = make_plan("s3_bucket", {"bucket_name": "photos", "account_name": "team", "user_name": "app"})
    assert sorted(plan["secrets_to_generate"]) == ["hash_path_prefix", "hash_path_suffix", "secret_key"]
    [entry] = _storage_entries(plan).values()
    assert entry["vars"]["object_storage_buckets"] == [{"name": "photos"}]
    assert entry["vars"]["object_storage_accounts"] == [
        {"name": "team", "access_key": "team:app", "secret_key": ""}
    ]
    assert entry["vars"]["object_storage_peers"] == []
    assert entry["vars"]["object_storage_address"] == {
        "get_attribute": ["storage_server", "private_address", 0]
    }
    assert plan["outputs"]["access_key"]["value"] == "team:app"
    assert plan["outputs"]["secret_key"]["value"] == "secret:secret_key"


def test_replication_is_one_ring_with_a_region_per_node_and_peers_by_address():
    plan = make_plan("object_storage_replication", {"buckets": [{"name": "a-bucket"}, {"name": "b-bucket"}]})
    entries = _storage_entries(plan)
    assert set(entries) == {"storage_a", "storage_b"}
    a, b = entries["storage_a"]["vars"], entries["storage_b"]["vars"]
    assert (a["object_storage_region"], b["object_storage_region"]) == (1, 2)
    assert a["object_storage_peers"] == [{"get_attribute": ["server_b", "private_address", 0]}]
    assert b["object_storage_peers"] == [{"get_attribute": ["server_a", "private_address", 0]}]
    # One cluster: the same accounts, buckets and (generated) hash secrets on both nodes.
    for key in ("object_storage_accounts", "object_storage_buckets", "object_storage_hash_path_prefix"):
        assert a[key] == b[key], key
    assert a["object_storage_buckets"] == [{"name": "a-bucket"}, {"name": "b-bucket"}]
    assert "object_storage_replication" not in a
    assert {"hash_path_prefix", "hash_path_suffix"} <= set(plan["secrets_to_generate"])


def test_given_swift_secrets_are_not_generated_again():
    given = {"hash_path_prefix": "p" * 20, "hash_path_suffix": "s" * 20, "secret_key": "k" * 20}
    plan = make_plan("object_storage_replication", given)
    assert plan["secrets_to_generate"] == []
    a = _storage_entries(plan)["storage_a"]["vars"]
    assert (a["object_storage_hash_path_prefix"], a["object_storage_hash_path_suffix"]) == (
        "p" * 20,
        "s" * 20,
    )
