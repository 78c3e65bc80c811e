"""A single-node OpenStack control plane on loopback for the tests (run by scripts/openstack-dev.sh).

Runs in the OpenStack venv (not the project's). ``up`` configures and starts, in STATE
(default .cache/openstack): MariaDB and RabbitMQ (own data dirs and ports), Keystone,
Placement, Nova (api, conductor, scheduler, compute with the fake virt driver plus test hooks:
infn_fake_virt.py), Neutron (ML2, API only; ports are bound by infn_dev_mech.BindAnyHost since
no L2 agent runs), Glance (file store) and Cinder (api, scheduler, volume with Cinder's
FakeLoggingVolumeDriver); registers flavors, images, networks, a router and two projects with a
user each; writes STATE/clouds.yaml. ``up`` on a healthy running cloud does nothing.
``status`` exits 0 when every process runs and Keystone issues a token. ``down`` stops every
process it started (by the pids it recorded) and removes STATE.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = Path(sys.prefix)
BIN = VENV / "bin"
STATE = Path(os.environ.get("OPENSTACK_DEV_DIR") or HERE.parents[1] / ".cache" / "openstack").resolve()
BASE_PORT = int(os.environ.get("OPENSTACK_DEV_PORT", "19500"))
HOST = "127.0.0.1"
PORTS = {
    "keystone": BASE_PORT,
    "placement": BASE_PORT + 1,
    "nova": BASE_PORT + 2,
    "neutron": BASE_PORT + 3,
    "glance": BASE_PORT + 4,
    "cinder": BASE_PORT + 5,
    "mysql": BASE_PORT + 6,
    "rabbit": BASE_PORT + 7,
    "rabbit_dist": BASE_PORT + 8,
}
COMPUTE_HOST = "infn-dev-compute"
REGION = "RegionOne"
PROJECTS = ("infn-dev-a", "infn-dev-b")  # one per test group (per-group credentials)
FLAVORS = (("small", 1, 2048, 20), ("medium", 2, 4096, 20), ("large", 4, 8192, 40))
IMAGES = ("debian-12", "debian-13", "ubuntu-22.04")
SERVICES_ORDER = (
    "mysql",
    "rabbit",
    "keystone",
    "placement",
    "glance",
    "neutron",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
)


def log(msg: str) -> None:
    print(f"openstack-dev: {msg}", flush=True)


class Failed(Exception):
    """A step of up failed: the message says which and where its log is."""


def die(msg: str) -> None:
    raise Failed(msg)


def url(service: str) -> str:
    return f"http://{HOST}:{PORTS[service]}"


# ---------------------------------------------------------------------------- processes
def pidfile(name: str) -> Path:
    return STATE / "run" / f"{name}.pid"


def alive(name: str) -> bool:
    try:
        pid = int(pidfile(name).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def start(name: str, argv: list[str], env: dict | None = None) -> None:
    logf = open(STATE / "logs" / f"{name}.log", "ab")
    proc = subprocess.Popen(
        argv,
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        cwd=STATE,
    )
    pidfile(name).write_text(str(proc.pid))


def run(argv: list[str], what: str, env: dict | None = None, timeout: float = 600) -> str:
    res = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout, check=False
    )
    if res.returncode:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        die(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res.stdout


def wait_http(service: str, path: str = "/", timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url(service) + path, timeout=5):  # noqa: S310 - http on loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            pass
        if time.monotonic() > deadline:
            die(f"{service} does not answer on {url(service)}{path} after {timeout:.0f} s (see {STATE}/logs)")
        time.sleep(0.5)


def uwsgi(name: str, module: str, env: dict, pyargv: str | None = None) -> None:
    port = PORTS[name.split("-")[0]]
    argv = [
        str(BIN / "uwsgi"),
        "--http-socket",
        f"{HOST}:{port}",
        "--module",
        f"{module}:application",
        "--master",
        "--processes",
        "1",
        "--threads",
        "4",
        "--die-on-term",
        "--lazy-apps",
        "--enable-threads",
        "--need-app",
        "--buffer-size",
        "65535",
        # uwsgi's http-socket closes after each response: say so, or clients reuse the
        # connection and meet a reset
        "--add-header",
        "Connection: close",
        "--pythonpath",
        str(HERE),
        "--home",
        str(VENV),
    ]
    if pyargv:
        argv += ["--pyargv", pyargv]
    start(name, argv, env)


# ---------------------------------------------------------------------------- config
def secret(name: str) -> str:
    path = STATE / "secrets" / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text()


def ini(path: Path, sections: dict[str, dict[str, object]]) -> None:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    path.chmod(0o600)


def db(name: str) -> str:
    return f"mysql+pymysql://root:{secret('mysql')}@{HOST}:{PORTS['mysql']}/{name}?charset=utf8"


def transport() -> str:
    return f"rabbit://infn:{secret('rabbit')}@{HOST}:{PORTS['rabbit']}/"


def authtoken() -> dict:
    return {
        "www_authenticate_uri": url("keystone") + "/v3",
        "auth_url": url("keystone") + "/v3",
        "auth_type": "password",
        "username": "infn-dev-service",
        "password": secret("service"),
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "service_token_roles_required": "true",
        "service_token_roles": "service",
    }


def service_auth() -> dict:
    return {
        k: v
        for k, v in authtoken().items()
        if k in ("auth_url", "auth_type", "username", "password", "project_name") or k.endswith("domain_name")
    } | {"region_name": REGION}


def write_configs() -> None:
    etc = STATE / "etc"
    common = {"debug": "false", "use_stderr": "true"}
    lock = {"lock_path": str(STATE / "lock")}
    ini(
        etc / "keystone.conf",
        {
            "DEFAULT": common,
            "database": {"connection": db("keystone")},
            "token": {"provider": "fernet", "expiration": 14400},
            "fernet_tokens": {"key_repository": str(STATE / "fernet-keys")},
            "credential": {"key_repository": str(STATE / "credential-keys")},
        },
    )
    ini(
        etc / "placement.conf",
        {
            "DEFAULT": common,
            "placement_database": {"connection": db("placement")},
            "api": {"auth_strategy": "keystone"},
            "keystone_authtoken": authtoken(),
        },
    )
    shutil.copy(VENV / "etc/nova/api-paste.ini", etc / "api-paste.ini")
    nova = {
        "DEFAULT": common
        | {
            "transport_url": transport(),
            "host": COMPUTE_HOST,
            "compute_driver": "infn_fake_virt.HookedFakeDriver",
            "state_path": str(STATE / "nova"),
            "instances_path": str(STATE / "nova/instances"),
            "my_ip": HOST,
            "osapi_compute_workers": 1,
            "metadata_workers": 1,
        },
        "api": {"auth_strategy": "keystone"},
        "wsgi": {"api_paste_config": str(etc / "api-paste.ini")},
        "api_database": {"connection": db("nova_api")},
        "database": {"connection": db("nova_cell1")},
        "keystone_authtoken": authtoken(),
        "service_user": service_auth() | {"send_service_user_token": "true"},
        "placement": service_auth(),
        "neutron": service_auth(),
        "glance": {"region_name": REGION},
        "cinder": service_auth()
        | {"catalog_info": "block-storage:cinder:publicURL", "os_region_name": REGION},
        "scheduler": {"discover_hosts_in_cells_interval": 2, "workers": 1},
        "conductor": {"workers": 1},
        "compute": {"resource_provider_association_refresh": 5},
        "quota": {"driver": "nova.quota.DbQuotaDriver"},
        "vnc": {"enabled": "false"},
        "oslo_concurrency": lock,
        "oslo_messaging_notifications": {"driver": "noop"},
        "oslo_policy": {"enforce_scope": "true", "enforce_new_defaults": "true"},
        "os_vif_ovs": {"ovsdb_connection": "tcp:127.0.0.1:1"},
    }
    ini(etc / "nova.conf", nova)
    ini(
        etc / "neutron.conf",
        {
            "DEFAULT": common
            | {
                "core_plugin": "ml2",
                "service_plugins": "router",
                "transport_url": transport(),
                "api_paste_config": str(VENV / "etc/neutron/api-paste.ini"),
                "auth_strategy": "keystone",
                # Nova learns of floating IPs and port changes from these notifications
                "notify_nova_on_port_status_changes": "true",
                "notify_nova_on_port_data_changes": "true",
                "api_workers": 1,
                "rpc_workers": 0,
                "state_path": str(STATE / "neutron"),
            },
            "database": {"connection": db("neutron")},
            "keystone_authtoken": authtoken(),
            "nova": service_auth(),
            "oslo_concurrency": lock,
            "quotas": {"quota_driver": "neutron.db.quota.driver_nolock.DbQuotaNoLockDriver"},
            "ml2": {
                "type_drivers": "flat,vxlan",
                "tenant_network_types": "vxlan",
                "mechanism_drivers": "infn_dev_bind",
                "extension_drivers": "port_security",
            },
            "ml2_type_flat": {"flat_networks": "public"},
            "ml2_type_vxlan": {"vni_ranges": "1:1000"},
            "securitygroup": {"firewall_driver": "noop"},
        },
    )
    shutil.copy(VENV / "etc/glance/glance-api-paste.ini", etc / "glance-api-paste.ini")
    ini(
        etc / "glance-api.conf",
        {
            "DEFAULT": common | {"enabled_backends": "fs:file", "workers": 1},
            "database": {"connection": db("glance")},
            "keystone_authtoken": authtoken(),
            "paste_deploy": {"flavor": "keystone", "config_file": str(etc / "glance-api-paste.ini")},
            "glance_store": {"default_backend": "fs"},
            "fs": {"filesystem_store_datadir": str(STATE / "glance/images")},
            "os_glance_staging_store": {"filesystem_store_datadir": str(STATE / "glance/staging")},
            "os_glance_tasks_store": {"filesystem_store_datadir": str(STATE / "glance/tasks")},
            "oslo_concurrency": lock,
        },
    )
    ini(
        etc / "cinder.conf",
        {
            "DEFAULT": common
            | {
                "transport_url": transport(),
                "auth_strategy": "keystone",
                "api_paste_config": str(VENV / "etc/cinder/api-paste.ini"),
                # which query filters the volume list accepts (metadata, name, ...)
                "resource_query_filters_file": str(VENV / "etc/cinder/resource_filters.json"),
                "enabled_backends": "fake",
                "default_volume_type": "__DEFAULT__",
                "state_path": str(STATE / "cinder"),
                "host": COMPUTE_HOST,
                "osapi_volume_workers": 1,
                "my_ip": HOST,
                "glance_api_servers": url("glance"),
            },
            "database": {"connection": db("cinder")},
            "keystone_authtoken": authtoken(),
            "nova": service_auth(),
            "fake": {
                "volume_driver": "cinder.tests.fake_driver.FakeLoggingVolumeDriver",
                "volume_backend_name": "fake",
            },
            "oslo_concurrency": lock,
            "coordination": {"backend_url": f"file://{STATE / 'lock'}"},
        },
    )


# ---------------------------------------------------------------------------- bootstrap
def start_mysql() -> None:
    data = STATE / "mysql"
    if not (data / "mysql").exists():
        run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ],
            "mariadb-install-db",
        )
    # eatmydata: no fsync (a test database; schema creation is mostly fsyncs otherwise)
    eat = [shutil.which("eatmydata")] if shutil.which("eatmydata") else []
    start(
        "mysql",
        [
            *eat,
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={STATE / 'run/mysqld.sock'}",
            f"--port={PORTS['mysql']}",
            f"--bind-address={HOST}",
            "--user=root",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=256M",
            "--innodb-flush-log-at-trx-commit=0",
            "--max-connections=1000",
            "--character-set-server=utf8",
        ],
    )
    deadline = time.monotonic() + 60
    while not (STATE / "run/mysqld.sock").exists():
        if time.monotonic() > deadline or not alive("mysql"):
            die(f"MariaDB did not start (see {STATE}/logs/mysql.log)")
        time.sleep(0.3)
    sql = [f"CREATE DATABASE IF NOT EXISTS {d};" for d in DATABASES]
    sql.append(f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{secret('mysql')}';")
    sql.append(f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{secret('mysql')}';")
    sql.append("GRANT ALL ON *.* TO 'root'@'127.0.0.1';")
    # a new data dir: root has no password yet, and only the local socket reaches it
    res = subprocess.run(
        ["mariadb", "--no-defaults", "-S", str(STATE / "run/mysqld.sock"), "-uroot"],
        input="\n".join(sql),
        text=True,
        check=False,
        capture_output=True,
    )
    if res.returncode:
        die(f"MariaDB: creating the databases failed: {res.stderr.strip()}")


DATABASES = ("keystone", "placement", "nova_api", "nova_cell0", "nova_cell1", "neutron", "glance", "cinder")


def rabbit_env() -> dict:
    r = STATE / "rabbit"
    return {
        "HOME": str(r),
        "RABBITMQ_NODENAME": f"infndev{BASE_PORT}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(PORTS["rabbit"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbit_dist"]),
        "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
        "RABBITMQ_LOG_BASE": str(STATE / "logs"),
        "RABBITMQ_PID_FILE": str(pidfile("rabbit")),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq"),
    }


def rabbitmqctl(*args: str) -> str:
    return run(["/usr/lib/rabbitmq/bin/rabbitmqctl", *args], f"rabbitmqctl {args[0]}", rabbit_env(), 120)


def start_rabbit() -> None:
    (STATE / "rabbit").mkdir(exist_ok=True)
    (STATE / "rabbit/enabled_plugins").write_text("[].\n")
    env = {**os.environ, **rabbit_env()}
    logf = open(STATE / "logs/rabbit.out", "ab")
    subprocess.Popen(
        ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
        env=env,
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(1)
    rabbitmqctl("wait", str(pidfile("rabbit")), "--timeout", "90")
    users = rabbitmqctl("list_users", "--quiet")
    if "infn" not in users.split():
        rabbitmqctl("add_user", "infn", secret("rabbit"))
    rabbitmqctl("set_permissions", "infn", ".*", ".*", ".*")


def manage(argv: list[str], what: str) -> None:
    run([str(BIN / argv[0]), *argv[1:]], what)


def sdk(cloud: str = "infn-dev-admin"):
    import openstack

    os.environ["OS_CLIENT_CONFIG_FILE"] = str(STATE / "clouds.yaml")
    return openstack.connect(cloud=cloud)


def write_clouds_yaml() -> None:
    clouds = {
        "infn-dev-admin": {
            "auth": {
                "auth_url": url("keystone") + "/v3",
                "username": "admin",
                "password": secret("admin"),
                "project_name": "admin",
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": REGION,
            "identity_api_version": 3,
        }
    }
    for project in PROJECTS:
        clouds[project] = {
            "auth": {
                "auth_url": url("keystone") + "/v3",
                "username": f"{project}-user",
                "password": secret(project),
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": REGION,
            "identity_api_version": 3,
        }
    path = STATE / "clouds.yaml"
    path.write_text(json.dumps({"clouds": clouds}, indent=2) + "\n")  # JSON is YAML
    path.chmod(0o600)


def keystone_resources() -> None:
    conn = sdk()
    ident = conn.identity
    service_project = conn.identity.find_project("service") or ident.create_project(
        name="service", domain_id="default"
    )
    roles = {r.name: r for r in ident.roles()}
    for name in ("service", "member", "reader"):
        if name not in roles:
            roles[name] = ident.create_role(name=name)
    user = ident.find_user("infn-dev-service") or ident.create_user(
        name="infn-dev-service", password=secret("service"), domain_id="default"
    )
    for role in ("admin", "service"):
        ident.assign_project_role_to_user(service_project, user, roles[role])
    for project in PROJECTS:
        proj = ident.find_project(project) or ident.create_project(name=project, domain_id="default")
        puser = ident.find_user(f"{project}-user") or ident.create_user(
            name=f"{project}-user", password=secret(project), domain_id="default"
        )
        ident.assign_project_role_to_user(proj, puser, roles["member"])
        ident.assign_project_role_to_user(proj, puser, roles["reader"])
    catalog = {
        "placement": ("placement", url("placement")),
        "nova": ("compute", url("nova") + "/v2.1"),
        "neutron": ("network", url("neutron")),
        "glance": ("image", url("glance")),
        "cinder": ("block-storage", url("cinder") + "/v3"),
    }
    existing = {s.name for s in ident.services()}
    for name, (stype, endpoint) in catalog.items():
        if name in existing:
            continue
        svc = ident.create_service(name=name, type=stype)
        for interface in ("public", "internal", "admin"):
            ident.create_endpoint(service_id=svc.id, interface=interface, url=endpoint, region_id=REGION)


def cloud_resources() -> None:
    conn = sdk()
    have = {f.name for f in conn.compute.flavors()}
    for name, vcpus, ram, disk in FLAVORS:
        if name not in have:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    images = {i.name for i in conn.image.images()}
    for name in IMAGES:
        if name not in images:
            img = conn.image.create_image(
                name=name, disk_format="raw", container_format="bare", visibility="public"
            )
            conn.image.put(
                f"/images/{img.id}/file",
                data=f"fake disk of {name}\n".encode(),
                headers={"Content-Type": "application/octet-stream"},
            )
    net = conn.network
    public = net.find_network("public") or net.create_network(
        name="public",
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network="public",
    )
    if not list(net.subnets(network_id=public.id)):
        net.create_subnet(
            network_id=public.id,
            name="public-subnet",
            ip_version=4,
            cidr="172.24.4.0/24",
            gateway_ip="172.24.4.1",
            is_dhcp_enabled=False,
        )
    private = net.find_network("private_net") or net.create_network(name="private_net", is_shared=True)
    subnets = list(net.subnets(network_id=private.id))
    subnet = (
        subnets[0]
        if subnets
        else net.create_subnet(
            network_id=private.id,
            name="private-subnet",
            ip_version=4,
            cidr="10.0.0.0/22",
            is_dhcp_enabled=False,
        )
    )
    router = net.find_router("router1")
    if router is None:
        router = net.create_router(name="router1", external_gateway_info={"network_id": public.id})
        net.add_interface_to_router(router, subnet_id=subnet.id)
    # a deployment's allowance in each test project (tests lower them to inject failures)
    admin = sdk()
    for project in PROJECTS:
        pid = admin.identity.find_project(project).id
        admin.set_compute_quotas(pid, instances=20, cores=40, ram=81920, key_pairs=20)
        admin.set_network_quotas(pid, floatingip=10, security_group=30, port=50)
        admin.set_volume_quotas(pid, volumes=20, gigabytes=200)


def up() -> None:
    if STATE.exists() and healthy():
        log(f"already running ({STATE}/clouds.yaml)")
        return
    if STATE.exists():
        log("a previous cloud is not healthy: stopping it and starting anew")
        down(quiet=True)
    t0 = time.monotonic()
    for sub in ("etc", "logs", "run", "secrets", "lock", "nova/instances", "glance", "cinder", "neutron"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    (STATE / "secrets").chmod(0o700)
    (STATE / "hooks").mkdir(exist_ok=True)
    write_configs()
    write_clouds_yaml()
    start_mysql()
    log(f"MariaDB up ({time.monotonic() - t0:.0f} s)")
    etc = STATE / "etc"
    for d in ("fernet-keys", "credential-keys"):
        (STATE / d).mkdir(mode=0o700, exist_ok=True)
    # Schemas in parallel (each *-manage is mostly waiting for MariaDB), then the services.
    with ThreadPoolExecutor(max_workers=7) as pool:
        steps = (
            start_rabbit,
            setup_keystone,
            setup_placement,
            setup_glance,
            setup_neutron,
            setup_nova,
            setup_cinder,
        )
        jobs = [pool.submit(step) for step in steps]
        for job in jobs:
            job.result()
    log(f"databases ready, services starting ({time.monotonic() - t0:.0f} s)")
    nova_env = {"OS_NOVA_CONFIG_DIR": str(etc)}
    uwsgi("keystone", "keystone.wsgi.api", {"OS_KEYSTONE_CONFIG_FILES": str(etc / "keystone.conf")})
    uwsgi("placement", "placement.wsgi.api", {"OS_PLACEMENT_CONFIG_DIR": str(etc)})
    uwsgi("glance", "glance.wsgi.api", {"OS_GLANCE_CONFIG_DIR": str(etc)})
    uwsgi("neutron", "neutron.wsgi.api", {"OS_NEUTRON_CONFIG_FILES": str(etc / "neutron.conf")})
    uwsgi("nova-api", "nova.wsgi.osapi_compute", nova_env)
    uwsgi("cinder-api", "cinder.wsgi.api", {}, pyargv=f"--config-file {etc / 'cinder.conf'}")
    wait_http("keystone", "/v3")
    keystone_resources()  # the daemons authenticate to Placement etc. when they start
    hooks = {"INFN_FAKE_VIRT_STATE": str(STATE / "hooks")}
    for svc in ("nova-conductor", "nova-scheduler"):
        start(svc, [str(BIN / svc), *conf("nova.conf")], hooks)
    # Nova loads compute drivers from nova.virt only: the hooked driver is registered there.
    compute = (
        "import sys; from nova.cmd import compute; import infn_fake_virt; "
        "sys.modules['nova.virt.infn_fake_virt'] = infn_fake_virt; sys.argv[0] = 'nova-compute'; "
        "compute.main()"
    )
    start("nova-compute", [str(BIN / "python"), "-c", compute, *conf("nova.conf")], hooks)
    for svc in ("cinder-scheduler", "cinder-volume"):
        start(svc, [str(BIN / svc), *conf("cinder.conf")])
    for svc in ("placement", "glance", "neutron", "nova", "cinder"):
        wait_http(svc)
    log(f"APIs answer ({time.monotonic() - t0:.0f} s)")
    cloud_resources()
    wait_compute()
    (STATE / "ready").write_text(f"{time.monotonic() - t0:.0f}\n")
    log(f"ready in {time.monotonic() - t0:.0f} s: OS_CLIENT_CONFIG_FILE={STATE}/clouds.yaml")


def conf(name: str) -> list[str]:
    return ["--config-file", str(STATE / "etc" / name)]


def setup_keystone() -> None:
    kconf = conf("keystone.conf")
    manage(["keystone-manage", *kconf, "db_sync"], "keystone-manage db_sync")
    owner = ["--keystone-user", "root", "--keystone-group", "root"]
    manage(["keystone-manage", *kconf, "fernet_setup", *owner], "keystone-manage fernet_setup")
    manage(["keystone-manage", *kconf, "credential_setup", *owner], "keystone-manage credential_setup")
    endpoint = url("keystone") + "/v3"
    run(
        [
            str(BIN / "keystone-manage"),
            *kconf,
            "bootstrap",
            "--bootstrap-admin-url",
            endpoint,
            "--bootstrap-public-url",
            endpoint,
            "--bootstrap-internal-url",
            endpoint,
            "--bootstrap-region-id",
            REGION,
        ],
        "keystone-manage bootstrap",
        env={"OS_BOOTSTRAP_PASSWORD": secret("admin")},  # not on the command line
    )


def setup_placement() -> None:
    manage(["placement-manage", *conf("placement.conf"), "db", "sync"], "placement-manage db sync")


def setup_glance() -> None:
    manage(["glance-manage", *conf("glance-api.conf"), "db_sync"], "glance-manage db_sync")


def setup_neutron() -> None:
    manage(["neutron-db-manage", *conf("neutron.conf"), "upgrade", "heads"], "neutron-db-manage upgrade")


def setup_cinder() -> None:
    manage(["cinder-manage", *conf("cinder.conf"), "db", "sync"], "cinder-manage db sync")


def setup_nova() -> None:
    nova = conf("nova.conf")
    manage(["nova-manage", *nova, "api_db", "sync"], "nova-manage api_db sync")
    manage(
        ["nova-manage", *nova, "cell_v2", "map_cell0", "--database_connection", db("nova_cell0")],
        "nova-manage cell_v2 map_cell0",
    )
    manage(["nova-manage", *nova, "cell_v2", "create_cell", "--name", "cell1"], "nova-manage create_cell")
    manage(["nova-manage", *nova, "db", "sync"], "nova-manage db sync")


def wait_compute(timeout: float = 240) -> None:
    """Until the fake compute host is mapped to cell1 and the volume service is up."""
    conn = sdk()
    deadline = time.monotonic() + timeout
    while True:
        hypervisors = list(conn.compute.hypervisors())
        volume_up = any(
            s.binary == "cinder-volume" and s.state == "up" for s in conn.block_storage.services()
        )
        if hypervisors and volume_up:
            return
        if time.monotonic() > deadline:
            die(
                f"after {timeout:.0f} s: hypervisors {len(hypervisors)}, cinder-volume up {volume_up} "
                f"(see {STATE}/logs)"
            )
        time.sleep(2)


def healthy() -> bool:
    if not (STATE / "ready").exists() or not all(alive(s) for s in SERVICES_ORDER):
        return False
    try:
        sdk().authorize()
    except Exception:
        return False
    return True


def status() -> int:
    if not STATE.exists():
        log(f"not running (no {STATE})")
        return 1
    dead = [s for s in SERVICES_ORDER if not alive(s)]
    for s in SERVICES_ORDER:
        print(f"{s:18} {'running' if s not in dead else 'NOT RUNNING'}")
    ok = not dead and healthy()
    log(f"{'healthy' if ok else 'NOT healthy'}: OS_CLIENT_CONFIG_FILE={STATE}/clouds.yaml")
    return 0 if ok else 1


def down(quiet: bool = False) -> None:
    if not STATE.exists():
        if not quiet:
            log("not running")
        return
    if alive("rabbit"):
        subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "stop"],
            env={**os.environ, **rabbit_env()},
            capture_output=True,
            timeout=60,
            check=False,
        )
    pids = []
    for s in reversed(SERVICES_ORDER):
        if alive(s):
            pid = int(pidfile(s).read_text())
            pids.append(pid)
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + 20
    while any(_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.3)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    # RabbitMQ started Erlang's port mapper: `epmd -kill` stops it only while no node uses it
    epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
    if os.path.exists(epmd):
        subprocess.run([epmd, "-kill"], capture_output=True, timeout=30, check=False)
    shutil.rmtree(STATE, ignore_errors=True)
    if not quiet:
        log(f"stopped, {STATE} removed")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def main() -> int:
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "up":
        try:
            up()
        except Failed as exc:
            print(f"openstack-dev: error: {exc}", file=sys.stderr, flush=True)
            return 1
        return 0
    if cmd == "down":
        down()
        return 0
    if cmd == "status":
        return status()
    print("usage: scripts/openstack-dev.sh up|down|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
