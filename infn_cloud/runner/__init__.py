"""Run the collection's playbooks through ansible-runner, the way AWX does it.

One call of run_playbook() is one ansible-playbook run:

- a fresh private_data_dir (mkdtemp, 0700) per run, removed afterwards: runs never share a
  directory (ansible-runner #808: extravars of concurrent runs got mixed);
- ``suppress_env_files=True``: runner writes nothing under env/ (#809, #493: passwords and
  extravars left on disk). Plain extra vars go in a 0600 JSON file of ours; secret extra vars
  go in a file encrypted with Ansible Vault under a one-time password that only lives in this
  process and reaches ansible through infn_cloud.secrets.VaultPasswordChannel (a unix socket),
  so no secret is ever on disk or in a command line in clear. Never pass secrets as the
  ``extravars`` kwarg: with suppress_env_files runner puts them on the command line;
- the SSH private key, when there is one, only through runner's ``ssh_key`` kwarg (a fifo fed
  to ssh-agent);
- ANSIBLE_HOST_KEY_CHECKING is always set (runner otherwise forces False): podman connections
  have no host keys; for ssh, every driver reports its nodes' host keys (local: read from the
  container; OpenStack: from the server's console output) and the inventory plugin pins them,
  so ssh runs with StrictHostKeyChecking=yes: an unknown or changed key fails the run;
- ANSIBLE_COLLECTIONS_PATH points at the checkout link (infn_cloud.paths.collections_path);
- the environment of ansible-playbook (and of artifacts/<ident>/command) is an allowlist
  (child_environment: PATH, HOME, locale, podman's location variables, what runner and we set):
  credentials in the CLI's shell never reach it;
- artifacts go to a stable per-deployment directory and are rotated (rotate_artifacts);
- the event handler only puts events on a queue and returns True (a slow handler makes pexpect
  time out, #1343; returning None drops job_events); a consumer thread does the work;
- ``cancel`` (a threading.Event) is polled by cancel_callback: Ctrl-C sets it and runner stops
  ansible-playbook cleanly, status ``canceled``;
- per-phase timeouts: settings job_timeout (whole run) and idle_timeout (no output);
- ``owner`` tags the run: ansible-playbook and everything it starts inherit
  INFN_CLOUD_RUN_OWNER. Ansible's workers call setsid, so when the CLI is killed (kill -9) they
  miss the terminal hang-up and keep running (a `podman exec apt-get ...` can go on for
  minutes); stop_leftovers() finds them by that tag before a retry or delete takes over.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infn_cloud.paths import collection_root, collections_path, ensure_collection_link

KEEP_ARTIFACTS = 20
OWNER_TAG = "INFN_CLOUD_RUN_OWNER"


@dataclass
class RunResult:
    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    ident: str
    artifact_dir: str
    failures: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "successful"

    def cause(self) -> str:
        if self.status == "timeout":
            return "ansible-playbook timed out"
        if self.status == "canceled":
            return "cancelled by the user"
        if self.rc == 127:
            return "ansible-playbook could not be started (rc 127: not found on PATH)"
        if self.failures:
            f = self.failures[0]
            return f"task '{f['task']}' failed on {f['host']}: {f['msg']}"
        return f"ansible-playbook {self.status} (rc {self.rc})"

    def details(self) -> list[str]:
        lines = [f"{f['host']}: {f['task']}: {f['msg']}" for f in self.failures[:10]]
        lines.append(f"ansible output: {self.artifact_dir}/stdout")
        return lines


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _encrypt(data: dict, password: str) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib(secrets=[("infn_cloud_run", VaultSecret(password.encode()))])
    return vault.encrypt(json.dumps(data), vault_id="infn_cloud_run").decode()


def _failure(event: dict) -> dict | None:
    data = event.get("event_data") or {}
    if event.get("event") == "runner_on_failed" and data.get("ignore_errors"):
        return None
    res = data.get("res") or {}
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    if res.get("censored"):
        msg = res["censored"]
    msg = " ".join(str(msg).split())
    return {
        "host": data.get("host") or "?",
        "task": data.get("task") or "?",
        "msg": msg[:400] + ("..." if len(msg) > 400 else ""),
        "unreachable": event.get("event") == "runner_on_unreachable",
    }


def environment(connection: str = "podman", known_hosts: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment variables for ansible-playbook (no secrets here: runner may record them)."""
    root = collection_root()
    env = {
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_ROLES_PATH": str(root / "roles"),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
    }
    if connection == "ssh":
        if known_hosts is None:
            raise ValueError("ssh connections need a known_hosts file")
        env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
        env["ANSIBLE_SSH_ARGS"] = (
            "-C -o ControlMaster=auto -o ControlPersist=60s "
            f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts}"
        )
    else:
        # podman exec has no host keys; say so explicitly instead of relying on runner's default.
        env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    return env


