"""infn.cloud.deployment_change, the module of playbooks/update.yml: run as Ansible runs a module
(a JSON args file), on records as deploy.yml keeps them (plan with attributes resolved and secret
markers, inputs with markers), with the instances given (no site)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infn_cloud.deploy.redaction import redact_plan
from infn_cloud.paths import collections_path, ensure_collection_link
from infn_cloud.tosca import make_plan, secret_values
from infn_cloud.tosca.attributes import resolve_attributes

ROOT = Path(__file__).resolve().parents[3]
MODULE = ROOT / "plugins/modules/deployment_change.py"
HTCONDOR = str(ROOT / "tosca_templates/htcondor_cluster.yaml")
SINGLE_VM = str(ROOT / "tosca_templates/single_vm.yaml")
SECRET = "a-pool-password-long-enough"


def _resources(deployment_id: str, counts: dict[str, int]) -> dict:
    return {
        "driver": "local",
        "nodes": {
            node: [
                {
                    "name": f"{deployment_id}-{node}-{i}",
                    "index": i,
                    "id": f"id-{node}-{i}",
                    "private_ip": f"10.0.{n}.{i + 10}",
                    "public_ip": None,
                    "fqdn": f"{deployment_id}-{node}-{i}",
                }
                for i in range(count)
            ]
            for n, (node, count) in enumerate(counts.items())
        },
    }


def _record(template: str, inputs: dict, counts: dict[str, int], **fields) -> tuple[dict, dict, dict]:
    """(a record as deploy.yml keeps it, its resources, the secret values kept in Vault)."""
    plan = make_plan(template, inputs)
    secrets = secret_values.values(plan)
    resources = _resources("awx-1", counts)
    kept = redact_plan(resolve_attributes(plan, resources), secrets)
    record = {
        "id": "awx-1",
        "status": "CREATE_COMPLETE",
        "template": template,
        "site": "LOCAL-BACKBONE",
        "registry": str(ROOT / "inventories/local"),
        "plan": kept,
        "inputs": kept["inputs"],
        "resources": resources,
        **fields,
    }
    return record, resources, secrets


def _run(tmp_path: Path, **args) -> dict:
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    ensure_collection_link()  # the module imports the collection's module_utils, as AnsiballZ ships them
    env = {**os.environ, "PYTHONPATH": str(collections_path())}
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def test_a_count_answer_adds_instances_and_reuses_the_stored_secret(tmp_path):
    record, resources, secrets = _record(
        HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET}, {"cm_server": 1, "execute_server": 1}
    )
    assert record["inputs"]["cluster_secret"] == "<secret:cluster_secret>"  # the record has no value
    result = _run(
        tmp_path,
        record=record,
        answers={"infn_cloud_input_num_execute_nodes": "3"},  # AWX sends survey numbers as text too
        secrets=secrets,
        resources=resources,
    )
    assert not result.get("failed"), result
    assert result["change"]["add"] == [{"node": "execute_server", "count": 2, "before": 1, "after": 3}]
    assert "+ execute_server: add 2 instance(s) (1 -> 3)" in result["lines"]
    assert result["plan"]["compute"]["execute_server"]["count"] == 3
    assert result["inputs"]["num_execute_nodes"] == 3
    assert result["inputs"]["cluster_secret"] == "<secret:cluster_secret>"
    assert result["secrets"]["cluster_secret"] == SECRET and result["changed_secrets"] == []
    assert SECRET not in json.dumps(result["plan"]) + json.dumps(result["lines"])
    assert result["instances"] == ["awx-1-cm_server-0", "awx-1-execute_server-0"]


def test_scale_in_names_the_instances_to_drain(tmp_path):
    record, resources, secrets = _record(
        HTCONDOR, {"num_execute_nodes": 3, "cluster_secret": SECRET}, {"cm_server": 1, "execute_server": 3}
    )
    result = _run(
        tmp_path,
        record=record,
        inputs={"num_execute_nodes": 2},
        remove=["awx-1-execute_server-0"],
        secrets=secrets,
        resources=resources,
    )
    assert not result.get("failed"), result
    assert [i["instance"] for i in result["change"]["remove"]] == ["awx-1-execute_server-0"]


def test_a_size_change_is_refused_with_the_clis_reason(tmp_path):
    record, resources, _ = _record(SINGLE_VM, {}, {"vm_server": 1})
    result = _run(tmp_path, record=record, answers={"infn_cloud_input_num_cpus": "2"}, resources=resources)
    assert result["failed"]
    assert result["msg"] == "deployment awx-1: 1 change(s) cannot be made in place; nothing was changed"
    assert result["problems"][0].startswith("! refused: node vm_server: size: num_cpus 1 -> 2")
    assert result["problems"][1].startswith("instead: deploy the template again")


def test_records_update_cannot_work_on_are_refused(tmp_path):
    record, resources, _ = _record(SINGLE_VM, {}, {"vm_server": 1})
    for fields, expected in (
        (
            {"status": "UPDATE_IN_PROGRESS"},
            "deployment awx-1 is UPDATE_IN_PROGRESS: update needs one of "
            "CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_FAILED",
        ),
        (
            {"site": "LOCAL-BACKBONE,LOCAL-BACKBONE-2"},
            "deployment awx-1 spans the sites LOCAL-BACKBONE,LOCAL-BACKBONE-2: playbooks/update.yml "
            "does not change a deployment spanning sites",
        ),
        ({"plan": None}, "deployment awx-1: its record keeps no plan"),
    ):
        result = _run(tmp_path, record={**record, **fields}, resources=resources)
        assert result["failed"] and result["msg"].startswith(expected), result


def test_bad_answers_name_the_variable(tmp_path):
    record, resources, _ = _record(SINGLE_VM, {}, {"vm_server": 1})
    result = _run(tmp_path, record=record, answers={"infn_cloud_input_num_cpus": "lots"}, resources=resources)
    assert result["failed"]
    text = result["msg"] + " ".join(result.get("problems") or [])
    assert "infn_cloud_input_num_cpus" in text and "lots" in text
