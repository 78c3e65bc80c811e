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
         An UPDATE_FAILED deployment (or an update whose process died) resumes its pending
         update instead (infn_cloud.deploy.update).
update:  change a running deployment's inputs and counts (infn_cloud.deploy.update).
delete:  removes everything labelled/tagged with the deployment id on every site any attempt
         touched (found from the site, not from our records), then its secrets. ``force``
         always ends in DELETE_COMPLETE, recording what could not be removed.
Ctrl-C stops the current phase (ansible-runner cancels ansible-playbook), records the attempt
as cancelled and leaves the deployment CREATE_FAILED: ``retry`` or ``delete`` continue.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infn_cloud.deploy import deployment_secrets
from infn_cloud.deploy.attempt import AttemptFailed, Attempts, Timeouts
from infn_cloud.deploy.configure import BOUNDARY_STAT, Cancelled, boundaries_from_event
from infn_cloud.deploy.document import deployment_dir, write_private_json
from infn_cloud.deploy.progress import ProgressView
from infn_cloud.deploy.redaction import (
    Redactor,
    redact_plan,
    redact_template_text,
    secret_role_vars,
    unredact,
)
from infn_cloud.errors import InfnCloudError, NoSiteError, OperationFailed, UsageError
from infn_cloud.model import Deployment, SiteCandidate
from infn_cloud.state import ACTIVE_STATUSES, StateStore, owner_alive

DEFAULT_MAX_SITES = 3

# Names other modules imported from here before the lifecycle was split.
_write_json_private = write_private_json
_AttemptFailed = AttemptFailed
__all__ = [
    "BOUNDARY_STAT",
    "DEFAULT_MAX_SITES",
    "Cancelled",
    "DeployRequest",
    "Lifecycle",
    "Timeouts",
    "boundaries_from_event",
    "deployment_dir",
]


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
    live_signals: bool = True  # False: select on the registry's values only (--offline)


def _template_text(template_path: str) -> str | None:
    try:
        return Path(template_path).read_text(encoding="utf-8")
    except OSError:
        return None


