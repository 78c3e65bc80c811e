"""What a user of a two-site object store checks: S3 at either site, one namespace, data at both sites."""

import json
import uuid

import pytest
import testinfra

# Every test drives both sites itself; run each test once.
testinfra_hosts = ["objstore-a"]

S3_PORT = 8080
# An object written at one site must be readable at the other within this many seconds.
REPLICATION_BOUND = 30
INFN = {"ak": "infn:sync", "sk": "s3cr3t-Molecule-Key"}
OTHER = {"ak": "other:reader", "sk": "another-Secret"}

# Runs inside a site's container against that site's own S3 endpoint (boto3 is installed by
# the role for amazon.aws.s3_bucket), so every request really crosses the site's proxy.
# Op "stored" asks the object ring where an object lives and HEADs the object server of the
# given region directly (no proxy): it proves the bytes sit on that site's disk.
S3_CLIENT = r"""
import http.client, json, sys
import boto3, botocore
from botocore.config import Config
from swift.common.ring import Ring

def stored(a):
    account, region = "AUTH_" + a["ak"].split(":")[0], a["region"]
    part, nodes = Ring("/etc/swift", ring_name="object").get_nodes(account, a["bucket"], a["key"])
    node = next(n for n in nodes if n["region"] == region)
    conn = http.client.HTTPConnection(node["ip"], node["port"], timeout=5)
    conn.request("HEAD", "/%s/%d/%s/%s/%s" % (node["device"], part, account, a["bucket"], a["key"]))
    return {"status": conn.getresponse().status}

results = []
for a in json.loads(sys.argv[1]):
    c = boto3.client("s3", endpoint_url="http://127.0.0.1:" + sys.argv[2], aws_access_key_id=a["ak"],
                     aws_secret_access_key=a["sk"], region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    op = a["op"]
    try:
        if op == "put":
            out = {"etag": c.put_object(Bucket=a["bucket"], Key=a["key"], Body=a["body"].encode())["ETag"]}
        elif op == "get":
            out = {"body": c.get_object(Bucket=a["bucket"], Key=a["key"])["Body"].read().decode()}
        elif op == "delete":
            c.delete_object(Bucket=a["bucket"], Key=a["key"])
            out = {}
        elif op == "buckets":
            out = {"buckets": sorted(b["Name"] for b in c.list_buckets()["Buckets"])}
        elif op == "list":
            out = {"keys": [o["Key"] for o in c.list_objects_v2(Bucket=a["bucket"]).get("Contents", [])]}
        elif op == "stored":
            out = stored(a)
        results.append(dict(ok=True, **out))
    except botocore.exceptions.ClientError as e:
        results.append({"ok": False, "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                        "code": e.response["Error"]["Code"]})
print(json.dumps(results))
"""


def _site(name):
    # podman exec: an order of magnitude faster than the ansible backend for many small calls.
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def site_a():
    return _site("objstore-a")


@pytest.fixture(scope="module")
def site_b():
    return _site("objstore-b")


def s3_batch(site, *ops):
    """Run several S3 requests in one container exec (each exec costs seconds on a busy host)."""
    requests = json.dumps([dict(creds, op=op, **kw) for creds, op, kw in ops])
    result = site.run("python3 -c %s %s %s", S3_CLIENT, requests, str(S3_PORT))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def s3(site, creds, op, **kwargs):
    return s3_batch(site, (creds, op, kwargs))[0]


def fresh_key():
    return f"molecule/{uuid.uuid4().hex}.txt"


def test_every_swift_service_runs_at_both_sites(site_a, site_b):
    for site in (site_a, site_b):
        listening = site.check_output("ss -Htln")
        for port in (S3_PORT, 6200, 6201, 6202, 873):
            assert f"0.0.0.0:{port} " in listening, (site.backend.hostname, port, listening)
        health = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{S3_PORT}/healthcheck').read().decode())"
        assert site.check_output("python3 -c %s", health) == "OK"


def test_one_ring_with_a_replica_of_every_partition_at_each_site(site_a, site_b):
    check = (
        "from swift.common.ring import Ring\n"
        "r = Ring('/etc/swift', ring_name='object')\n"
        "print(sorted({tuple(sorted(n['region'] for n in r.get_part_nodes(p)))\n"
        "              for p in range(r.partition_count)}))"
    )
    assert site_a.check_output("python3 -c %s", check) == "[(1, 2)]"
    for ring in ("account", "container", "object"):
        path = f"/etc/swift/{ring}.ring.gz"
        assert site_a.file(path).sha256sum == site_b.file(path).sha256sum, ring


