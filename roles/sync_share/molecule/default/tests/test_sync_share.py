"""What an operator of the sync and share service relies on, checked on the real services.

Stops where this machine stops: no container image can be pulled, so Nextcloud itself does
not run. Everything it depends on does: the buckets on a real Swift/S3, MariaDB, Redis, the
TLS proxy, the backup job; the compose file and config.php are checked by their own tools.
"""

import json

import pytest

testinfra_hosts = ["syncshare-app"]

CONFIG_DIR = "/etc/infn-cloud/sync_share"
ENDPOINT = "http://syncshare-s3:8080"
ACCESS_KEY = "syncshare:app"
SECRET_KEY = "Molecule-S3-Secret-9f3"  # noqa: S105 - the scenario's test-only key
HOSTNAME = "data.syncshare.test"

S3_CLIENT = f"""
import boto3, json, sys
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url={ENDPOINT!r}, aws_access_key_id={ACCESS_KEY!r},
                  aws_secret_access_key={SECRET_KEY!r}, region_name="us-east-1",
                  config=Config(s3={{"addressing_style": "path"}}))
"""


def s3(host, code):
    """Run boto3 code on the app host (where the role installed boto3); return its JSON output."""
    out = host.check_output("python3 -c %s", S3_CLIENT + code)
    return json.loads(out)


def secret(host, name):
    with host.sudo():
        return host.file(f"{CONFIG_DIR}/secrets/{name}").content_string.strip()


def test_both_buckets_exist_with_versioning_enabled(host):
    status = s3(
        host,
        'print(json.dumps({b: s3.get_bucket_versioning(Bucket=b).get("Status") '
        'for b in ("syncshare-data", "syncshare-backup")}))',
    )
    assert status == {"syncshare-data": "Enabled", "syncshare-backup": "Enabled"}


def test_overwritten_object_keeps_its_previous_version(host):
    versions = s3(
        host,
        'k = "molecule/versioned.txt"\n'
        's3.put_object(Bucket="syncshare-data", Key=k, Body=b"first")\n'
        's3.put_object(Bucket="syncshare-data", Key=k, Body=b"second")\n'
        'vs = s3.list_object_versions(Bucket="syncshare-data", Prefix=k).get("Versions", [])\n'
        'get = lambda v: s3.get_object(Bucket="syncshare-data", Key=k, VersionId=v["VersionId"])\n'
        'bodies = [get(v)["Body"].read().decode() for v in vs]\n'
        'for v in vs: s3.delete_object(Bucket="syncshare-data", Key=k, VersionId=v["VersionId"])\n'
        "print(json.dumps(bodies))",
    )
    assert sorted(versions) == ["first", "second"]


def test_compose_file_is_valid_and_wires_the_host_services(host):
    with host.sudo():
        out = host.check_output(
            f"docker compose --project-directory {CONFIG_DIR} -f {CONFIG_DIR}/compose.yaml "
            "config --format json"
        )
    project = json.loads(out)
    app = project["services"]["app"]
    assert app["image"] == "docker.io/library/nextcloud:31-apache"
    assert app["ports"] == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080", "protocol": "tcp"}
    ]
    mounts = {m["target"]: m for m in app["volumes"]}
    assert mounts["/var/www/html/config/infn-cloud.config.php"]["read_only"] is True
    assert mounts["/run/mysqld"]["source"] == "/run/mysqld"
    assert mounts["/run/redis"]["source"] == "/run/redis"
    env = app["environment"]
    assert env["MYSQL_HOST"] == "localhost:/run/mysqld/mysqld.sock"
    assert env["MYSQL_PASSWORD"] == secret(host, "db_password")
    assert env["NEXTCLOUD_ADMIN_PASSWORD"] == "Adm1n'Pa$$\\word"  # noqa: S105 - converge.yml's test value
    assert project["services"]["cron"]["entrypoint"] == ["/cron.sh"]


def test_compose_validation_rejects_a_broken_file(host):
    # The validator the role uses must be able to fail, or the check above proves nothing.
    with host.sudo():
        result = host.run(
            "printf 'services:\\n  app:\\n    imagex: x\\n' > /tmp/broken-compose.yaml && "
            "docker compose -f /tmp/broken-compose.yaml config --quiet"
        )
    assert result.rc != 0
    assert "imagex" in result.stderr


@pytest.mark.parametrize(
    "path", ["compose.yaml", "sync_share.env", "rclone.conf", "secrets/db_password", "secrets/redis_password"]
)
def test_secret_bearing_files_are_root_only(host, path):
    with host.sudo():
        f = host.file(f"{CONFIG_DIR}/{path}")
        assert f.exists
        assert f.user == "root"
        assert f.mode == 0o600
        assert host.file(CONFIG_DIR).mode == 0o700