class Lifecycle:
    """Sequences deploy, retry and delete: which sites, in which order, what is recorded.

    One attempt at one site is ``infn_cloud.deploy.attempt``; the deployment document is
    ``infn_cloud.deploy.document``; a configure run is ``infn_cloud.deploy.configure``; the
    deployment's secrets are ``infn_cloud.deploy.deployment_secrets``. Files go next to the
    state database (``state.directory``): the state directory is passed, never read from
    the environment here.
    """

    def __init__(self, state: StateStore, view: ProgressView | None = None, secret_store=None):
        self.state = state
        self.state_dir = getattr(state, "directory", None)
        self.view = view or ProgressView(quiet=True)
        self._secret_store = secret_store
        self.cancel = threading.Event()

    @property
    def secrets(self):
        if self._secret_store is None:
            self._secret_store = deployment_secrets.open_secret_store(self.state_dir)
        return self._secret_store

    def _dir(self, deployment_id: str) -> Path:
        return deployment_dir(deployment_id, self.state_dir)

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
            plan,
            registry,
            group=request.group,
            policy=request.policy,
            history=self.state.site_history(),
            signals=self._signals(registry, request.policy, request.group, request.live_signals),
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
                "inputs": deployment_secrets.stored_inputs(request.inputs, plan, secrets),
                "group_name": selection.group,
                "policy": request.policy,
                "registry": str(registry.path) if getattr(registry, "path", None) else request.registry,
                "max_sites": request.max_sites,
                "status": "CREATE_IN_PROGRESS",
                "plan": stored_plan,
                "secret_vars": sorted(secret_role_vars(plan, secrets)),
            }
        )
        self.view.attach_log(self._dir(deployment_id) / "deploy.log")
        self.view.message(f"deployment {deployment_id}: {Path(record['template']).name}")
        self.view.message(f"   secrets: {self.secrets.describe()}")
        candidates = selection.candidates[: request.max_sites]
        return self._run_attempts(record, plan, secrets, registry, candidates, "create", request.timeouts)

    def _signals(self, registry, policy: str | None, group: str | None, live: bool) -> dict:
        """What the sites say now (quotas, flavors, images, health), as `plan` ranks them."""
        if not live:
            return {}
        from infn_cloud.federation.signals import for_selection

        return for_selection(registry, policy, group, state_dir=self.state_dir)

    def _prepare_secrets(self, deployment_id: str, plan: dict) -> tuple[dict[str, str], list[str]]:
        return deployment_secrets.prepare(self.secrets, deployment_id, plan)

    def _load_secrets(self, deployment_id: str) -> dict[str, str]:
        return deployment_secrets.load(self.secrets, deployment_id)

    # ================================================================== attempts
    def _run_attempts(
        self,
        record: dict,
        plan: dict,
        secrets: dict[str, str],
        registry,
        candidates: list[SiteCandidate],
        operation: str,
        timeouts: Timeouts,
        resume_site: str | None = None,
    ) -> dict:
        deployment_id = record["id"]
        attempts = Attempts(
            deployment_id=deployment_id,
            plan=plan,
            secrets=secrets,
            registry=registry,
            operation=operation,
            timeouts=timeouts,
            state=self.state,
            view=self.view,
            secret_store=self.secrets,
            cancel=self.cancel,
            state_dir=self.state_dir,
        )
        causes: list[str] = []
        for candidate in candidates:
            try:
                return attempts.run(candidate, resume=",".join(candidate.sites) == resume_site)
            except AttemptFailed as failed:
                causes.append(f"{candidate.site} ({failed.phase}): {failed.cause}")
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

    # ================================================================== update
    def updater(self):
        """``infn-cloud update`` and the retry of an update (infn_cloud.deploy.update)."""
        from infn_cloud.deploy.update import Updater

        return Updater(self)

    def update(self, request):
        """Apply an UpdateRequest (infn_cloud.deploy.update): an UpdateResult."""
        return self.updater().update(request)

    # ================================================================== retry
    def retry(
        self,
        deployment_id: str,
        timeouts: Timeouts | None = None,
        max_sites: int | None = None,
        live_signals: bool = True,
    ) -> dict:
        from infn_cloud.federation import load_registry

        timeouts = timeouts or Timeouts()
        record = self.state.get(deployment_id)
        deployment_id = record["id"]
        if record["status"] in ("UPDATE_FAILED", "UPDATE_IN_PROGRESS"):  # resume the update
            return self.updater().retry(deployment_id, timeouts)
        claimed = self.state.take_ownership(deployment_id, ("CREATE_FAILED",), "CREATE_IN_PROGRESS")
        previous = claimed["previous_status"]
        deployment = Deployment.from_record(claimed)
        if previous != "CREATE_FAILED":
            self._take_over(deployment_id)
        self.view.attach_log(self._dir(deployment_id) / "deploy.log")
        self.view.message(f"retry of {deployment_id} (was {previous})")
        secrets = self._load_secrets(deployment_id)
        self.view.redact = Redactor(secrets).text
        plan = unredact(deployment.plan, secrets)
        # The stored plan may be resolved already: outputs keep the original expressions.
        for output in (plan.get("outputs") or {}).values():
            if "expression" in output:
                output["value"] = output["expression"]
        try:
            registry = load_registry(deployment.registry)
        except InfnCloudError:
            self.state.update(deployment_id, status="CREATE_FAILED", status_reason="registry unreadable")
            raise
        resume_site = self._resume_site(deployment, registry)
        candidates = self._retry_candidates(deployment, plan, registry, resume_site, live_signals)
        limit = max_sites or deployment.max_sites or DEFAULT_MAX_SITES
        return self._run_attempts(
            claimed, plan, secrets, registry, candidates[:limit], "retry", timeouts, resume_site=resume_site
        )

    def _resume_site(self, deployment: Deployment, registry) -> str | None:
        """The recorded site (sites joined with "," across backbone sites), when the
        deployment's nodes still exist there."""
        return deployment.site if self._candidate_at(deployment, registry) is not None else None

    def _candidate_at(self, deployment: Deployment, registry) -> SiteCandidate | None:
        """Where the nodes are, found from the recorded site(s) alone: a candidate for that
        site, with each node of another site in ``node_sites``; None when no node exists."""
        from infn_cloud.federation.drivers import site_driver

        names = [n for n in (deployment.site or "").split(",") if n]
        if not names or any(n not in registry.sites for n in names):
            return None
        node_sites: dict[str, str] = {}
        for name in names:
            try:
                existing = site_driver(registry, name, group=deployment.group_name).describe(deployment.id)
            except InfnCloudError as exc:
                self.view.message(f"   cannot look at {name}: {exc.message}")
                return None
            node_sites.update(dict.fromkeys(existing.get("nodes") or {}, name))
        if not node_sites:
            return None
        return SiteCandidate(
            site=names[0], node_sites={node: site for node, site in node_sites.items() if site != names[0]}
        )

    def _retry_candidates(
        self, deployment: Deployment, plan: dict, registry, resume_site, live_signals: bool = True
    ) -> list[SiteCandidate]:
        """A fresh site selection; the site holding the nodes first, even if it no longer ranks."""
        from infn_cloud.federation import select_sites

        candidates: list[SiteCandidate] = []
        try:
            selection = select_sites(
                plan,
                registry,
                group=deployment.group_name,
                policy=deployment.policy or "auto",
                history=self.state.site_history(),
                signals=self._signals(registry, deployment.policy, deployment.group_name, live_signals),
            )
            candidates = list(selection.candidates)
        except NoSiteError:
            if resume_site is None:
                self.state.update(deployment.id, status="CREATE_FAILED", status_reason="no site can host it")
                raise
        if resume_site:
            # The site that holds the nodes first; its capacity check counted them as "others".
            # Across backbone sites, the candidate is where the nodes are (node_sites).
            first = next((c for c in candidates if ",".join(c.sites) == resume_site), None)
            first = first or self._candidate_at(deployment, registry) or SiteCandidate.for_site(resume_site)
            candidates = [first, *[c for c in candidates if ",".join(c.sites) != resume_site]]
        return candidates

    def _take_over(self, deployment_id: str) -> None:
        """The record's owner is dead: stop what its ansible-playbook left running, close its attempts."""
        from infn_cloud.runner import stop_leftovers

        stopped = stop_leftovers(deployment_id)
        if stopped:
            self.view.message(f"   stopped {len(stopped)} process(es) the dead run left behind")
        self.state.abandon_running_attempts(deployment_id, "the process running it stopped (killed?)")

    # ================================================================== delete
    def delete(self, deployment_id: str, force: bool = False) -> dict:
        record = self.state.get(deployment_id)
        deployment_id = record["id"]
        if record["status"] == "DELETE_COMPLETE":
            self.view.message(f"deployment {deployment_id} is already deleted")
            return record
        self._claim_for_delete(record, force)
        self.view.attach_log(self._dir(deployment_id) / "deploy.log")
        sites = Deployment.from_record(record).sites_touched
        attempt = self.state.start_attempt(deployment_id, "delete", ",".join(sites) or None, "deprovision")
        self.view.phase("delete", None, f"{deployment_id} on {', '.join(sites) or 'no site'}")
        removed, problems = self._deprovision(
            deployment_id, record["registry"], sites, group=record.get("group_name")
        )
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
        shutil.rmtree(self._dir(deployment_id) / "artifacts", ignore_errors=True)
        for name in ("deployment.json", "infn_cloud.deployment.yml", "known_hosts"):
            (self._dir(deployment_id) / name).unlink(missing_ok=True)
        self.view.message(f"deleted: {', '.join(removed) or 'nothing was left'}")
        for line in problems:
            self.view.message(f"   not removed: {line}")
        return self.state.get(deployment_id)

    def _claim_for_delete(self, record: dict, force: bool) -> None:
        """DELETE_IN_PROGRESS, owned by this process; a dead owner's leftovers are stopped."""
        deployment_id = record["id"]
        active = record["status"] in ACTIVE_STATUSES
        if not force:
            self.state.take_ownership(deployment_id, (), "DELETE_IN_PROGRESS")
            if active:  # its owner died in the middle of it
                self._take_over(deployment_id)
            return
        busy = active and owner_alive(record)
        if busy:
            self.view.message(
                f"warning: process {record['owner_pid']} is still working on it; deleting anyway"
            )
        self.state.update(deployment_id, status="DELETE_IN_PROGRESS")
        if busy:
            self.state.abandon_running_attempts(deployment_id, "deleted while it was running")
        elif active:
            self._take_over(deployment_id)

    def _deprovision(
        self, deployment_id: str, registry_dir, sites: list[str], group: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Remove what each site holds of the deployment: (what was removed, problems)."""
        from infn_cloud.federation import load_registry
        from infn_cloud.federation.drivers import site_driver

        removed: list[str] = []
        problems: list[str] = []
        try:
            registry = load_registry(registry_dir)
        except InfnCloudError as exc:
            return removed, [f"registry {registry_dir}: {exc.message}"]
        for name in sites:
            site = registry.sites.get(name)
            if site is None:
                problems.append(f"site {name} is no longer in the registry")
                continue
            try:
                removed += [
                    f"{name}: {r}"
                    for r in site_driver(registry, name, group=group).delete(
                        deployment_id, progress=self.view
                    )
                ]
            except InfnCloudError as exc:
                problems.append(f"{name}: {exc.message}")
                problems += [f"{name}: {d}" for d in exc.details]
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        return removed, problems