def test_buckets_exist_at_both_sites_and_accounts_are_isolated(site_a, site_b):
    for site in (site_a, site_b):
        infn, other, denied = s3_batch(
            site,
            (INFN, "buckets", {}),
            (OTHER, "buckets", {}),
            (OTHER, "get", {"bucket": "replicated", "key": "anything"}),
        )
        assert infn == {"ok": True, "buckets": ["replicated"]}
        assert other == {"ok": True, "buckets": ["scratch"]}
        # Swift keeps one bucket namespace per account: another account's bucket does not exist.
        assert (denied["ok"], denied["status"], denied["code"]) == (False, 404, "NoSuchBucket")


def test_write_at_a_is_readable_at_b_and_stored_on_b_disk(site_a, site_b, wait):
    key = fresh_key()
    obj = {"bucket": "replicated", "key": key}
    assert s3(site_a, INFN, "put", body="hello from site A", **obj)["ok"]

    def visible_at_b():
        got, on_disk, listing = s3_batch(
            site_b, (INFN, "get", obj), (INFN, "stored", dict(obj, region=2)), (INFN, "list", obj)
        )
        assert got.get("body") == "hello from site A", got
        assert on_disk["status"] == 200, "not on site B's disk"
        assert key in listing["keys"], "not in site B's listing"
        return True

    wait(visible_at_b, timeout=REPLICATION_BOUND, what="the object written at A to be readable at B")
    assert s3(site_a, INFN, "stored", region=1, **obj)["status"] == 200


def _wait_for_body(wait, site, key, body, what):
    """Wait (up to REPLICATION_BOUND) until ``site`` serves ``body`` for ``key`` in the replicated bucket."""
    wait(
        lambda: s3(site, INFN, "get", bucket="replicated", key=key).get("body") == body,
        timeout=REPLICATION_BOUND,
        what=what,
    )


def test_write_at_b_is_readable_at_a(site_a, site_b, wait):
    key = fresh_key()
    assert s3(site_b, INFN, "put", bucket="replicated", key=key, body="hello from site B")["ok"]
    _wait_for_body(wait, site_a, key, "hello from site B", "the object written at B to be readable at A")


def test_overwrite_at_a_replicates_to_b(site_a, site_b, wait):
    key = fresh_key()
    assert s3(site_a, INFN, "put", bucket="replicated", key=key, body="version 1")["ok"]
    _wait_for_body(wait, site_b, key, "version 1", "version 1 at B")
    assert s3(site_a, INFN, "put", bucket="replicated", key=key, body="version 2, longer")["ok"]
    _wait_for_body(wait, site_b, key, "version 2, longer", "the overwrite at A to reach B")


def test_delete_at_a_replicates_to_b(site_a, site_b, wait):
    key = fresh_key()
    obj = {"bucket": "replicated", "key": key}
    assert s3(site_a, INFN, "put", body="short-lived", **obj)["ok"]
    _wait_for_body(wait, site_b, key, "short-lived", "the object at B")
    assert s3(site_a, INFN, "delete", **obj)["ok"]

    def gone_at_b():
        got, on_disk, listing = s3_batch(
            site_b, (INFN, "get", obj), (INFN, "stored", dict(obj, region=2)), (INFN, "list", obj)
        )
        assert got.get("code") == "NoSuchKey", got
        assert on_disk["status"] == 404, "still on site B's disk"
        assert key not in listing["keys"], "still in site B's listing"
        return True

    wait(gone_at_b, timeout=REPLICATION_BOUND, what="the delete at A to reach B")


@pytest.mark.parametrize(
    ("creds", "expected_code"),
    [
        ({"ak": "infn:sync", "sk": "not-the-secret"}, "SignatureDoesNotMatch"),
        # tempauth answers an unknown access key like a bad signature (no user enumeration).
        ({"ak": "infn:nobody", "sk": "s3cr3t-Molecule-Key"}, "SignatureDoesNotMatch"),
    ],
    ids=["wrong-secret", "unknown-access-key"],
)
def test_wrong_key_is_refused_at_both_sites(site_a, site_b, creds, expected_code):
    key = fresh_key()
    assert s3(site_a, INFN, "put", bucket="replicated", key=key, body="secret data")["ok"]
    target = {"bucket": "replicated", "key": key}
    for site in (site_a, site_b):
        *refused, intact = s3_batch(
            site,
            (creds, "get", target),
            (creds, "put", dict(target, body="overwrite attempt")),
            (creds, "delete", target),
            (creds, "buckets", {}),
            (INFN, "get", target),
        )
        for answer in refused:
            assert (answer["ok"], answer["status"], answer["code"]) == (False, 403, expected_code), refused
        assert intact == {"ok": True, "body": "secret data"}