# The environment of ansible-playbook is an allowlist: the CLI's shell often holds credentials
# (OS_PASSWORD, VAULT_TOKEN, DB_PASS, MYSQL_PWD, GITHUB_PAT, AWS_SECRET_ACCESS_KEY, proxy URLs
# with a password...) and ansible-runner copies the whole environment into the child and into
# artifacts/<ident>/command. The configure playbook needs none of them: it reaches the nodes over
# SSH (the deployment key, through runner's own ssh-agent) or podman exec, and the inventory
# plugin reads the deployment document (no cloud API). OpenStack credentials (clouds.yaml,
# OS_CLIENT_CONFIG_FILE, OS_*) are used by the CLI process itself (the driver), never by
# ansible-playbook; Vault/OpenBao tokens likewise.
#
# Passed from the CLI's environment, by name:
PASSED_ENV = frozenset(
    {
        "PATH",  # ansible-playbook, ssh, podman
        "HOME",  # ~/.ssh/config, ~/.ansible (tmp, cp), object_storage's ring cache
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "TMPDIR",  # ansible's controller temp files
        # podman (connection containers.podman.podman, rootless or remote): where its socket,
        # storage and configuration are. No credentials live in these.
        "XDG_RUNTIME_DIR",
        "CONTAINER_HOST",
        "CONTAINER_CONNECTION",
        "CONTAINERS_CONF",
        "CONTAINERS_STORAGE_CONF",
        "INFN_CLOUD_HOME",  # the collection root (infn_cloud.paths)
    }
)
PASSED_ENV_PREFIXES = ("LC_",)
# Set by ansible-runner itself (its event callback, artifact and fact cache locations). Kept only
# when runner set them, i.e. their value differs from the CLI's own environment.
RUNNER_ENV = frozenset(
    {
        "ANSIBLE_STDOUT_CALLBACK",
        "ANSIBLE_CALLBACK_PLUGINS",
        "ANSIBLE_RETRY_FILES_ENABLED",
        "ANSIBLE_HOST_KEY_CHECKING",
        "ANSIBLE_CACHE_PLUGIN",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION",
        "ANSIBLE_ROLES_PATH",
        "AWX_ISOLATED_DATA_DIR",
        "RUNNER_OMIT_EVENTS",
        "RUNNER_ONLY_FAILED_EVENTS",
    }
)


