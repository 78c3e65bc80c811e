"""One attempt at one site: provision, configure, outputs; on failure, clean that site up.

The lifecycle (``infn_cloud.deploy.lifecycle``) decides which sites to try and in which order;
an attempt records itself in the state store (phase, timings, outcome, cause) and either
returns the completed record or raises ``AttemptFailed`` after removing what it created.
Ctrl-C records the attempt as cancelled and re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from infn_cloud.deploy import document
from infn_cloud.deploy.configure import Cancelled, ConfigureRun, configure
from infn_cloud.deploy.redaction import redact
from infn_cloud.errors import InfnCloudError, OperationFailed
from infn_cloud.model import SiteCandidate


@dataclass
class Timeouts:
    provision: int = 600  # driver create + nodes ready
    configure: int = 3600  # whole ansible-playbook run (runner job_timeout)
    idle: int = 900  # ansible-playbook silent for this long (runner idle_timeout)


class AttemptFailed(Exception):
    def __init__(self, phase: str, cause: str):
        super().__init__(cause)
        self.phase = phase
        self.cause = cause


@dataclass
class Attempts:
    """What every attempt of one operation on one deployment shares."""

    deployment_id: str
    plan: dict  # with secret values: only the records get markers
    secrets: dict[str, str]
    registry: object
    operation: str  # create | retry
    timeouts: Timeouts
    state: object  # StateStore
    view: object  # ProgressView
    secret_store: object
    cancel: threading.Event = field(default_factory=threading.Event)
    state_dir: object = None

    def run(self, candidate: SiteCandidate, resume: bool = False) -> dict:
        return _Attempt(self, candidate, resume).run()


class _Attempt:
    def __init__(self, shared: Attempts, candidate: SiteCandidate, resume: bool):
        self.shared = shared
        self.candidate = candidate
        self.resume = resume
        self.site = shared.registry.sites[candidate.site]
        # A deployment across backbone sites is recorded at its sites joined with "," (I2).
        self.site_label = ",".join(candidate.sites)
        self.timings: dict[str, float] = {}
        self.phase = "provision"
        self.driver = None
        self.attempt_id = None

    # ------------------------------------------------------------------ the sequence
    def run(self) -> dict:
        s, site_name = self.shared, self.site_label
        self.attempt_id = s.state.start_attempt(s.deployment_id, s.operation, site_name, "provision")
        s.state.update(s.deployment_id, site=site_name, status="CREATE_IN_PROGRESS")
        try:
            resources = self._provision()
            self._enter("configure")
            resolved, path, doc = self._document(resources)
            self._configure(path, resolved, resources)
            self._enter("outputs")
            return self._complete(resolved, path, doc)
        except (KeyboardInterrupt, Cancelled):
            self._cancelled()
            raise KeyboardInterrupt from None
        except InfnCloudError as exc:
            cause, details = exc.message, exc.details
        except Exception as exc:  # a driver or runner bug must not leave a record in progress
            cause, details = f"{type(exc).__name__}: {exc}", []
        self._failed(cause, details)
        raise AttemptFailed(self.phase, redact(cause, s.secrets))

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.shared.state.set_phase(self.attempt_id, phase, self.timings)

    # ------------------------------------------------------------------ phases
    def _provision(self) -> dict:
        from infn_cloud.federation.drivers import driver_for

        s, site_name = self.shared, self.site_label
        started = time.monotonic()
        public_key = s.secret_store.ensure_ssh_keypair(s.deployment_id)
        # the site's driver, or one over every site of a placement across backbone sites
        self.driver = driver_for(s.registry, self.candidate, public_key=public_key)
        if self.resume:
            s.view.phase("provision", site_name, "resuming: the nodes exist")
        else:
            score = "?" if self.candidate.score is None else self.candidate.score
            s.view.phase("provision", site_name, f"score {score}")
        # The local driver's create is idempotent (it starts what exists, adds what is
        # missing), so a resumed attempt also repairs a half-made deployment.
        if not self.resume or self.driver.name in ("local", "spanning"):
            self.driver.create(s.deployment_id, s.plan, self.candidate, progress=s.view)
        resources = self.driver.wait(s.deployment_id, None, timeout=s.timeouts.provision, progress=s.view)
        self.timings["provision_s"] = round(time.monotonic() - started, 1)
        s.state.update(s.deployment_id, resources=resources)
        return resources

    def _document(self, resources: dict, status: str = "CREATE_IN_PROGRESS"):
        """(resolved plan, document path, document): the document is written at once."""
        from infn_cloud.tosca.attributes import resolve_attributes

        s = self.shared
        resolved = resolve_attributes(s.plan, resources)
        doc = document.build(s.deployment_id, self.site, resolved, resources, s.secrets, status)
        for name in self.candidate.sites[1:]:  # each host gets its own site's role_vars
            doc["site_role_vars"][name] = dict(getattr(s.registry.sites[name], "role_vars", None) or {})
        path = document.deployment_dir(s.deployment_id, s.state_dir) / document.FILE_NAME
        return resolved, document.write(path, doc), doc

    def _configure(self, path, resolved: dict, resources: dict) -> None:
        from infn_cloud.deploy.redaction import secret_role_vars

        s = self.shared
        s.view.phase("configure", self.site_label, "ansible-playbook playbooks/configure.yml")
        started = time.monotonic()
        run = ConfigureRun(
            deployment_id=s.deployment_id,
            directory=document.deployment_dir(s.deployment_id, s.state_dir),
            document=path,
            resources=resources,
            secret_extravars=secret_role_vars(resolved, s.secrets),
            ssh_private_key=lambda: s.secret_store.ssh_private_key(s.deployment_id),
            job_timeout=s.timeouts.configure,
            idle_timeout=s.timeouts.idle,
        )
        result = configure(run, s.view, s.cancel)
        self.timings["configure_s"] = round(time.monotonic() - started, 1)
        if result.status == "canceled":
            raise Cancelled()
        if not result.ok:
            raise OperationFailed(result.cause(), details=result.details())
        boundaries = list(getattr(result, "boundaries", None) or [])
        if boundaries:  # roles that stopped where this site cannot go (site role_vars)
            s.view.message("Stopped at documented boundaries:")
            for line in boundaries:
                s.view.message(f"   {line}")
        s.state.update(s.deployment_id, boundaries=boundaries)

    def _complete(self, resolved: dict, path, doc: dict) -> dict:
        s = self.shared
        outputs = {name: out.get("value") for name, out in (resolved.get("outputs") or {}).items()}
        s.state.update(
            s.deployment_id,
            status="CREATE_COMPLETE",
            status_reason=None,
            outputs=redact(outputs, s.secrets),
            plan=doc["plan"],
        )
        s.state.finish_attempt(self.attempt_id, "ok", timings=self.timings)
        document.write(path, {**doc, "status": "CREATE_COMPLETE"})
        total = sum(v for v in self.timings.values() if isinstance(v, int | float))
        s.view.phase("done", self.site_label, f"CREATE_COMPLETE in {total:.0f} s")
        return s.state.get(s.deployment_id)

    # ------------------------------------------------------------------ endings
    def _cancelled(self) -> None:
        s, site_name = self.shared, self.site_label
        s.state.finish_attempt(
            self.attempt_id,
            "cancelled",
            cause=f"cancelled by the user during {self.phase}",
            timings=self.timings,
        )
        s.state.update(
            s.deployment_id,
            status="CREATE_FAILED",
            status_reason=f"cancelled during {self.phase} at {site_name}; run retry or delete",
        )
        s.view.message(
            f"cancelled during {self.phase}: infn-cloud retry {s.deployment_id} | "
            f"infn-cloud delete {s.deployment_id}"
        )

    def _failed(self, cause: str, details: list) -> None:
        s, site_name = self.shared, self.site_label
        # A failing task may quote a value: causes go to the state database and the log.
        cause, details = redact(cause, s.secrets), redact(list(details or []), s.secrets)
        s.view.message(f"FAILED at {site_name} during {self.phase}: {cause}")
        for line in details:
            s.view.message(f"   {line}")
        cleanup: list[str] = []
        if self.driver is not None:
            s.view.message(f"   removing what was created at {site_name}")
            cleanup = _cleanup(self.driver, s.deployment_id, s.view)
        s.state.finish_attempt(
            self.attempt_id, "failed", cause=cause, details=details, cleanup=cleanup, timings=self.timings
        )
        s.state.update(s.deployment_id, resources=None)


def _cleanup(driver, deployment_id: str, view) -> list[str]:
    try:
        return driver.delete(deployment_id, progress=view) or []
    except InfnCloudError as exc:
        return [f"cleanup failed: {exc.message}", *exc.details]
    except Exception as exc:
        return [f"cleanup failed: {type(exc).__name__}: {exc}"]
