"""End to end: services on the local backbone (issue 16), one deployment shared by the module.

object_storage_replication deployed with its defaults puts one Swift region on each local
backbone site (LOCAL-BACKBONE and LOCAL-BACKBONE-2): one ring, one replica per region, the
nodes talking over the shared backbone network. The tests, in file order: the regions are on
the two sites; an object written through one site's S3 endpoint is read through the other's;
with one site's storage node stopped (podman stop) the other serves reads and writes, and the
stopped node catches up once started (the replicators copy what it missed onto its own disk);
JupyterHub with notebook_storage s3 on that storage saves a notebook that the OTHER site's
endpoint serves as an object; `update` with a new bucket reconfigures both sites' storage nodes
without recreating them; a second deploy killed with SIGKILL once both sites have its
containers is removed from both by `delete`; delete leaves both sites clean.

Where it stops: the two "sites" are podman networks of one machine (no WAN latency or loss);
a stopped container gets a new address when started (a VM keeps its own), so the test gives
it back its backbone address before starting it, as the OpenStack port of a VM would.
"""

from __future__ import annotations

import importlib.util
import json
import re
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import DEPLOY_TIMEOUT, ROOT, delete_and_assert_clean, read_secrets, s3_client

pytestmark = pytest.mark.integration

SITES = {"server_a": "LOCAL-BACKBONE", "server_b": "LOCAL-BACKBONE-2"}
BACKBONE_NETWORK = "infn-cloud-backbone"
ACCOUNT = "AUTH_demo"
BUCKET = "data"


def _start(cli, log: Path, *args: str) -> subprocess.Popen:
    """`infn-cloud *args --json` in the background; progress to a file (a full stderr pipe
    would stall a deploy while the test waits on the other one)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "infn_cloud", *args, "--json"],
        cwd=ROOT, env=cli.env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )  # fmt: skip
    cli.started.append(proc)
    return proc


def _finish(cli, proc: subprocess.Popen, log: Path) -> dict:
    out, _ = proc.communicate(timeout=DEPLOY_TIMEOUT)
    assert proc.returncode == 0, f"{out}\n{log.read_text()[-4000:]}"
    data = json.loads(out)
    cli.created.append(data["id"])
    return data


def _wait_for_node(
    cli, proc: subprocess.Popen, template: str, node: str, timeout: float = 900
) -> tuple[str, str]:
    """(deployment id, private address of `node`) as soon as provisioning recorded it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"deploy ended before {node} had an address (rc {proc.returncode})"
        for row in cli.json("list")[1]:
            if row.get("template", "").startswith(template):
                view = cli.json("show", row["id"])[1]
                entries = (view.get("nodes") or {}).get(node) or []
                if entries and entries[0].get("private_ip"):
                    cli.created.append(row["id"])
                    return row["id"], entries[0]["private_ip"]
        time.sleep(2)
    raise AssertionError(f"no address for {node} after provisioning")


def _hub_inputs(path: Path, endpoint: str, access_key: str, secret_key: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "notebook_storage": "s3",
                "s3_endpoint": endpoint,
                "s3_bucket": BUCKET,
                "s3_access_key": access_key,
                "s3_secret_key": secret_key,
            }
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def deployments(module_cli, tmp_path_factory):
    """object_storage_replication with its defaults and, as soon as site A's node has its
    address (the endpoint) and the CLI generated the S3 key, the jupyterhub template keeping
    notebooks there: both deploys run in parallel (the storage is needed only at spawn)."""
    work = tmp_path_factory.mktemp("backbone")
    started = time.monotonic()
    storage_log, hub_log = work / "storage.err", work / "hub.err"
    storage_proc = _start(module_cli, storage_log, "deploy", "object_storage_replication")
    storage_id, address_a = _wait_for_node(module_cli, storage_proc, "object_storage_replication", "server_a")
    secret_key = read_secrets(module_cli, storage_id)["secret_key"]
    inputs = _hub_inputs(work / "hub.yml", f"http://{address_a}:8080", "demo:s3", secret_key)
    hub_proc = _start(
        module_cli, hub_log, "deploy", "jupyterhub", "-i", str(inputs), "--site", SITES["server_a"]
    )
    storage_data = _finish(module_cli, storage_proc, storage_log)
    storage_seconds = round(time.monotonic() - started)
    hub_data = _finish(module_cli, hub_proc, hub_log)
    print(
        f"object_storage_replication deployed in {storage_seconds} s, "
        f"both deployments in {round(time.monotonic() - started)} s"
    )
    return {"storage": storage_data, "hub": hub_data, "work": work}


