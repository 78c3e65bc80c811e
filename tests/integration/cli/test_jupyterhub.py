"""End to end: the jupyterhub template on the local site, used as its users would, in both modes.

OIDC (authenticator=oidc): the identity provider is the test OIDC provider (oidc_provider.py: npm
oidc-provider, the role's molecule stand-in for INDIGO IAM) in a container on the site network;
the deploy gets its issuer, a client id/secret and the allowed group as inputs, as a user gets
them from IAM. The browser is python requests on this machine, driven through the OAuth
redirects by the molecule scenario's jhclient functions.
Defaults (no input): the dummy authenticator with the password the CLI generated, read back with
`infn-cloud outputs --show-secrets` as the template's description tells a user; that deployment
is made after the OIDC one is deleted. The tests run in file order.
"""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import ssl
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest
import requests
from conftest import ROOT, delete_and_assert_clean, read_secrets
from oidc_provider import OidcProvider

pytestmark = pytest.mark.integration

SITE = "LOCAL-BACKBONE"
CLIENT_ID = "infn-cloud-e2e-hub"
ALLOWED_GROUP = "physics"
USERS = {
    "alice": {"password": secrets.token_urlsafe(12), "groups": [ALLOWED_GROUP]},
    "bob": {"password": secrets.token_urlsafe(12), "groups": ["chemistry"]},
}


