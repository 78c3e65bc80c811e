"""The deployment lifecycle: deploy, retry and delete, with fallback across ranked sites.

deploy:  validate + plan -> select sites (nothing is recorded if either fails) -> record
         CREATE_IN_PROGRESS -> secrets (generated ones and the SSH keypair go to the secret
         store) -> for each ranked site, up to max_sites: provision (driver create + wait) ->
         resolve get_attribute -> write the deployment document -> configure (ansible-runner,
         playbooks/configure.yml, infn.cloud.deployment inventory) -> resolve outputs ->
         CREATE_COMPLETE. A failure at a site records the cause and phase in a new attempt,
         deletes what was created there and moves on to the next site.
retry:   a CREATE_FAILED deployment, or one whose owner process died (kill -9): when its
         nodes still exist at the recorded site, resume there (wait, configure: roles are
         idempotent); otherwise start over from the stored plan with a fresh site selection.
delete:  removes everything labelled/tagged with the deployment id on every site any attempt
         touched (found from the site, not from our records), then its secrets. ``force``
         always ends in DELETE_COMPLETE, recording what could not be removed.
Ctrl-C stops the current phase (ansible-runner cancels ansible-playbook), records the attempt
as cancelled and leaves the deployment CREATE_FAILED: ``retry`` or ``delete`` continue.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infn_cloud.deploy.progress import ProgressView
from infn_cloud.deploy.redaction import (
    MARKER,
    Redactor,
    redact,
    redact_plan,
    redact_template_text,
    secret_role_vars,
    unredact,
)
from infn_cloud.errors import InfnCloudError, NoSiteError, OperationFailed, UsageError
from infn_cloud.paths import state_home
from infn_cloud.state import ACTIVE_STATUSES, StateStore, owner_alive

DEFAULT_MAX_SITES = 3


class Cancelled(Exception):
    pass


@dataclass
class Timeouts:
    provision: int = 600  # driver create + nodes ready
    configure: int = 3600  # whole ansible-playbook run (runner job_timeout)
    idle: int = 900  # ansible-playbook silent for this long (runner idle_timeout)


@dataclass
class DeployRequest:
    template: str
    inputs: Any = None
    import_map: list[str] | None = None
    registry: str | None = None
    group: str | None = None
    policy: str = "auto"
    max_sites: int = DEFAULT_MAX_SITES
    timeouts: Timeouts = field(default_factory=Timeouts)


def deployment_dir(deployment_id: str) -> Path:
    return state_home() / "deployments" / deployment_id


def _write_json_private(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _stored_inputs(inputs, plan: dict, secrets: dict[str, str]) -> dict:
    """The inputs as given, for the record: a secret input's value becomes its marker."""
    declared = set(plan.get("secret_inputs") or [])
    stored = {}
    for key, value in dict(inputs or {}).items():
        if key in declared and value not in (None, "") and not isinstance(value, dict | list):
            stored[key] = MARKER.format(key)
        else:
            stored[key] = value
    return redact(stored, secrets)


def _template_text(template_path: str) -> str | None:
    try:
        return Path(template_path).read_text(encoding="utf-8")
    except OSError:
        return None


