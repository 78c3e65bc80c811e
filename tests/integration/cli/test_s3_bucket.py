"""End to end: s3_bucket deployed once with its defaults on the local site, used through S3.

The tests share that deployment and run in file order: the outputs a user reads, an object put
and read back through the S3 endpoint with the output credentials (boto3, as any S3 client),
a wrong secret key refused, no secret in the CLI's records, and delete leaving nothing behind.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import assert_no_secret_in_cli_records, delete_and_assert_clean, read_secrets, s3_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bucket(module_cli):
    rc, data = module_cli.deploy("s3_bucket")
    assert rc == 0, data
    rc, shown = module_cli.json("outputs", data["id"], "--show-secrets")
    assert rc == 0, shown
    return module_cli, data, shown["outputs"]


def test_outputs_name_the_endpoint_bucket_and_keys(bucket):
    cli, data, shown = bucket
    assert data["status"] == "CREATE_COMPLETE"
    ip = data["nodes"]["storage_server"][0]["private_ip"]  # local site: public = private
    rc, out = cli.json("outputs", data["id"])
    assert rc == 0
    assert out["outputs"] == {
        "s3_endpoint": f"http://{ip}:8080",
        "bucket": "data",
        "access_key": "demo:s3",
        "secret_key": "secret:secret_key",
    }
    generated = read_secrets(cli, data["id"])
    assert len(generated["secret_key"]) >= 16  # the input was empty: the CLI generated it
    assert shown["secret_key"] == generated["secret_key"]
    # Swift's hash path secrets were generated too, once, and are not outputs.
    assert {"hash_path_prefix", "hash_path_suffix"} <= set(generated)
    human = cli.run("outputs", data["id"]).stdout
    assert generated["secret_key"] not in human


def test_put_and_get_an_object_with_the_output_credentials(bucket):
    _, _, out = bucket
    s3 = s3_client(out["s3_endpoint"], out["access_key"], out["secret_key"])
    assert out["bucket"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    body = f"written through S3 {uuid.uuid4()}\n".encode()
    s3.put_object(Bucket=out["bucket"], Key="dir/hello.txt", Body=body)
    assert s3.get_object(Bucket=out["bucket"], Key="dir/hello.txt")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=out["bucket"], Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/hello.txt"]


def test_wrong_secret_key_is_refused(bucket):
    _, _, out = bucket
    good = s3_client(out["s3_endpoint"], out["access_key"], out["secret_key"])
    good.put_object(Bucket=out["bucket"], Key="kept.txt", Body=b"kept")
    wrong = s3_client(out["s3_endpoint"], out["access_key"], out["secret_key"][:-1] + "x")
    for call in (
        lambda: wrong.get_object(Bucket=out["bucket"], Key="kept.txt"),
        lambda: wrong.put_object(Bucket=out["bucket"], Key="kept.txt", Body=b"overwritten"),
        lambda: wrong.list_objects_v2(Bucket=out["bucket"]),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert good.get_object(Bucket=out["bucket"], Key="kept.txt")["Body"].read() == b"kept"


def test_no_secret_in_the_cli_records(bucket):
    cli, data, _ = bucket
    secrets = read_secrets(cli, data["id"])
    assert_no_secret_in_cli_records(cli, secrets)


def test_delete_leaves_nothing(bucket):
    cli, data, _ = bucket
    delete_and_assert_clean(cli, data["id"])