def test_config_php_parses_and_points_at_the_bucket_and_redis(host):
    path = f"{CONFIG_DIR}/infn-cloud.config.php"
    with host.sudo():
        f = host.file(path)
        assert f.mode == 0o600 and f.uid == 33
        lint = host.run(f"php -l {path}")
        assert lint.rc == 0, lint.stdout + lint.stderr
        assert f.content_string.startswith("<?php"), "output before <?php breaks HTTP headers"
        config = json.loads(host.check_output("php -r %s", f'include "{path}"; echo json_encode($CONFIG);'))
    args = config["objectstore"]["arguments"]
    assert config["objectstore"]["class"] == "\\OC\\Files\\ObjectStore\\S3"
    assert (args["bucket"], args["hostname"], args["port"], args["use_ssl"]) == (
        "syncshare-data",
        "syncshare-s3",
        8080,
        False,
    )
    assert (args["key"], args["secret"], args["use_path_style"]) == (ACCESS_KEY, SECRET_KEY, True)
    assert args["autocreate"] is False
    assert config["redis"] == {
        "host": "/run/redis/redis-server.sock",
        "port": 0,
        "password": secret(host, "redis_password"),
    }
    assert config["memcache.locking"] == "\\OC\\Memcache\\Redis"
    assert config["trusted_domains"] == [HOSTNAME]
    assert config["overwriteprotocol"] == "https"
    assert config["user_oidc"]["auto_provision"] is True


def test_mariadb_accepts_the_application_credentials_only(host):
    assert host.service("mariadb").is_running
    assert host.service("mariadb").is_enabled
    password = secret(host, "db_password")
    ok = host.run(
        "mariadb -S /run/mysqld/mysqld.sock -u nextcloud -p%s nextcloud -N -e %s",
        password,
        "CREATE TABLE molecule_probe (id INT); INSERT INTO molecule_probe VALUES (42); "
        "SELECT id FROM molecule_probe; DROP TABLE molecule_probe;",
    )
    assert ok.rc == 0, ok.stderr
    assert ok.stdout.strip() == "42"
    denied = host.run("mariadb -S /run/mysqld/mysqld.sock -u nextcloud -pwrong nextcloud -e 'SELECT 1'")
    assert denied.rc != 0
    other_db = host.run("mariadb -S /run/mysqld/mysqld.sock -u nextcloud -p%s mysql -e 'SELECT 1'", password)
    assert other_db.rc != 0


def test_mariadb_and_redis_listen_on_loopback_only(host):
    with host.sudo():
        listeners = host.check_output("ss -Hltn")
    local = [line.split()[3] for line in listeners.splitlines()]
    for port in (":3306", ":6379"):
        bound = [addr for addr in local if addr.endswith(port)]
        assert bound, f"nothing listens on {port}"
        assert all(addr.startswith(("127.0.0.1", "[::1]")) for addr in bound), bound


def test_redis_requires_the_configured_password(host):
    assert host.service("redis-server").is_running
    sock = "/run/redis/redis-server.sock"
    assert (
        host.check_output(
            "redis-cli --no-auth-warning -s %s -a %s ping", sock, secret(host, "redis_password")
        )
        == "PONG"
    )
    assert "NOAUTH" in host.run("redis-cli -s %s ping", sock).stdout
    assert oct(host.file(sock).mode) == oct(0o777)


def test_nginx_terminates_tls_and_redirects_http(host):
    with host.sudo():
        assert host.run("nginx -t").rc == 0
        assert host.file("/etc/ssl/private/sync_share.key").mode == 0o600
        subject = host.check_output(
            "openssl x509 -in /etc/ssl/certs/sync_share.crt -noout -subject -ext subjectAltName"
        )
    assert HOSTNAME in subject
    redirect = host.check_output(
        "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "
        f"-H 'Host: {HOSTNAME}' http://127.0.0.1/x?y=1"
    )
    assert redirect == f"301 https://{HOSTNAME}/x?y=1"
    # The application container is not running here: nginx answers 502 through TLS.
    headers = host.check_output(
        f"curl -sk -D - -o /dev/null --resolve {HOSTNAME}:443:127.0.0.1 https://{HOSTNAME}/status.php"
    ).lower()
    assert headers.startswith("http/2 502") or headers.startswith("http/1.1 502"), headers
    assert "strict-transport-security: max-age=15552000" in headers


def test_backup_job_uploads_a_database_dump_and_the_configuration(host):
    assert host.service("sync-share-backup.timer").is_enabled
    assert host.service("sync-share-backup.timer").is_running
    with host.sudo():
        run = host.run("systemctl start sync-share-backup.service")
        assert run.rc == 0, host.run("journalctl -u sync-share-backup.service --no-pager -n 30").stdout
    listing = s3(
        host,
        'keys = [o["Key"] for o in s3.list_objects_v2(Bucket="syncshare-backup").get("Contents", [])]\n'
        'dumps = sorted(k for k in keys if k.startswith("database/nextcloud-"))\n'
        "import gzip\n"
        'raw = s3.get_object(Bucket="syncshare-backup", Key=dumps[-1])["Body"].read()\n'
        "dump = gzip.decompress(raw).decode()\n"
        'print(json.dumps({"keys": keys, "has_db": "CREATE DATABASE" in dump and "`nextcloud`" in dump}))',
    )
    assert "config/compose.yaml" in listing["keys"]
    assert "config/infn-cloud.config.php" in listing["keys"]
    assert listing["has_db"]


def test_backup_copies_the_data_bucket_objects(host):
    s3(host, 's3.put_object(Bucket="syncshare-data", Key="urn:oid:42", Body=b"payload"); print("1")')
    with host.sudo():
        assert host.run("systemctl start sync-share-backup.service").rc == 0
    body = s3(
        host,
        'obj = s3.get_object(Bucket="syncshare-backup", Key="objects/urn:oid:42")\n'
        'print(json.dumps(obj["Body"].read().decode()))',
    )
    assert body == "payload"
