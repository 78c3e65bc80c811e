"""What a JupyterHub user and its operator check: TLS, IAM login by group, spawning, and
notebooks that outlive a restart of the host on their dedicated volume.

The browser is jhclient (files/jhclient.py) on the jupyterhub-oidc container, which also
runs the OpenID Connect provider: every request crosses the podman network by name.
"""

import json
import os
import shlex
import subprocess
import time

import pytest
import testinfra

HUB_URL = "https://jupyterhub-hub"
CA = "/etc/jupyterhub-test/hub.crt"
USERS = {"alice": "alice-pw-4c1b", "bob": "bob-pw-8e2d", "carol": "carol-pw-6a3f"}
CLIENT_SECRET = "molecule-client-secret-1f7d2e"  # noqa: S105 (the scenario's test client)


def _host(name):
    # podman exec directly: testinfra's ansible backend starts a whole ansible run per command.
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="module")
def hub():
    return _host("jupyterhub-hub")


@pytest.fixture(scope="module")
def client():
    return _host("jupyterhub-oidc")


def browse(client, *args):
    result = client.run(shlex.join(["jhclient", *args]))
    assert result.rc == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def http_status(client, path, *curl_args):
    return client.check_output(
        shlex.join(
            [
                "curl",
                "-sS",
                "--cacert",
                CA,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                *curl_args,
                HUB_URL + path,
            ]
        )
    )


def test_https_serves_the_hub_certificate(client):
    assert http_status(client, "/hub/health") == "200"
    served = client.check_output(
        "openssl s_client -connect jupyterhub-hub:443 -servername jupyterhub-hub </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )
    assert served == client.check_output(f"openssl x509 -in {CA} -noout -fingerprint -sha256")
    assert "DNS:jupyterhub-hub" in client.check_output(f"openssl x509 -in {CA} -noout -ext subjectAltName")


def test_plain_http_redirects_to_https(client):
    headers = client.check_output("curl -sS -o /dev/null -D - http://jupyterhub-hub/hub/home")
    assert headers.split()[1] == "301"
    assert "location: https://jupyterhub-hub:443/hub/home" in headers.lower() or (
        "location: https://jupyterhub-hub/hub/home" in headers.lower()
    )


def test_secrets_are_root_only_and_not_logged(hub):
    for name in ("jupyterhub_config.py", "proxy.env", "metrics_token"):
        f = hub.file(f"/etc/jupyterhub/{name}")
        assert (f.user, f.mode) == ("root", 0o600), name
    key = hub.file("/etc/jupyterhub/ssl/jupyterhub.key")
    assert (key.group, key.mode) == ("jupyterhub-proxy", 0o640)
    assert CLIENT_SECRET in hub.file("/etc/jupyterhub/jupyterhub_config.py").content_string
    journal = hub.check_output("journalctl --no-pager -u jupyterhub -u configurable-http-proxy")
    assert CLIENT_SECRET not in journal


def test_allowed_group_member_logs_in_through_the_provider(client):
    result = browse(client, "login", "alice", USERS["alice"])
    assert result["idp"] == "jupyterhub-oidc:3000"  # the login form came from the provider
    assert result["status"] == 200
    assert result["url"].startswith(f"{HUB_URL}/hub/") or result["url"].startswith(f"{HUB_URL}/user/alice/")
    assert result["admin_page"] == 403  # physics is not an admin group


def test_admin_group_member_is_hub_admin(client):
    result = browse(client, "login", "carol", USERS["carol"])
    assert result["status"] == 200
    assert result["admin_page"] == 200


def test_member_of_another_group_is_refused(client, hub):
    result = browse(client, "login", "bob", USERS["bob"])
    assert result["hosts"][-1] == "jupyterhub-hub"  # authenticated at the provider, back at the hub
    assert result["status"] == 403
    assert hub.run("id bob").rc != 0  # no local account, no server


def test_wrong_password_is_refused_by_the_provider(client):
    result = browse(client, "login", "alice", "not-her-password")
    assert result["status"] == 401
    assert "jupyterhub-hub" not in result["hosts"]


def test_metrics_need_the_prometheus_token(client, hub):
    token = hub.file("/etc/jupyterhub/metrics_token").content_string.strip()
    assert http_status(client, "/hub/metrics") == "403"
    assert http_status(client, "/hub/metrics", "-H", "Authorization: token not-the-token") == "403"
    metrics = client.check_output(
        shlex.join(
            ["curl", "-sSf", "--cacert", CA, "-H", f"Authorization: token {token}", f"{HUB_URL}/hub/metrics"]
        )
    )
    assert "jupyterhub_running_servers" in metrics


def test_notebook_survives_a_restart_of_the_host_on_its_volume(client, hub, wait):
    marker = f"print('kept across restarts {time.time_ns()}')"
    written = browse(client, "write", "alice", USERS["alice"], "persist.ipynb", marker)
    assert written["put_status"] in (200, 201)  # 201 on a fresh volume
    assert (written["get_status"], written["source"]) == (200, marker)

    # The server ran as alice under systemd, and the file is on the dedicated volume.
    assert hub.service("jupyter-alice-singleuser").is_running
    notebook = hub.file("/data/notebooks/alice/persist.ipynb")
    assert notebook.user == "alice"
    assert marker in notebook.content_string
    mount = hub.check_output("findmnt --noheadings --output TARGET --target /data/notebooks/alice")
    assert mount == "/data/notebooks"
    volume = subprocess.run(
        ["podman", "volume", "inspect", "--format", "{{.Mountpoint}}", "jupyterhub-notebooks"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(volume, "alice", "persist.ipynb"), encoding="utf-8") as on_volume:
        assert marker in on_volume.read()

    # Restart the whole host (systemd and everything in the container), then read it back.
    subprocess.run(["podman", "restart", "jupyterhub-hub"], check=True, capture_output=True, timeout=120)
    wait(
        lambda: client.run(f"curl -sSf --cacert {CA} -o /dev/null {HUB_URL}/hub/health").rc == 0,
        timeout=120,
        interval=2,
        what="the hub after the restart",
    )
    # The restart stopped alice's server: reading the notebook needs a fresh spawn.
    assert not hub.service("jupyter-alice-singleuser").is_running
    read = browse(client, "read", "alice", USERS["alice"], "persist.ipynb")
    assert (read["status"], read["get_status"], read["source"]) == (200, 200, marker)