def _jhclient(hub_url: str):
    """The molecule scenario's browser stand-in, pointed at this hub."""
    path = ROOT / "roles" / "jupyterhub" / "molecule" / "default" / "files" / "jhclient.py"
    spec = importlib.util.spec_from_file_location("infn_cloud_e2e_jhclient", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HUB = hub_url
    return module


@pytest.fixture(scope="module")
def provider():
    p = OidcProvider(SITE)
    p.start()
    yield p
    p.stop()


def _wait_for_address(cli, proc, timeout: float = 600) -> tuple[str, str]:
    """(deployment id, hub address) as soon as provisioning recorded the node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"deploy ended before the node had an address (rc {proc.returncode})"
        rows = cli.json("list")[1]
        if rows:
            view = cli.json("show", rows[0]["id"])[1]
            nodes = (view.get("nodes") or {}).get("vm_server") or []
            if nodes and nodes[0].get("private_ip"):
                return view["id"], nodes[0]["private_ip"]
        time.sleep(2)
    raise AssertionError("no hub address after provisioning")


@pytest.fixture(scope="module")
def hub(module_cli, provider, tmp_path_factory):
    """Deploy with inputs pointing at the provider; register the hub's redirect URI there once
    provisioning gave the node its address (the deploy is still installing JupyterHub)."""
    client_secret = secrets.token_urlsafe(24)
    work = tmp_path_factory.mktemp("jupyterhub")
    inputs = work / "inputs.yml"
    inputs.write_text(
        json.dumps(
            {
                "authenticator": "oidc",
                "iam_url": provider.issuer,
                "oauth_client_id": CLIENT_ID,
                "oauth_client_secret": client_secret,
                "iam_groups": [ALLOWED_GROUP],
            }
        )
    )
    inputs.chmod(0o600)
    # Progress goes to a file: a full stderr pipe would stall the deploy while we poll.
    log = (work / "deploy.err").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infn_cloud",
            "deploy",
            "jupyterhub",
            "-i",
            str(inputs),
            "--site",
            SITE,
            "--json",
        ],
        cwd=ROOT,
        env=module_cli.env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    module_cli.started.append(proc)
    deployment_id, address = _wait_for_address(module_cli, proc)
    module_cli.created.append(deployment_id)
    provider.configure(
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": client_secret,
                "redirect_uris": [f"https://{address}/hub/oauth_callback"],
            }
        ],
        users=USERS,
    )
    out, _ = proc.communicate(timeout=1200)
    log.close()
    assert proc.returncode == 0, f"{out}\n{(work / 'deploy.err').read_text()[-4000:]}"
    data = json.loads(out)
    data["deploy_seconds"] = round(time.monotonic() - started)
    # The hub's self-signed certificate, as a user would accept it (and as requests pins it).
    cert = work / "hub.crt"
    cert.write_text(ssl.get_server_certificate((address, 443)))
    return {"cli": module_cli, "data": data, "address": address, "cert": str(cert), "secret": client_secret}


def test_oidc_without_client_id_is_refused_by_plan(cli, tmp_path):
    inputs = tmp_path / "oidc.yml"
    inputs.write_text("authenticator: oidc\niam_groups: [physics]\n")
    result = cli.run("plan", "jupyterhub", "-i", str(inputs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "input 'oauth_client_id'" in result.stderr and "jupyterhub_authenticator is oidc" in result.stderr
    assert "Traceback" not in result.stderr


def _session(hub) -> requests.Session:
    """A browser session that trusts the hub's certificate, which must be valid for its address
    (IP SAN). Only this machine's test hosts are contacted: no proxy, and REQUESTS_CA_BUNDLE
    must not replace the hub's certificate (requests lets the environment win over verify)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = hub["cert"]
    return session


def _browse(hub, user: str):
    client = _jhclient(f"https://{hub['address']}")
    session = _session(hub)
    final, hosts, idp = client.login(session, user, USERS[user]["password"])
    return client, session, final, hosts, idp


def test_deploy_record_and_outputs(hub):
    cli, data = hub["cli"], hub["data"]
    assert data["status"] == "CREATE_COMPLETE"
    assert data["site"] == SITE
    assert data["boundaries"] == []  # nothing of JupyterHub is out of reach on this site
    rc, out = cli.json("outputs", data["id"])
    assert rc == 0
    assert out["outputs"]["jupyterhub_endpoint"] == f"https://{hub['address']}/"
    # The client secret went to the secret store, not into the record.
    assert read_secrets(cli, data["id"])["oauth_client_secret"] == hub["secret"]
    shown = cli.run("show", data["id"], "--json").stdout
    assert hub["secret"] not in shown
    health = _session(hub).get(f"https://{hub['address']}/hub/health", timeout=10)
    assert health.status_code == 200


def test_allowed_group_member_logs_in_and_keeps_a_notebook(hub):
    client, session, final, hosts, idp = _browse(hub, "alice")
    provider_host = idp
    assert provider_host != hub["address"]  # the login form came from the provider
    assert final.status_code == 200 and hosts[-1] == hub["address"], (final.status_code, hosts)
    client.spawn(session, "alice")
    marker = f"print('kept across restarts {time.time_ns()}')"
    url = f"https://{hub['address']}/user/alice/api/contents/persist.ipynb"
    put = session.put(
        url,
        json={"type": "notebook", "format": "json", "content": client.notebook(marker)},
        headers=client.xsrf_headers(session, "alice"),
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text
    got = session.get(url, params={"content": "1"}, timeout=30)
    assert got.status_code == 200 and got.json()["content"]["cells"][0]["source"] == marker
    hub["marker"] = marker
    # It is on the deployment's notebooks volume (the podman volume mounted at /data).
    node = hub["data"]["nodes"]["vm_server"][0]["name"]
    on_node = subprocess.run(
        ["podman", "exec", node, "sh", "-c", "stat -c %U /data/notebooks/alice/persist.ipynb; "
         "findmnt -n -o TARGET --target /data/notebooks/alice"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert on_node == ["alice", "/data"]


def test_member_of_another_group_is_refused(hub):
    _, _, final, hosts, _ = _browse(hub, "bob")
    assert hosts[-1] == hub["address"]  # authenticated at the provider, back at the hub...
    assert final.status_code == 403  # ...and refused there
    node = hub["data"]["nodes"]["vm_server"][0]["name"]
    assert subprocess.run(["podman", "exec", node, "id", "bob"], capture_output=True).returncode != 0


def test_notebook_survives_a_restart_of_the_hub(hub):
    """Restart the proxy and the hub and stop alice's server, then read the notebook back
    through a fresh login and spawn. Not `podman restart` of the node: a restarted local-site
    container gets a new address (a VM keeps its own), which the hub's certificate and the
    redirect URI registered at the provider no longer match."""
    assert "marker" in hub, "the notebook test did not write the notebook"
    node = hub["data"]["nodes"]["vm_server"][0]["name"]
    units = ["configurable-http-proxy", "jupyterhub"]
    stopped = subprocess.run(
        ["podman", "exec", node, "sh", "-c",
         "systemctl stop jupyter-alice-singleuser && systemctl restart " + " ".join(units)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert _exec_state(node, "jupyter-alice-singleuser") != "active"
    deadline = time.monotonic() + 180
    while True:
        try:
            if _session(hub).get(f"https://{hub['address']}/hub/health", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the hub did not come back after the restart"
        time.sleep(2)
    client, session, final, _, _ = _browse(hub, "alice")
    assert final.status_code == 200
    client.spawn(session, "alice")  # her server was stopped: a fresh spawn
    got = session.get(
        f"https://{hub['address']}/user/alice/api/contents/persist.ipynb", params={"content": "1"}, timeout=30
    )
    assert got.status_code == 200 and got.json()["content"]["cells"][0]["source"] == hub["marker"]


def _exec_state(node: str, unit: str) -> str:
    return subprocess.run(
        ["podman", "exec", node, "systemctl", "is-active", unit], capture_output=True, text=True
    ).stdout.strip()


def test_delete_leaves_nothing(hub, provider):
    provider.stop()  # first: the site network is removed only when no container uses it
    delete_and_assert_clean(hub["cli"], hub["data"]["id"])


@pytest.fixture(scope="module")
def default_hub(module_cli, tmp_path_factory):
    """The template with its defaults (dummy authenticator, generated password)."""
    started = time.monotonic()
    rc, data = module_cli.deploy("jupyterhub", "--site", SITE)
    assert rc == 0, data
    seconds = round(time.monotonic() - started)
    print(f"jupyterhub with its defaults deployed in {seconds} s")
    address = data["nodes"]["vm_server"][0]["private_ip"]
    cert = tmp_path_factory.mktemp("default_hub") / "hub.crt"
    cert.write_text(ssl.get_server_certificate((address, 443)))
    return {"cli": module_cli, "data": data, "address": address, "cert": str(cert)}


def _password_login(hub, user: str, password: str) -> tuple[requests.Session, requests.Response]:
    """The hub's own login form, as a browser posts it (with its _xsrf field)."""
    session = _session(hub)
    form = session.get(f"https://{hub['address']}/hub/login", timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text, form.text[:300]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    fields = {"username": user, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
    return session, session.post(form.url, data=fields, timeout=60)


def test_default_hub_logs_in_with_the_generated_password(default_hub):
    cli, data = default_hub["cli"], default_hub["data"]
    assert data["status"] == "CREATE_COMPLETE" and data["boundaries"] == []
    rc, out = cli.json("outputs", data["id"], "--show-secrets")
    assert rc == 0, out
    password = out["outputs"]["hub_password"]
    assert len(password) >= 8 and password == read_secrets(cli, data["id"])["hub_password"]
    assert password not in cli.run("show", data["id"], "--json").stdout
    # A wrong password is refused: the login form again, no session.
    _, refused = _password_login(default_hub, "dora", password[::-1] + "x")
    assert refused.status_code == 403 and urlparse(refused.url).path == "/hub/login", refused.url
    # Any name with the shared password: logged in, and dora's server spawns on the volume.
    session, final = _password_login(default_hub, "dora", password)
    # Logged in: the hub's pages (spawn, spawn-pending) or already dora's server, not the login form.
    path = urlparse(final.url).path
    assert final.status_code == 200 and path != "/hub/login", (final.status_code, final.url)
    assert path.startswith(("/hub/", "/user/dora/")), final.url
    client = _jhclient(f"https://{default_hub['address']}")
    client.spawn(session, "dora")
    url = f"https://{default_hub['address']}/user/dora/api/contents/hello.ipynb"
    put = session.put(
        url,
        json={"type": "notebook", "format": "json", "content": client.notebook("print('hello')")},
        headers=client.xsrf_headers(session, "dora"),
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text
    node = data["nodes"]["vm_server"][0]["name"]
    owner = subprocess.run(
        ["podman", "exec", node, "stat", "-c", "%U", "/data/notebooks/dora/hello.ipynb"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert owner == "dora"


def test_default_hub_delete_leaves_nothing(default_hub):
    delete_and_assert_clean(default_hub["cli"], default_hub["data"]["id"])
