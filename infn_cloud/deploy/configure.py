"""One configure run: ansible-playbook playbooks/configure.yml on a deployment's hosts.

ansible-runner runs in a worker thread so that Ctrl-C reaches this process: the run is then
cancelled (ansible-runner stops ansible-playbook) and ``Cancelled`` is raised. The result says
whether the run succeeded and which documented boundaries the roles stopped at
(``infn_cloud_boundaries`` custom stats, from the site's role_vars: docs/federation.md).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOUNDARY_STAT = "infn_cloud_boundaries"


class Cancelled(Exception):
    """The user interrupted the run (Ctrl-C), or a cancel event was set."""


@dataclass
class ConfigureRun:
    """What one run needs: where the deployment's files are and how to reach its hosts."""

    deployment_id: str
    directory: Path  # the deployment's folder (document, inventory, artifacts, known_hosts)
    document: Path
    resources: dict
    secret_extravars: dict
    ssh_private_key: Any = None  # a callable giving the key, asked only for SSH connections
    job_timeout: int = 3600
    idle_timeout: int = 900
    playbook: str = "playbooks/configure.yml"  # update runs playbooks/scale_in.yml this way too
    extravars: dict | None = None  # non-secret extra vars (scale_in.yml: the hosts to remove)

    @property
    def connection(self) -> str:
        nodes = [n for group in (self.resources.get("nodes") or {}).values() for n in group]
        podman = any(n.get("connection", {}).get("ansible_connection", "").endswith("podman") for n in nodes)
        return "podman" if podman else "ssh"


def boundaries_from_event(event: dict) -> list[str]:
    """The boundary lines roles recorded with set_stats (aggregated over hosts) in a run's
    final playbook_on_stats event (ansible-runner puts the run's custom stats in artifact_data)."""
    if event.get("event") != "playbook_on_stats":
        return []
    data = (event.get("event_data") or {}).get("artifact_data") or {}
    lines = data.get(BOUNDARY_STAT) or []
    if isinstance(lines, str):
        lines = [lines]
    seen: list[str] = []
    for line in lines if isinstance(lines, list) else []:
        text = " ".join(str(line).split())
        if text and text not in seen:
            seen.append(text)
    return seen


def configure(run: ConfigureRun, view, cancel: threading.Event):
    """Run configure.yml; the runner's result with ``boundaries`` set. Raises Cancelled on Ctrl-C."""
    from infn_cloud.runner import run_playbook, write_inventory

    inventory = write_inventory(run.directory, run.document)
    connection = run.connection
    ssh_key = run.ssh_private_key() if connection == "ssh" and run.ssh_private_key else None
    ident = f"{Path(run.playbook).stem}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    view.message(f"   artifacts: {run.directory / 'artifacts' / ident}")
    box: dict[str, Any] = {}
    boundaries: list[str] = []

    def on_event(event: dict) -> None:
        boundaries.extend(boundaries_from_event(event))
        view.on_event(event)

    def work() -> None:
        box["result"] = run_playbook(
            run.playbook,
            inventory=inventory,
            extravars=run.extravars or None,
            artifact_dir=run.directory / "artifacts",
            ident=ident,
            secret_extravars=run.secret_extravars or None,
            ssh_key=ssh_key,
            connection=connection,
            known_hosts=run.directory / "known_hosts",
            job_timeout=run.job_timeout,
            idle_timeout=run.idle_timeout,
            on_event=on_event,
            cancel=cancel,
            owner=run.deployment_id,
        )
        box["result"].boundaries = boundaries

    thread = threading.Thread(target=work, name="infn-cloud-configure", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        view.message("   interrupt: stopping ansible-playbook ...")
        cancel.set()
        thread.join(60)
        raise Cancelled() from None
    return box["result"]