class Lifecycle:
    def __init__(self, state: StateStore, view: ProgressView | None = None, secret_store=None):
        self.state = state
        self.view = view or ProgressView(quiet=True)
        self._secret_store = secret_store
        self.cancel = threading.Event()

    @property
    def secrets(self):
        if self._secret_store is None:
            from infn_cloud.secrets import open_store

            self._secret_store = open_store()
        return self._secret_store

    # ================================================================== deploy
    def deploy(self, request: DeployRequest) -> dict:
        from infn_cloud.federation import load_registry, select_sites
        from infn_cloud.tosca import make_plan, secret_values

        if request.max_sites < 1:
            raise UsageError("--max-sites must be at least 1")
        # 1. validate and plan, 2. select: errors here leave no record behind.
        plan = make_plan(request.template, request.inputs, import_map=request.import_map)
        registry = load_registry(request.registry)
        selection = select_sites(
            plan, registry, group=request.group, policy=request.policy, history=self.state.site_history()
        )
        secret_role_vars(plan, secret_values.values(plan))  # conflicts refused before anything exists
        deployment_id = str(uuid.uuid4())
        secrets, generated = self._prepare_secrets(deployment_id, plan)
        if generated:  # plan again so the generated values reach the role variables
            inputs = dict(request.inputs or {})
            inputs.update({name: secrets[name] for name in generated})
            plan = make_plan(request.template, inputs, import_map=request.import_map)
        stored_plan = redact_plan(plan, secrets)
        self.view.redact = Redactor(secrets).text  # the log and the terminal get markers too
        record = self.state.create_deployment(
            {
                "id": deployment_id,
                "template": str(plan.get("template") or request.template),
                # A record of what was deployed (retry works from the stored plan): secret
                # values, defaults included, are replaced by markers; None if that fails.
                "template_text": redact_template_text(
                    _template_text(str(plan.get("template") or request.template)), secrets
                ),
                "inputs": _stored_inputs(request.inputs, plan, secrets),
                "group_name": selection.group,
                "policy": request.policy,
                "registry": str(registry.path) if getattr(registry, "path", None) else request.registry,
                "max_sites": request.max_sites,
                "status": "CREATE_IN_PROGRESS",
                "plan": stored_plan,
                "secret_vars": sorted(secret_role_vars(plan, secrets)),
            }
        )
        self.view.attach_log(deployment_dir(deployment_id) / "deploy.log")
        self.view.message(f"deployment {deployment_id}: {Path(record['template']).name}")
        self.view.message(f"   secrets: {self.secrets.describe()}")
        candidates = selection.candidates[: request.max_sites]
        return self._run_attempts(record, plan, secrets, registry, candidates, "create", request.timeouts)

    def _prepare_secrets(self, deployment_id: str, plan: dict) -> tuple[dict[str, str], list[str]]:
        """Store the plan's secret values (secret inputs, and secrets found inside maps, lists
        and marked properties: infn_cloud.tosca.secret_values), generate the secret inputs left
        empty, create the SSH keypair."""
        from infn_cloud.tosca import secret_values

        store = self.secrets
        secrets: dict[str, str] = {}
        for name, value in secret_values.values(plan).items():
            store.put(deployment_id, name, value)
            secrets[name] = value
        generated = [n for n in plan.get("secrets_to_generate") or [] if n not in secrets]
        for name in generated:
            # generated to satisfy the input's constraints (pattern, lengths): the plan's secret_constraints
            constraints = (plan.get("secret_constraints") or {}).get(name)
            secrets[name] = store.ensure_secret(deployment_id, name, constraints=constraints)
        store.ensure_ssh_keypair(deployment_id)
        return secrets, generated

    def _load_secrets(self, deployment_id: str) -> dict[str, str]:
        values = self.secrets.get_all(deployment_id)
        return {k: v for k, v in values.items() if isinstance(v, str)}

    # ================================================================== attempts
    def _run_attempts(
        self,
        record: dict,
        plan: dict,
        secrets: dict[str, str],
        registry,
        candidates: list,
        operation: str,
        timeouts: Timeouts,
        resume_site: str | None = None,
    ) -> dict:
        deployment_id = record["id"]
        causes: list[str] = []
        for candidate in candidates:
            site_name = candidate.site if hasattr(candidate, "site") else candidate["site"]
            resume = site_name == resume_site
            try:
                return self._attempt(
                    record, plan, secrets, registry, candidate, operation, timeouts, resume=resume
                )
            except _AttemptFailed as failed:
                causes.append(f"{site_name} ({failed.phase}): {failed.cause}")
                continue
        self.state.update(
            deployment_id, status="CREATE_FAILED", status_reason="; ".join(causes) or "no site tried"
        )
        self.view.message(f"deployment {deployment_id} failed on every site tried")
        raise OperationFailed(
            f"deployment {deployment_id} failed on {len(causes)} site(s)",
            details=[
                *causes,
                f"see: infn-cloud show {deployment_id}; retry: infn-cloud retry {deployment_id}",
            ],
        )

    def _attempt(self, record, plan, secrets, registry, candidate, operation, timeouts, resume=False) -> dict:
        from infn_cloud.federation import get_driver
        from infn_cloud.tosca.attributes import resolve_attributes

        deployment_id = record["id"]
        site_name = candidate.site if hasattr(candidate, "site") else candidate["site"]
        site = registry.sites[site_name]
        attempt = self.state.start_attempt(deployment_id, operation, site_name, "provision")
        self.state.update(deployment_id, site=site_name, status="CREATE_IN_PROGRESS")
        timings: dict[str, float] = {}
        phase = "provision"
        driver = None
        try:
            started = time.monotonic()
            public_key = self.secrets.ensure_ssh_keypair(deployment_id)
            driver = get_driver(site, public_key=public_key)
            if resume:
                self.view.phase("provision", site_name, "resuming: the nodes exist")
            else:
                self.view.phase("provision", site_name, f"score {getattr(candidate, 'score', '?')}")
            # The local driver's create is idempotent (it starts what exists, adds what is
            # missing), so a resumed attempt also repairs a half-made deployment.
            if not resume or driver.name == "local":
                driver.create(deployment_id, plan, candidate, progress=self.view)
            resources = driver.wait(deployment_id, None, timeout=timeouts.provision, progress=self.view)
            timings["provision_s"] = round(time.monotonic() - started, 1)
            self.state.update(deployment_id, resources=resources)

            phase = "configure"
            self.state.set_phase(attempt, phase, timings)
            resolved = resolve_attributes(plan, resources)
            secret_vars = sorted(secret_role_vars(resolved, secrets))
            site_role_vars = {site_name: dict(getattr(site, "role_vars", None) or {})}
            document = self.write_document(
                deployment_id,
                site_name,
                redact_plan(resolved, secrets),
                resources,
                secret_vars=secret_vars,
                site_role_vars=site_role_vars,
            )
            self.view.phase("configure", site_name, "ansible-playbook playbooks/configure.yml")
            started = time.monotonic()
            result = self._configure(deployment_id, document, resolved, secrets, resources, timeouts)
            timings["configure_s"] = round(time.monotonic() - started, 1)
            if result.status == "canceled":
                raise Cancelled()
            if not result.ok:
                raise OperationFailed(result.cause(), details=result.details())

            boundaries = list(getattr(result, "boundaries", None) or [])
            if boundaries:  # roles that stopped where this site cannot go (site role_vars)
                self.view.message("Stopped at documented boundaries:")
                for line in boundaries:
                    self.view.message(f"   {line}")
            self.state.update(deployment_id, boundaries=boundaries)

            phase = "outputs"
            self.state.set_phase(attempt, phase, timings)
            outputs = {name: out.get("value") for name, out in (resolved.get("outputs") or {}).items()}
            outputs = redact(outputs, secrets)
            self.state.update(
                deployment_id,
                status="CREATE_COMPLETE",
                status_reason=None,
                outputs=outputs,
                plan=redact_plan(resolved, secrets),
            )
            self.state.finish_attempt(attempt, "ok", timings=timings)
            self.write_document(
                deployment_id,
                site_name,
                redact_plan(resolved, secrets),
                resources,
                "CREATE_COMPLETE",
                secret_vars,
                site_role_vars,
            )
            self.view.phase("done", site_name, f"CREATE_COMPLETE in {_total(timings)}")
            return self.state.get(deployment_id)
        except (KeyboardInterrupt, Cancelled):
            self.state.finish_attempt(
                attempt, "cancelled", cause=f"cancelled by the user during {phase}", timings=timings
            )
            self.state.update(
                deployment_id,
                status="CREATE_FAILED",
                status_reason=f"cancelled during {phase} at {site_name}; run retry or delete",
            )
            self.view.message(
                f"cancelled during {phase}: infn-cloud retry {deployment_id} | "
                f"infn-cloud delete {deployment_id}"
            )
            raise KeyboardInterrupt from None
        except InfnCloudError as exc:
            cause, details = exc.message, exc.details
        except Exception as exc:  # a driver or runner bug must not leave a record in progress
            cause, details = f"{type(exc).__name__}: {exc}", []
        # A failing task may quote a value: causes go to the state database and the log.
        cause, details = redact(cause, secrets), redact(list(details or []), secrets)
        self.view.message(f"FAILED at {site_name} during {phase}: {cause}")
        for line in details:
            self.view.message(f"   {line}")
        cleanup: list[str] = []
        if driver is not None:
            self.view.message(f"   removing what was created at {site_name}")
            try:
                cleanup = driver.delete(deployment_id, progress=self.view) or []
            except InfnCloudError as exc:
                cleanup = [f"cleanup failed: {exc.message}", *exc.details]
            except Exception as exc:
                cleanup = [f"cleanup failed: {type(exc).__name__}: {exc}"]
        self.state.finish_attempt(
            attempt, "failed", cause=cause, details=details, cleanup=cleanup, timings=timings
        )
        self.state.update(deployment_id, resources=None)
        raise _AttemptFailed(phase, cause)

    def write_document(
        self,
        deployment_id,
        site,
        plan,
        resources,
        status="CREATE_IN_PROGRESS",
        secret_vars=(),
        site_role_vars=None,
    ) -> Path:
        """The deployment document the inventory plugin reads; secret_vars: role variables that
        hold secrets (passed as encrypted extra vars; the document has markers in their place);
        site_role_vars: {site: role_vars of its registry entry}, host variables of its hosts."""
        directory = deployment_dir(deployment_id)
        path = directory / "deployment.json"
        _write_json_private(
            path,
            {
                "id": deployment_id,
                "site": site,
                "plan": plan,
                "resources": resources,
                "status": status,
                "secret_vars": list(secret_vars),
                "site_role_vars": site_role_vars or {},
            },
        )
        return path

    def _configure(self, deployment_id, document, resolved_plan, secrets, resources, timeouts):
        from infn_cloud.runner import run_playbook, write_inventory

        directory = deployment_dir(deployment_id)
        inventory = write_inventory(directory, document)
        nodes = [n for group in (resources.get("nodes") or {}).values() for n in group]
        podman = any(n.get("connection", {}).get("ansible_connection", "").endswith("podman") for n in nodes)
        connection = "podman" if podman else "ssh"
        ssh_key = self.secrets.ssh_private_key(deployment_id) if connection == "ssh" else None
        extra = secret_role_vars(resolved_plan, secrets)
        ident = f"configure-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.view.message(f"   artifacts: {directory / 'artifacts' / ident}")
        box: dict[str, Any] = {}
        boundaries: list[str] = []

        def on_event(event: dict) -> None:
            boundaries.extend(boundaries_from_event(event))
            self.view.on_event(event)

        def work() -> None:
            box["result"] = run_playbook(
                "playbooks/configure.yml",
                inventory=inventory,
                artifact_dir=directory / "artifacts",
                ident=ident,
                secret_extravars=extra or None,
                ssh_key=ssh_key,
                connection=connection,
                known_hosts=directory / "known_hosts",
                job_timeout=timeouts.configure,
                idle_timeout=timeouts.idle,
                on_event=on_event,
                cancel=self.cancel,
                owner=deployment_id,
            )
            box["result"].boundaries = boundaries

        thread = threading.Thread(target=work, name="infn-cloud-configure", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.2)
        except KeyboardInterrupt:
            self.view.message("   interrupt: stopping ansible-playbook ...")
            self.cancel.set()
            thread.join(60)
            raise Cancelled() from None
        return box["result"]

    # ================================================================== retry
    def retry(
        self, deployment_id: str, timeouts: Timeouts | None = None, max_sites: int | None = None
    ) -> dict:
        from infn_cloud.federation import get_driver, load_registry, select_sites

        timeouts = timeouts or Timeouts()
        record = self.state.get(deployment_id)
        deployment_id = record["id"]
        record = self.state.take_ownership(deployment_id, ("CREATE_FAILED",), "CREATE_IN_PROGRESS")
        if record["previous_status"] != "CREATE_FAILED":
            self._take_over(deployment_id)
        self.view.attach_log(deployment_dir(deployment_id) / "deploy.log")
        self.view.message(f"retry of {deployment_id} (was {record['previous_status']})")
        secrets = self._load_secrets(deployment_id)
        self.view.redact = Redactor(secrets).text
        plan = unredact(record["plan"], secrets)
        # The stored plan may be resolved already: outputs keep the original expressions.
        for output in (plan.get("outputs") or {}).values():
            if "expression" in output:
                output["value"] = output["expression"]
        try:
            registry = load_registry(record["registry"])
        except InfnCloudError:
            self.state.update(deployment_id, status="CREATE_FAILED", status_reason="registry unreadable")
            raise
        resume_site = None
        if record.get("site") and record["site"] in registry.sites:
            try:
                existing = get_driver(registry.sites[record["site"]]).describe(deployment_id)
                if existing.get("nodes"):
                    resume_site = record["site"]
            except InfnCloudError as exc:
                self.view.message(f"   cannot look at {record['site']}: {exc.message}")
        candidates: list = []
        try:
            selection = select_sites(
                plan,
                registry,
                group=record["group_name"],
                policy=record["policy"] or "auto",
                history=self.state.site_history(),
            )
            candidates = list(selection.candidates)
        except NoSiteError:
            if resume_site is None:
                self.state.update(deployment_id, status="CREATE_FAILED", status_reason="no site can host it")
                raise
        if resume_site:
            # The site that holds the nodes first; its capacity check counted them as "others".
            first = next((c for c in candidates if c.site == resume_site), None) or {"site": resume_site}
            candidates = [first, *[c for c in candidates if c.site != resume_site]]
        limit = max_sites or record.get("max_sites") or DEFAULT_MAX_SITES
        return self._run_attempts(
            record, plan, secrets, registry, candidates[:limit], "retry", timeouts, resume_site=resume_site
        )

    def _take_over(self, deployment_id: str) -> None:
        """The record's owner is dead: stop what its ansible-playbook left running, close its attempts."""
        from infn_cloud.runner import stop_leftovers

        stopped = stop_leftovers(deployment_id)
        if stopped:
            self.view.message(f"   stopped {len(stopped)} process(es) the dead run left behind")
        self.state.abandon_running_attempts(deployment_id, "the process running it stopped (killed?)")

    # ================================================================== delete
    def delete(self, deployment_id: str, force: bool = False) -> dict:
        from infn_cloud.federation import get_driver, load_registry

        record = self.state.get(deployment_id)
        deployment_id = record["id"]
        if record["status"] == "DELETE_COMPLETE":
            self.view.message(f"deployment {deployment_id} is already deleted")
            return record
        if force:
            busy = record["status"] in ACTIVE_STATUSES and owner_alive(record)
            if busy:
                self.view.message(
                    f"warning: process {record['owner_pid']} is still working on it; deleting anyway"
                )
            self.state.update(deployment_id, status="DELETE_IN_PROGRESS")
            if busy:
                self.state.abandon_running_attempts(deployment_id, "deleted while it was running")
            elif record["status"] in ACTIVE_STATUSES:
                self._take_over(deployment_id)
        else:
            self.state.take_ownership(deployment_id, (), "DELETE_IN_PROGRESS")
            if record["status"] in ACTIVE_STATUSES:  # its owner died in the middle of it
                self._take_over(deployment_id)
        self.view.attach_log(deployment_dir(deployment_id) / "deploy.log")
        sites = []
        for name in [record.get("site"), *[a.get("site") for a in record["attempts"]]]:
            if name and name not in sites:
                sites.append(name)
        attempt = self.state.start_attempt(deployment_id, "delete", ",".join(sites) or None, "deprovision")
        self.view.phase("delete", None, f"{deployment_id} on {', '.join(sites) or 'no site'}")
        removed: list[str] = []
        problems: list[str] = []
        registry = None
        try:
            registry = load_registry(record["registry"])
        except InfnCloudError as exc:
            problems.append(f"registry {record['registry']}: {exc.message}")
        for name in sites if registry is not None else []:
            site = registry.sites.get(name)
            if site is None:
                problems.append(f"site {name} is no longer in the registry")
                continue
            try:
                removed += [
                    f"{name}: {r}" for r in get_driver(site).delete(deployment_id, progress=self.view)
                ]
            except InfnCloudError as exc:
                problems.append(f"{name}: {exc.message}")
                problems += [f"{name}: {d}" for d in exc.details]
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        if problems and not force:
            self.state.finish_attempt(attempt, "failed", cause=problems[0], details=problems, cleanup=removed)
            self.state.update(deployment_id, status="DELETE_FAILED", status_reason=problems[0])
            raise OperationFailed(
                f"deployment {deployment_id}: delete failed",
                details=[
                    *problems,
                    "fix the cause and run delete again, or delete --force to drop the record",
                ],
            )
        try:
            self.secrets.delete_deployment(deployment_id)
            removed.append("secrets")
        except InfnCloudError as exc:
            problems.append(f"secrets: {exc.message}")
        outcome = "ok" if not problems else "forced"
        reason = None if not problems else "forced; may remain: " + "; ".join(problems)
        self.state.finish_attempt(attempt, outcome, cause=reason, details=problems, cleanup=removed)
        self.state.update(deployment_id, status="DELETE_COMPLETE", status_reason=reason, resources=None)
        shutil.rmtree(deployment_dir(deployment_id) / "artifacts", ignore_errors=True)
        for name in ("deployment.json", "infn_cloud.deployment.yml", "known_hosts"):
            (deployment_dir(deployment_id) / name).unlink(missing_ok=True)
        self.view.message(f"deleted: {', '.join(removed) or 'nothing was left'}")
        if problems:
            for line in problems:
                self.view.message(f"   not removed: {line}")
        return self.state.get(deployment_id)


BOUNDARY_STAT = "infn_cloud_boundaries"


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


class _AttemptFailed(Exception):
    def __init__(self, phase: str, cause: str):
        super().__init__(cause)
        self.phase = phase
        self.cause = cause


def _total(timings: dict) -> str:
    return f"{sum(v for v in timings.values() if isinstance(v, int | float)):.0f} s"