@pytest.fixture(scope="module")
def storage(module_cli, deployments):
    data = deployments["storage"]
    rc, shown = module_cli.json("outputs", data["id"], "--show-secrets")
    assert rc == 0, shown
    out = shown["outputs"]
    return {
        "cli": module_cli,
        "data": data,
        "out": out,
        "a": s3_client(out["s3_endpoint_a"], out["access_key"], out["secret_key"]),
        "b": s3_client(out["s3_endpoint_b"], out["access_key"], out["secret_key"]),
    }


def _node(storage, name: str) -> dict:
    return storage["data"]["nodes"][name][0]


def _networks(container: str) -> dict[str, str]:
    """{network: address} of a container, as podman attached it."""
    out = subprocess.run(
        ["podman", "inspect", container, "--format", "{{json .NetworkSettings.Networks}}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {name: net["IPAddress"] for name, net in json.loads(out).items()}


def _label(container: str, label: str) -> str:
    return subprocess.run(
        ["podman", "inspect", container, "--format", "{{index .Config.Labels \"" + label + "\"}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _in_node(container: str, code: str) -> str:
    return subprocess.run(
        ["podman", "exec", container, "python3", "-c", code], capture_output=True, text=True, check=True
    ).stdout


def _ring(container: str) -> dict:
    """Replicas and {region: device ip} of the object ring as the node's own Swift reads it."""
    code = (
        "import json; from swift.common.ring import Ring; r = Ring('/etc/swift', ring_name='object'); "
        "print(json.dumps({'replicas': r.replica_count, "
        "'regions': {str(d['region']): d['ip'] for d in r.devs if d}}))"
    )
    return json.loads(_in_node(container, code))


def _on_own_disk(container: str, key: str) -> bool:
    """Whether the node's own object server has the object's data file (not through a proxy,
    which would fetch it from the other region)."""
    code = (
        "import glob, sys; from swift.common.ring import Ring; from swift.common.utils import hash_path; "
        f"r = Ring('/etc/swift', ring_name='object'); a, c, o = {ACCOUNT!r}, {BUCKET!r}, {key!r}; "
        "part = r.get_part(a, c, o); h = hash_path(a, c, o); "
        "print(len(glob.glob(f'/srv/node/*/objects/{part}/{h[-3:]}/{h}/*.data')))"
    )
    return int(_in_node(container, code).strip()) > 0


def test_one_region_on_each_backbone_site(storage):
    data, out = storage["data"], storage["out"]
    assert data["status"] == "CREATE_COMPLETE"
    assert sorted(data["site"].split(",")) == sorted(SITES.values())
    ring_ips = {}
    for name, site in SITES.items():
        node = _node(storage, name)
        assert _label(node["name"], "org.infn.cloud.site") == site  # where the driver made it
        networks = _networks(node["name"])
        # On its own site's network and on the backbone; its private address is the backbone one.
        assert set(networks) == {f"infn-cloud-{site.lower()}", BACKBONE_NETWORK}, networks
        assert node["private_ip"] == networks[BACKBONE_NETWORK]
        ring_ips[name] = node["private_ip"]
    assert out["s3_endpoint_a"] == f"http://{ring_ips['server_a']}:8080"
    assert out["s3_endpoint_b"] == f"http://{ring_ips['server_b']}:8080"
    assert out["secret_key"] == read_secrets(storage["cli"], data["id"])["secret_key"]
    # One ring on both nodes: region 1 at site A's node, region 2 at site B's, 2 replicas.
    expected = {"replicas": 2, "regions": {"1": ring_ips["server_a"], "2": ring_ips["server_b"]}}
    assert [_ring(_node(storage, n)["name"]) for n in SITES] == [expected, expected]


def test_written_at_one_site_is_read_at_the_other(storage):
    at_a, at_b = storage["a"], storage["b"]
    assert [b["Name"] for b in at_b.list_buckets()["Buckets"]] == [BUCKET]
    body = f"written at site A {uuid.uuid4()}\n".encode()
    at_a.put_object(Bucket=BUCKET, Key="from-a.txt", Body=body)
    assert at_b.get_object(Bucket=BUCKET, Key="from-a.txt")["Body"].read() == body
    body_b = f"written at site B {uuid.uuid4()}\n".encode()
    at_b.put_object(Bucket=BUCKET, Key="from-b.txt", Body=body_b)
    assert at_a.get_object(Bucket=BUCKET, Key="from-b.txt")["Body"].read() == body_b
    # The proxy stored a replica in each region before answering: both nodes hold both objects.
    for name in SITES:
        container = _node(storage, name)["name"]
        assert _on_own_disk(container, "from-a.txt") and _on_own_disk(container, "from-b.txt")


def _wait_s3(client, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_buckets()
            return
        except Exception:  # the proxy is still starting (connection refused, 503)
            assert time.monotonic() < deadline, "the S3 endpoint did not come back"
            time.sleep(2)


def test_one_site_down_the_other_serves_and_the_node_catches_up(storage):
    at_a = storage["a"]
    node_b = _node(storage, "server_b")
    address_b = node_b["private_ip"]
    subprocess.run(["podman", "stop", "-t", "10", node_b["name"]], capture_output=True, check=True)
    try:
        with pytest.raises(Exception):  # noqa: B017 (any client error: the site is gone)
            s3_client(storage["out"]["s3_endpoint_b"], "x:y", "z").list_buckets()
        # Site A alone: reads what both had, takes new writes and lists them.
        assert (
            at_a.get_object(Bucket=BUCKET, Key="from-b.txt")["Body"].read().startswith(b"written at site B")
        )
        missed = {f"while-b-down-{i}.txt": f"missed by B {uuid.uuid4()}\n".encode() for i in range(3)}
        for key, body in missed.items():
            at_a.put_object(Bucket=BUCKET, Key=key, Body=body)
        for key, body in missed.items():
            assert at_a.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
        listed = {o["Key"] for o in at_a.list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert set(missed) <= listed
    finally:
        # A VM keeps its address across a restart; a podman container would get a new one,
        # which the ring does not know: give it back its backbone address, as a port would.
        subprocess.run(
            ["podman", "network", "disconnect", BACKBONE_NETWORK, node_b["name"]], capture_output=True
        )
        subprocess.run(
            ["podman", "network", "connect", "--ip", address_b, BACKBONE_NETWORK, node_b["name"]],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["podman", "start", node_b["name"]], capture_output=True, check=True)
    assert _networks(node_b["name"])[BACKBONE_NETWORK] == address_b
    at_b = storage["b"]
    _wait_s3(at_b)
    # The replicators of site A push what B missed onto B's own disk (interval: the role's
    # object_storage_replicator_interval); a GET through B's proxy alone would not prove it.
    started = time.monotonic()
    deadline = started + 240
    while not all(_on_own_disk(node_b["name"], key) for key in missed):
        assert time.monotonic() < deadline, "site B's node did not catch up within 240 s"
        time.sleep(3)
    print(f"site B caught up {round(time.monotonic() - started)} s after its S3 endpoint answered")
    for key, body in missed.items():
        assert at_b.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    # Site B writes again, site A reads it.
    body = f"after the restart {uuid.uuid4()}\n".encode()
    at_b.put_object(Bucket=BUCKET, Key="after-restart.txt", Body=body)
    assert at_a.get_object(Bucket=BUCKET, Key="after-restart.txt")["Body"].read() == body


@pytest.fixture(scope="module")
def hub(storage, deployments):
    """JupyterHub on site A keeping notebooks in the replicated storage, through site A's endpoint."""
    return _hub_view(storage["cli"], deployments["hub"], deployments["work"])


def _hub_view(cli, data: dict, work: Path) -> dict:
    rc, shown = cli.json("outputs", data["id"], "--show-secrets")
    assert rc == 0, shown
    address = data["nodes"]["vm_server"][0]["private_ip"]
    cert = work / "hub.crt"
    cert.write_text(ssl.get_server_certificate((address, 443)))
    return {
        "cli": cli,
        "data": data,
        "address": address,
        "cert": str(cert),
        "password": shown["outputs"]["hub_password"],
    }


def _jhclient(hub_url: str):
    """The jupyterhub molecule scenario's browser stand-in, pointed at this hub."""
    path = ROOT / "roles" / "jupyterhub" / "molecule" / "default" / "files" / "jhclient.py"
    spec = importlib.util.spec_from_file_location("infn_cloud_backbone_jhclient", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HUB = hub_url
    return module


def test_notebook_saved_through_jupyterhub_is_read_at_the_other_site(storage, hub):
    # The S3 secret went to the secret store, not into the record.
    assert storage["out"]["secret_key"] not in hub["cli"].run("show", hub["data"]["id"], "--json").stdout
    assert read_secrets(hub["cli"], hub["data"]["id"])["s3_secret_key"] == storage["out"]["secret_key"]
    base = f"https://{hub['address']}"
    session = requests.Session()
    session.trust_env = False
    session.verify = hub["cert"]  # the hub's self-signed certificate, as a user accepts it
    form = session.get(f"{base}/hub/login", timeout=30)
    assert form.status_code == 200, form.text[:300]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    fields = {"username": "erin", "password": hub["password"], **({"_xsrf": xsrf.group(1)} if xsrf else {})}
    logged = session.post(form.url, data=fields, timeout=60)
    assert logged.status_code == 200 and "/hub/login" not in logged.url, logged.url
    client = _jhclient(base)
    client.spawn(session, "erin", timeout=300)
    marker = f"print('replicated notebook {uuid.uuid4()}')"
    put = session.put(
        f"{base}/user/erin/api/contents/replicated.ipynb",
        json={"type": "notebook", "format": "json", "content": client.notebook(marker)},
        headers=client.xsrf_headers(session, "erin"),
        timeout=60,
    )
    assert put.status_code in (200, 201), put.text
    # Not on the hub's volume: in the bucket, under the user's prefix, served by site B.
    node = hub["data"]["nodes"]["vm_server"][0]["name"]
    local = subprocess.run(["podman", "exec", node, "test", "-e", "/data/notebooks/erin/replicated.ipynb"])
    assert local.returncode != 0
    obj = storage["b"].get_object(Bucket=BUCKET, Key="erin/replicated.ipynb")
    notebook = json.loads(obj["Body"].read())
    assert "".join(notebook["cells"][0]["source"]) == marker
    # And on site B's own disk.
    assert _on_own_disk(_node(storage, "server_b")["name"], "erin/replicated.ipynb")
    delete_and_assert_clean(hub["cli"], hub["data"]["id"])


def _podman_ps(*args: str) -> str:
    """`podman ps -a ARGS`, failing with podman's own message."""
    done = subprocess.run(["podman", "ps", "-a", *args], capture_output=True, text=True)
    assert done.returncode == 0, f"podman ps {' '.join(args)}: exit {done.returncode}: {done.stderr}"
    return done.stdout


def _container_ids(deployment_id: str) -> dict[str, str]:
    """{container name: id} of a deployment (an id changes when a container is recreated)."""
    out = _podman_ps(
        "--filter", f"label=org.infn.cloud.deployment={deployment_id}", "--format", "{{.Names}} {{.ID}}"
    )
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_an_input_change_reconfigures_both_sites_without_recreating_a_node(storage, deployments):
    cli, dep = storage["cli"], storage["data"]["id"]
    before = _container_ids(dep)
    names = [_node(storage, n)["name"] for n in SITES]
    inputs = deployments["work"] / "buckets.json"
    inputs.write_text(json.dumps({"buckets": [{"name": BUCKET}, {"name": "more"}]}))
    started = time.monotonic()

    rc, result = cli.json("update", dep, "-i", str(inputs), timeout=DEPLOY_TIMEOUT)

    assert rc == 0, result
    print(f"update of the spanning deployment in {round(time.monotonic() - started)} s")
    assert result["change"]["add"] == [] and result["change"]["remove"] == []
    assert {i["software"] for i in result["change"]["reconfigure"]} == {"storage_a", "storage_b"}
    view = result["deployment"]
    assert view["status"] == "UPDATE_COMPLETE"
    assert view["site"] == storage["data"]["site"]  # still across both sites
    attempt = view["attempts"][-1]
    assert (attempt["operation"], attempt["outcome"], attempt["site"]) == ("update", "ok", view["site"])
    assert f"configured: {', '.join(sorted(names))}" in attempt["details"]  # one node per site
    assert _container_ids(dep) == before, "a node was recreated"
    # The new bucket exists in the one ring: written at site B, read at site A.
    body = f"new bucket {uuid.uuid4()}\n".encode()
    storage["b"].put_object(Bucket="more", Key="x.txt", Body=body)
    assert storage["a"].get_object(Bucket="more", Key="x.txt")["Body"].read() == body
    # The bucket that was there still serves both sites.
    storage["a"].put_object(Bucket=BUCKET, Key="after-update.txt", Body=body)
    assert storage["b"].get_object(Bucket=BUCKET, Key="after-update.txt")["Body"].read() == body


def _site_containers(deployment_id: str) -> dict[str, list[str]]:
    """{site label: container names} of a deployment."""
    out = _podman_ps(
        "--filter", f"label=org.infn.cloud.deployment={deployment_id}",
        "--format", '{{.Names}} {{index .Labels "org.infn.cloud.site"}}',
    )  # fmt: skip
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.strip():
            name, site = line.split()
            found.setdefault(site, []).append(name)
    return found


def test_kill_9_while_provisioning_both_sites_then_delete_cleans_both(module_cli, tmp_path):
    log = tmp_path / "killed.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "infn_cloud", "deploy", "object_storage_replication", "--plain"],
        cwd=ROOT, env=module_cli.env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True,
    )  # fmt: skip
    module_cli.started.append(proc)
    dep = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        rows = [r for r in module_cli.json("list")[1] if r.get("status") == "CREATE_IN_PROGRESS"]
        dep = rows[0]["id"] if rows else dep
        if dep and set(_site_containers(dep)) == set(SITES.values()):
            break
        time.sleep(0.5)
    assert dep and set(_site_containers(dep)) == set(SITES.values()), (
        f"never had containers on both sites (exit {proc.poll()})\n{log.read_text()[-2000:]}"
    )
    module_cli.created.append(dep)
    assert read_secrets(module_cli, dep), "the deploy made its secrets before provisioning"
    proc.kill()  # SIGKILL: no cleanup, no record update
    proc.wait()

    stale = module_cli.json("show", dep)[1]
    assert stale["status"] == "CREATE_IN_PROGRESS" and stale["stale"] is True
    assert sorted(stale["site"].split(",")) == sorted(SITES.values())

    # delete_and_assert_clean: no container or volume on either site, no site network left
    # without containers, no secret, no record.
    delete_and_assert_clean(module_cli, dep)
    assert _site_containers(dep) == {}


def test_delete_leaves_both_sites_clean(storage):
    delete_and_assert_clean(storage["cli"], storage["data"]["id"])
    networks = subprocess.run(
        ["podman", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    users = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"network={BACKBONE_NETWORK}", "--format", "{{.Names}}"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    # The backbone network stays only while another deployment spans the backbone.
    assert BACKBONE_NETWORK not in networks or users, networks
