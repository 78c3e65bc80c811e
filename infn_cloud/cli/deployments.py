"""`infn-cloud list | show ID | outputs ID | logs ID`: read deployment records.

Also the helpers the other lifecycle commands share: ``record_view`` (the JSON shape of a
record), ``print_record`` and ``run_lifecycle`` (one Lifecycle action under a progress view).
``add_state_argument`` and ``open_state_from_args`` live in cli/options.py (imported here too).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from infn_cloud.cli import emit
from infn_cloud.cli.options import (
    STATE_ENV,  # noqa: F401 (imported from here by older callers)
    add_id_argument,
    add_record_arguments,
    add_state_argument,
    open_state_from_args,
)
from infn_cloud.cli.view import make_view
from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.errors import NotFoundError, UsageError
from infn_cloud.state import ACTIVE_STATUSES, StateStore, owner_alive

__all__ = ["add_state_argument", "open_state_from_args", "print_record", "record_view", "run_lifecycle"]


def run_lifecycle(
    args: argparse.Namespace, action: Callable[[Lifecycle], dict], human: Callable[[dict], None]
) -> int:
    """Run one Lifecycle action (deploy, retry, delete) under the progress view the options ask
    for, then print the record it returns (JSON with --json, else ``human``)."""
    view = make_view(args)
    try:
        with open_state_from_args(args) as state:
            data = record_view(action(Lifecycle(state, view)))
    finally:
        view.close()
    emit(args, data, human)
    return 0


def _when(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts)) if ts else None


def _stale(record: dict) -> bool:
    return record["status"] in ACTIVE_STATUSES and not owner_alive(record)


def record_view(record: dict) -> dict:
    """A record as `show --json` prints it (no template text, times as ISO 8601)."""
    resources = record.get("resources") or {}
    nodes = {
        node: [
            {
                **{k: inst.get(k) for k in ("name", "id", "status", "private_ip", "public_ip", "flavor")},
                # A deployment across backbone sites has one per instance (drivers/spanning.py).
                "site": inst.get("site") or resources.get("site"),
            }
            for inst in instances
        ]
        for node, instances in (resources.get("nodes") or {}).items()
    }
    attempts = []
    for a in record.get("attempts") or []:
        attempts.append(
            {
                "operation": a["operation"],
                "site": a["site"],
                "phase": a["phase"],
                "outcome": a["outcome"],
                "cause": a["cause"],
                "details": a["details"],
                "cleanup": a["cleanup"],
                "started_at": _when(a["started_at"]),
                "finished_at": _when(a["finished_at"]),
                "duration_s": round(a["finished_at"] - a["started_at"], 1) if a["finished_at"] else None,
                "timings": a["timings"],
            }
        )
    plan = record.get("plan") or {}
    return {
        "id": record["id"],
        "template": record["template"],
        "description": plan.get("description"),
        "status": record["status"],
        "status_reason": record.get("status_reason"),
        "stale": _stale(record),
        "site": record.get("site"),
        "group": record.get("group_name"),
        "policy": record.get("policy"),
        "registry": record.get("registry"),
        "created_at": _when(record["created_at"]),
        "updated_at": _when(record["updated_at"]),
        "inputs": record.get("inputs") or {},
        "outputs": record.get("outputs") or {},
        "nodes": nodes,
        "volumes": [v.get("name") for v in resources.get("volumes") or []],
        # What roles did not do on this site, and why (site role_vars: docs/federation.md).
        "boundaries": list(record.get("boundaries") or []),
        "attempts": attempts,
    }


def print_record(view: dict) -> None:
    status = view["status"] + (
        " (stale: the process running it is gone; retry or delete)" if view["stale"] else ""
    )
    print(f"Deployment {view['id']}")
    print(f"  template: {view['template']}")
    if view.get("description"):
        print(f"  {view['description']}")
    print(f"  status:   {status}")
    if view.get("status_reason"):
        print(f"  reason:   {view['status_reason']}")
    print(
        f"  site:     {view['site'] or '-'} (group {view['group'] or '-'}, policy {view['policy'] or 'auto'})"
    )
    print(f"  created:  {view['created_at']}; updated {view['updated_at']}")
    if view["inputs"]:
        print("  inputs:")
        for key, value in view["inputs"].items():
            print(f"    {key}: {value}")
    if view["nodes"]:
        print("  nodes:")
        for node, instances in view["nodes"].items():
            for inst in instances:
                print(
                    f"    {node}: {inst['name']} {inst['status'] or ''} private {inst['private_ip'] or '-'} "
                    f"public {inst['public_ip'] or '-'}"
                )
    if view.get("boundaries"):
        print("  Stopped at documented boundaries (the service is partial):")
        for line in view["boundaries"]:
            print(f"    {line}")
    if view["outputs"]:
        print("  outputs:")
        for key, value in view["outputs"].items():
            print(f"    {key}: {_show_value(value)}")
    print("  attempts:")
    _print_attempts(view["attempts"])
    for n, a in enumerate(view["attempts"], 1):
        if a["cause"]:
            print(f"    {n}. cause: {a['cause']}")
            for line in a["details"][:8]:
                print(f"         {line}")
        if a["cleanup"]:
            print(f"    {n}. cleaned up: {', '.join(a['cleanup'])}")


def _seconds(value) -> str:
    if not isinstance(value, int | float):
        return "-"
    value = round(value)
    return f"{value} s" if value < 120 else f"{value // 60} min {value % 60:02d} s"


def attempt_rows(attempts: list[dict]) -> list[list]:
    """One row per attempt: what ran where, how it ended, in which phase, how long each phase took."""
    rows = []
    for n, a in enumerate(attempts, 1):
        timings = a.get("timings") or {}
        rows.append(
            [
                n,
                a["operation"],
                a["site"],
                a["outcome"],
                a["phase"],
                _seconds(timings.get("provision_s")),
                _seconds(timings.get("configure_s")),
                _seconds(a["duration_s"]),
                a["started_at"],
            ]
        )
    return rows


def _print_attempts(attempts: list[dict]) -> None:
    from infn_cloud.cli.view import print_renderable, table

    columns = ["#", "OPERATION", "SITE", "OUTCOME", "PHASE", "PROVISION", "CONFIGURE", "TOTAL", "STARTED"]
    print_renderable(table(columns, attempt_rows(attempts), "OUTCOME", indent=4))


def _show_value(value) -> str:
    from infn_cloud.deploy.redaction import mask_references

    return str(mask_references({"v": value})["v"])


# ---------------------------------------------------------------------- handlers
def _list(args: argparse.Namespace) -> int:
    with open_state_from_args(args) as state:
        records = state.list(include_deleted=args.all)
    rows = [
        {
            "id": r["id"],
            "template": Path(r["template"]).name,
            "status": r["status"],
            "stale": _stale(r),
            "site": r.get("site"),
            "created_at": _when(r["created_at"]),
        }
        for r in records
    ]

    def human(data):
        from infn_cloud.cli.view import print_table

        if not data:
            print("no deployments (infn-cloud deploy TEMPLATE creates one)")
            return
        print_table(
            ["ID", "TEMPLATE", "STATUS", "SITE", "CREATED"],
            [
                [
                    r["id"],
                    r["template"],
                    r["status"] + ("*" if r["stale"] else ""),
                    r["site"],
                    r["created_at"],
                ]
                for r in data
            ],
            "STATUS",
        )
        if any(r["stale"] for r in data):
            print("* stale: the process running it is gone; use retry or delete")

    emit(args, rows, human)
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_state_from_args(args) as state:
        view = record_view(state.get(args.id))
    emit(args, view, print_record)
    return 0


def _outputs(args: argparse.Namespace) -> int:
    with open_state_from_args(args) as state:
        record = state.get(args.id)
    outputs = dict(record.get("outputs") or {})
    if record["status"] == "DELETE_COMPLETE":
        # The record keeps them for `show`, but the addresses are gone and so are the secrets.
        raise NotFoundError(
            f"deployment {record['id']} was deleted: its outputs no longer exist",
            details=[f"what it had: infn-cloud show {record['id']}"],
        )
    if record["status"] != "CREATE_COMPLETE" and not outputs:
        raise NotFoundError(
            f"deployment {record['id']} has no outputs: it is {record['status']}",
            details=[f"see: infn-cloud show {record['id']}"],
        )
    if args.show_secrets:
        from infn_cloud.deploy.deployment_secrets import open_secret_store
        from infn_cloud.deploy.redaction import resolve_outputs

        outputs = resolve_outputs(outputs, open_secret_store(state.directory).get_all(record["id"]))
    data = {"id": record["id"], "outputs": outputs}

    def human(d):
        for key, value in d["outputs"].items():
            print(f"{key}: {value if args.show_secrets else _show_value(value)}")
        if not args.show_secrets and any(_show_value(v) != str(v) for v in d["outputs"].values()):
            print("<secret:NAME>: a secret of the deployment, shown by outputs --show-secrets")

    emit(args, data, human)
    return 0


FOLLOW_INTERVAL_S = 0.5


def _follow(state: StateStore, deployment_id: str, log: Path, interval: float = FOLLOW_INTERVAL_S) -> int:
    """Print the log as it grows until the deployment is no longer in progress (or its owner
    process is gone); then print its status. Ctrl-C stops following (exit 0)."""
    import sys

    position = 0
    pending = ""

    def drain() -> None:
        nonlocal position, pending
        try:
            with open(log, encoding="utf-8", errors="replace") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
        except FileNotFoundError:
            return
        text = pending + chunk
        complete, _, pending = text.rpartition("\n")
        if complete:
            sys.stdout.write(complete + "\n")
            sys.stdout.flush()

    try:
        while True:
            drain()
            record = state.get(deployment_id)
            if record["status"] not in ACTIVE_STATUSES or not owner_alive(record):
                drain()
                if pending:
                    print(pending)
                print(f"-- {deployment_id}: {record['status']}" + (" (stale)" if _stale(record) else ""))
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _logs(args: argparse.Namespace) -> int:
    from infn_cloud.deploy.lifecycle import deployment_dir

    with open_state_from_args(args) as state:
        record = state.get(args.id)
        directory = deployment_dir(record["id"], state.directory)
        log = directory / "deploy.log"
        if args.follow:
            if args.json or args.ansible:
                raise UsageError("logs --follow prints the log as it grows: no --json or --ansible with it")
            return _follow(state, record["id"], log)
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    runs = []
    artifacts = directory / "artifacts"
    if artifacts.is_dir():
        for run in sorted(artifacts.iterdir(), key=lambda p: p.stat().st_mtime):
            stdout = run / "stdout"
            runs.append({"ident": run.name, "status": _read(run / "status"), "stdout": str(stdout)})
    data = {"id": record["id"], "log": text, "log_file": str(log), "ansible_runs": runs}

    def human(d):
        print(d["log"], end="")
        if not d["log"]:
            print(f"(no log for {d['id']})")
        for run in d["ansible_runs"]:
            print(f"ansible run {run['ident']}: {run['status'] or '?'}; output: {run['stdout']}")
            if args.ansible:
                print(_read(Path(run["stdout"])) or "")

    emit(args, data, human)
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "list", help="list deployments", description="List the deployments of the state store, oldest first."
    )
    p.add_argument("--all", action="store_true", help="include deleted deployments")
    add_record_arguments(p)
    p.set_defaults(func=_list)

    p = subparsers.add_parser(
        "show",
        help="show one deployment and every attempt",
        description="Show a deployment: status, site, inputs (secrets redacted), nodes, outputs and every "
        "attempt with its site, phase and cause. ID may be a unique prefix. Exit 3 if unknown.",
    )
    add_id_argument(p)
    add_record_arguments(p)
    p.set_defaults(func=_show)

    p = subparsers.add_parser(
        "outputs",
        help="print a deployment's outputs",
        description="Print the outputs of a deployment. Secret outputs (e.g. the HTCondor pool password) "
        "are only shown with --show-secrets, read from the secret store.",
    )
    add_id_argument(p)
    p.add_argument("--show-secrets", action="store_true", help="print secret values")
    add_record_arguments(p)
    p.set_defaults(func=_outputs)

    p = subparsers.add_parser(
        "logs",
        help="print a deployment's log",
        description="Print the deployment log (phases, tasks, failures) and where each ansible run's "
        "full output is; --ansible prints those outputs too; --follow tails a running deployment's log "
        "(from another terminal) until it completes or fails.",
    )
    add_id_argument(p)
    p.add_argument("--ansible", action="store_true", help="also print ansible-playbook output")
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing the log as it grows until the deployment is no longer in progress",
    )
    add_record_arguments(p)
    p.set_defaults(func=_logs)