def child_environment(
    runner_env: dict[str, str], wanted: dict[str, str], shell: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment for ansible-playbook: allowlisted names of ``shell`` (default: this
    process's environment), what ansible-runner added to it in ``runner_env``, plus ``wanted``.

    Everything else of the shell is dropped, the user's SSH_AUTH_SOCK included: with an SSH key
    runner starts its own ssh-agent, which sets SSH_AUTH_SOCK for ansible-playbook.
    """
    shell = dict(os.environ) if shell is None else shell
    env = {k: v for k, v in shell.items() if k in PASSED_ENV or k.startswith(PASSED_ENV_PREFIXES)}
    for name in RUNNER_ENV:
        value = runner_env.get(name)
        if value is None or value == shell.get(name):
            continue
        if name == "ANSIBLE_CALLBACK_PLUGINS":  # runner appends its own dir to the user's list
            users = set((shell.get(name) or "").split(os.pathsep))
            value = os.pathsep.join(p for p in value.split(os.pathsep) if p and p not in users)
        env[name] = value
    env.update(wanted)
    # The ansible-playbook of our own environment, also when the venv is not activated
    # (`/opt/infn-cloud/bin/infn-cloud ...`, pipx): it sits next to this interpreter.
    bindir = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath).split(os.pathsep)
    if bindir not in path:
        env["PATH"] = os.pathsep.join([bindir, *path])
    return env


def run_playbook(
    playbook: str,
    *,
    inventory: str | os.PathLike,
    artifact_dir: str | os.PathLike,
    ident: str,
    extravars: dict | None = None,
    secret_extravars: dict | None = None,
    ssh_key: str | None = None,
    connection: str = "podman",
    known_hosts: str | os.PathLike | None = None,
    job_timeout: int = 3600,
    idle_timeout: int = 900,
    on_event: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
    limit: str | None = None,
    vault_password_cmdline: str | None = None,
    owner: str | None = None,
) -> RunResult:
    """Run ``playbook`` (relative to the collection root) and wait for it; never raises on failure."""
    import time

    import ansible_runner.interface

    from infn_cloud.secrets import VaultPasswordChannel, generate_secret

    ensure_collection_link()
    root = collection_root()
    cancel = cancel or threading.Event()
    Path(artifact_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Path(tempfile.mkdtemp(prefix="infn-cloud-run-"))  # 0700 by mkdtemp
    events: queue.Queue = queue.Queue()
    failures: list[dict] = []
    stats: dict = {}

    def event_handler(event: dict) -> bool:
        events.put(event)  # only queue: a slow handler stalls runner's pexpect loop
        return True

    def status_handler(status_data: dict, runner_config=None) -> None:
        events.put({"event": "infn_cloud_status", "status": status_data.get("status")})

    def consume() -> None:
        while True:
            event = events.get()
            if event is None:
                return
            kind = event.get("event")
            if kind in ("runner_on_failed", "runner_on_unreachable"):
                failure = _failure(event)
                if failure:
                    failures.append(failure)
            elif kind == "playbook_on_stats":
                data = event.get("event_data") or {}
                stats.update({k: data.get(k) or {} for k in ("ok", "changed", "failures", "dark", "skipped")})
            if on_event is not None:
                try:
                    on_event(event)
                except Exception:  # noqa: S110 - a display problem must not break the run
                    pass

    consumer = threading.Thread(target=consume, name="infn-cloud-events", daemon=True)
    consumer.start()
    started = time.monotonic()
    try:
        cmdline: list[str] = []
        if extravars:
            path = private / "extravars.json"
            _write_private(path, json.dumps(extravars))
            cmdline.append(f"-e @{path}")
        one_time = generate_secret(32)
        channel = None
        if secret_extravars:
            path = private / "secrets.vault"
            _write_private(path, _encrypt(secret_extravars, one_time))
            channel = VaultPasswordChannel(one_time, vault_id="infn_cloud_run")
            channel.__enter__()
            cmdline += [channel.cmdline, f"-e @{path}"]
        if vault_password_cmdline:
            cmdline.append(vault_password_cmdline)
        try:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(private),
                project_dir=str(root),
                artifact_dir=str(artifact_dir),
                ident=ident,
                rotate_artifacts=KEEP_ARTIFACTS,
                playbook=str(root / playbook),
                inventory=str(inventory),
                cmdline=" ".join(cmdline) or None,
                envvars=environment(connection, known_hosts),
                ssh_key=ssh_key,
                settings={"job_timeout": int(job_timeout), "idle_timeout": int(idle_timeout)},
                suppress_env_files=True,
                quiet=True,
                limit=limit,
                event_handler=event_handler,
                status_handler=status_handler,
                cancel_callback=cancel.is_set,
            )
            wanted = environment(connection, known_hosts)
            if owner:
                wanted[OWNER_TAG] = owner
            runner.config.env = child_environment(runner.config.env, wanted)
            runner.run()
        finally:
            if channel is not None:
                channel.__exit__(None, None, None)
        status, rc = runner.status, runner.rc
    except Exception as exc:  # runner itself failed to start ansible-playbook
        failures.append(
            {"host": "controller", "task": "start ansible-playbook", "msg": str(exc), "unreachable": False}
        )
        status, rc = "error", None
    finally:
        events.put(None)
        consumer.join(timeout=30)
        shutil.rmtree(private, ignore_errors=True)
    return RunResult(
        status=status,
        rc=rc,
        ident=ident,
        artifact_dir=str(Path(artifact_dir) / ident),
        failures=failures,
        stats=stats,
        duration_s=time.monotonic() - started,
    )


def _tagged_processes(owner: str) -> list[int]:
    """Our processes whose environment carries ``owner``'s tag (other users' are unreadable)."""
    needle = f"{OWNER_TAG}={owner}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and int(entry.name) != os.getpid():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours
    return found


def stop_leftovers(owner: str, grace: float = 10.0) -> list[int]:
    """Stop what a dead run tagged ``owner`` left running: SIGTERM, then SIGKILL after ``grace``."""
    import time

    pids = _tagged_processes(owner)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _tagged_processes(owner):
        time.sleep(0.2)
    for pid in _tagged_processes(owner):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def write_inventory(directory: str | os.PathLike, deployment_file: str | os.PathLike) -> Path:
    """The inventory source for a deployment document (infn.cloud.deployment plugin)."""
    path = Path(directory) / "infn_cloud.deployment.yml"
    text = f"plugin: infn.cloud.deployment\ndeployment_file: {json.dumps(str(deployment_file))}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, text)
    os.replace(tmp, path)
    return path
