"""End to end: sync_share deployed with its defaults on the local site: its own S3 on the VM.

No input is given, so the VM runs its own OpenStack Swift with the S3 API (infn.cloud.object_storage
inside infn.cloud.sync_share) with the keys the CLI generated, and Sync & Share uses it. The
local site cannot pull the Nextcloud image, so its registry entry sets `sync_share_start: false`
(role_vars): the deployment completes up to that documented boundary and the CLI says so. The
tests check what exists up to there, as a user or operator would: the versioned buckets on the
VM's S3 (objects written and read back with the generated keys, a wrong key refused), MariaDB
and Redis running with their credentials, the rendered configuration accepted by the tools that
consume it (`php -l`, `nginx -t`, `docker compose config`) and pointing at that S3, nginx
answering HTTPS with 502 (no application behind it), no secret in the CLI's records, and the
deployment deleted without leftovers. An external endpoint (s3_endpoint and keys as inputs) is
covered by the role's molecule scenario and the plan-time contract tests.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from conftest import assert_no_secret_in_cli_records, delete_and_assert_clean, read_secrets, s3_client

pytestmark = pytest.mark.integration


CONFIG_DIR = "/etc/infn-cloud/sync_share"
IMAGE = "docker.io/library/nextcloud:31-apache"


S3_PORT = 9000  # the role's sync_share_local_s3_port
ACCESS_KEY = "sync-share:nextcloud"  # empty s3_access_key with the VM's own Swift


@pytest.fixture(scope="module")
def share(module_cli):
    started = time.monotonic()
    rc, data = module_cli.deploy("sync_share")
    assert rc == 0, data
    print(f"sync_share with its defaults (own Swift) deployed in {time.monotonic() - started:.0f} s")
    secrets = read_secrets(module_cli, data["id"])
    endpoint = f"http://{data['nodes']['vm_server'][0]['private_ip']}:{S3_PORT}"
    return (
        module_cli,
        data,
        {"s3_endpoint": endpoint, "access_key": ACCESS_KEY, "secret_key": secrets["s3_secret_key"]},
    )


def _node(data: dict) -> str:
    return data["nodes"]["vm_server"][0]["name"]


def _exec(container: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "exec", container, "sh", "-c", command], capture_output=True, text=True)


def test_cli_reports_the_documented_boundary(share):
    cli, data, _ = share
    assert data["status"] == "CREATE_COMPLETE"
    rc, shown = cli.json("show", data["id"])
    assert rc == 0
    [line] = shown["boundaries"]
    assert line.startswith(f"sync_share on {_node(data)}: stopped before starting {IMAGE}"), line
    assert "sync_share_start: false" in line
    human = cli.run("show", data["id"]).stdout
    assert "Stopped at documented boundaries" in human and line in " ".join(human.split())


def test_buckets_exist_on_the_vms_own_s3_with_versioning(share):
    _, data, creds = share
    node = _node(data)
    active = _exec(node, "systemctl is-active swift-proxy swift-object swift-container swift-account")
    assert active.stdout.split() == ["active"] * 4, active.stdout + active.stderr
    s3 = s3_client(creds["s3_endpoint"], creds["access_key"], creds["secret_key"])
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"sync-share", "sync-share-backup"} <= names
    for bucket in ("sync-share", "sync-share-backup"):
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", bucket
    body = f"stored on the VM {time.time_ns()}".encode()
    s3.put_object(Bucket="sync-share", Key="e2e/probe.txt", Body=body)
    assert s3.get_object(Bucket="sync-share", Key="e2e/probe.txt")["Body"].read() == body
    # The objects are on the VM's Swift device, not anywhere else.
    assert _exec(node, "find /srv/node -name '*.data' | head -1").stdout.strip()
    wrong = s3_client(creds["s3_endpoint"], creds["access_key"], creds["secret_key"][::-1] + "x")
    with pytest.raises(ClientError) as refused:
        wrong.get_object(Bucket="sync-share", Key="e2e/probe.txt")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_mariadb_and_redis_run_with_their_credentials(share):
    _, data, _ = share
    node = _node(data)
    active = _exec(node, "systemctl is-active mariadb redis-server")
    assert active.stdout.split() == ["active", "active"], active.stdout + active.stderr
    db = _exec(
        node,
        f'mariadb -S /run/mysqld/mysqld.sock -u nextcloud -p"$(cat {CONFIG_DIR}/secrets/db_password)" '
        "nextcloud -N -e 'SELECT 40 + 2'",
    )
    assert db.returncode == 0 and db.stdout.strip() == "42", db.stderr
    assert _exec(
        node, "mariadb -S /run/mysqld/mysqld.sock -u nextcloud -pwrong nextcloud -e 'SELECT 1'"
    ).returncode
    sock = "/run/redis/redis-server.sock"
    pong = _exec(
        node, f'redis-cli --no-auth-warning -s {sock} -a "$(cat {CONFIG_DIR}/secrets/redis_password)" ping'
    )
    assert pong.stdout.strip() == "PONG", pong.stdout + pong.stderr
    assert "NOAUTH" in _exec(node, f"redis-cli -s {sock} ping").stdout


def test_rendered_configuration_passes_the_tools_that_consume_it(share):
    _, data, creds = share
    node = _node(data)
    nginx = _exec(node, "nginx -t")
    assert nginx.returncode == 0, nginx.stderr
    compose = _exec(
        node, f"docker compose --project-directory {CONFIG_DIR} -f {CONFIG_DIR}/compose.yaml config -q"
    )
    assert compose.returncode == 0, compose.stderr
    image = _exec(node, f"docker compose -f {CONFIG_DIR}/compose.yaml config --images").stdout.split()
    assert set(image) == {IMAGE}  # the application and its background-jobs service
    # php is not part of the host (the application brings its own): install the CLI to lint.
    install = _exec(
        node,
        "apt-get install -y -q --no-install-recommends php-cli >/dev/null 2>&1 || "
        "(apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends php-cli)",
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    path = f"{CONFIG_DIR}/infn-cloud.config.php"
    lint = _exec(node, f"php -l {path}")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    loaded = _exec(node, f"php -r 'include \"{path}\"; echo json_encode($CONFIG);'")
    assert loaded.returncode == 0, loaded.stderr
    args = json.loads(loaded.stdout)["objectstore"]["arguments"]
    host, port = creds["s3_endpoint"].removeprefix("http://").split(":")
    assert (args["bucket"], args["hostname"], args["port"], args["use_ssl"], args["use_path_style"]) == (
        "sync-share",
        host,
        int(port),
        False,
        True,
    )
    assert (args["key"], args["secret"]) == (creds["access_key"], creds["secret_key"])


def test_https_answers_without_the_application(share):
    _, data, _ = share
    ip = data["nodes"]["vm_server"][0]["private_ip"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed certificate of the deployment
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"https://{ip}/status.php", context=context, timeout=20)
    assert info.value.code == 502  # nginx runs; no Nextcloud behind it (the boundary)
    assert info.value.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_secret_in_the_cli_records(share):
    cli, data, _ = share
    secrets = read_secrets(cli, data["id"])
    assert {"s3_secret_key", "admin_password", "s3_hash_path_prefix", "s3_hash_path_suffix"} <= set(secrets)
    assert_no_secret_in_cli_records(cli, secrets)


def test_delete_leaves_nothing(share):
    cli, data, _ = share
    delete_and_assert_clean(cli, data["id"])
