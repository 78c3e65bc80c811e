#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deployment_change
short_description: Compute the change an update makes to a running deployment, as infn-cloud update does
version_added: "0.2.0"
author: infn.cloud developers (@infn-cloud)
description:
  - Plans the deployment's template again with its recorded inputs and the new ones over them, reads
    the instances its site has now, and computes the change with the same code as C(infn-cloud update)
    (C(compute_change) of C(infn_cloud.deploy.update)), that is instances to add, instances to remove
    (those named in O(remove) first, then the highest indices), software entries to reconfigure and
    outputs that change.
  - A change that cannot be made in place (the site, the operating system, a node's size or open
    ports, a template change, removing a node that holds data) fails the task with the CLI's reasons
    and what to run instead; nothing is changed.
  - A deployment whose status is not one of C(CREATE_COMPLETE), C(UPDATE_COMPLETE), C(UPDATE_FAILED),
    spans several sites, or whose record keeps no plan (deployed before updates were supported) is refused.
  - The module only reads (the template, the record given as O(record), the site's instances); it
    never changes anything, so check mode returns the same change.
  - "Runs on the controller. Its result holds secret values (RV(secrets)): register it with C(no_log: true)."
requirements:
  - infn-cloud (the Python package of this collection)
extends_documentation_fragment:
  - infn.cloud.read_only
options:
  record:
    description:
      - The deployment record, as M(infn.cloud.deployment_record_info) returns it (its C(id), C(status),
        C(template), C(site), C(registry), C(plan), C(inputs)).
    type: dict
    required: true
  answers:
    description: Survey answers (C(infn_cloud_input_<input>) variables) for the inputs that change.
    type: dict
    default: {}
  inputs:
    description: New input values as a map; survey answers win over them.
    type: dict
    default: {}
  secrets:
    description:
      - The deployment's secret values by name (the C(<secret:NAME>) markers of the record), read from
        Vault. Stored secret inputs are reused, never generated again.
    type: dict
    default: {}
  remove:
    description: Instances to remove first when a count goes down (names such as C(<id>-execute_server-2)).
    type: list
    elements: str
    default: []
  allow_data_loss:
    description: Allow removing instances that hold data (a JupyterHub, an HTCondor submit node...).
    type: bool
    default: false
  registry:
    description: Site registry directory; default the one the record names.
    type: path
  resources:
    description:
      - The deployment's instances (the C(resources) of a deployment document). Default the site's
        current instances (its driver's C(describe)), as C(infn-cloud update) reads them.
    type: dict
  import_map:
    description: Import map files resolving URL imports to local files.
    type: list
    elements: path
    default: []
seealso:
  - module: infn.cloud.deployment_record_info
  - module: infn.cloud.tosca_plan
"""

EXAMPLES = r"""
- name: Compute the change (the result holds secret values)
  infn.cloud.deployment_change:
    record: "{{ found.record }}"
    answers:
      infn_cloud_input_num_execute_nodes: 3
    secrets: "{{ stored_secrets }}"
  register: change
  no_log: true
  failed_when: false

- name: Show it
  ansible.builtin.debug:
    var: change.lines
"""

RETURN = r"""
change:
  description: The change (C(PlanChange.to_dict()) of infn_cloud.deploy.update), secret values as markers.
  returned: when the change was computed (also when it is refused)
  type: dict
  contains:
    add:
      description: "Nodes that get instances: C({node, count, before, after})."
      type: list
      elements: dict
    remove:
      description: "Instances that go: C({node, instance, index})."
      type: list
      elements: dict
    reconfigure:
      description: Software entries the configure run changes, with the reasons.
      type: list
      elements: dict
    outputs:
      description: Outputs whose value changes.
      type: list
      elements: dict
    refused:
      description: "Changes that cannot be made in place: C({what, reason, instead})."
      type: list
      elements: dict
    counts:
      description: Instances per node before and after.
      type: dict
lines:
  description: The change for people, one line each (as C(infn-cloud update --dry-run) prints it).
  returned: when the change was computed (also when it is refused)
  type: list
  elements: str
empty:
  description: Nothing to add, remove, reconfigure or show.
  returned: success
  type: bool
plan:
  description: The plan of the new inputs, secret values as C(<secret:NAME>) markers.
  returned: success
  type: dict
inputs:
  description: The new inputs for the record, secret values as markers.
  returned: success
  type: dict
secrets:
  description: Every secret value of the new plan by name (stored ones and new ones).
  returned: success
  type: dict
changed_secrets:
  description: Names of the secrets whose value the new inputs change (to write to Vault).
  returned: success
  type: list
  elements: str
instances:
  description: Names of the instances the site has now.
  returned: success
  type: list
  elements: str
problems:
  description: Why the change is refused, one line each (the reason, then what to do instead).
  returned: failure
  type: list
  elements: str
"""

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

# Also what the drivers check ids with (infn_cloud.module_utils loads it by this name): imported
# here so that Ansible ships it with the module.
from ansible_collections.infn.cloud.plugins.module_utils._deployment import deployment_id_problem

try:
    from infn_cloud.deploy.deployment_secrets import stored_inputs
    from infn_cloud.deploy.redaction import redact_plan, unredact
    from infn_cloud.deploy.update import UPDATABLE, _secret_reasons, compute_change
    from infn_cloud.errors import InfnCloudError
    from infn_cloud.tosca import make_plan, secret_values
    from infn_cloud.tosca.survey import inputs_from_answers

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


class Refused(Exception):
    def __init__(self, message, problems=None, change=None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])
        self.change = change


def check_record(record):
    """The record's refusals, with the CLI's wording where the CLI has the same case."""
    deployment_id = record.get("id") or "?"
    problem = deployment_id_problem(record.get("id"))
    if problem:
        raise Refused("the record's id: %s" % problem)
    status = record.get("status")
    if status not in UPDATABLE:
        hint = {
            "UPDATE_IN_PROGRESS": "another update job runs (or died): wait for it, or see its job output",
            "CREATE_IN_PROGRESS": "its deploy job runs (or died): wait for it",
            "DELETE_IN_PROGRESS": "it is being deleted",
            "CREATE_FAILED": "its deploy failed: delete it with delete.yml and deploy again",
        }.get(status, "see the record")
        raise Refused(
            "deployment %s is %s: update needs one of %s" % (deployment_id, status, ", ".join(UPDATABLE)),
            [hint],
        )
    if "," in (record.get("site") or ""):
        raise Refused(
            "deployment %s spans the sites %s: playbooks/update.yml does not change a deployment "
            "spanning sites (infn-cloud update does, for deployments it made)"
            % (deployment_id, record["site"]),
            ["deploy it again with the new inputs, then delete this one"],
        )
    if not record.get("plan") or not record.get("template"):
        raise Refused(
            "deployment %s: its record keeps no plan (deployed before deploy.yml kept what update needs)"
            % deployment_id,
            ["deploy the template again with the new inputs, then delete this deployment"],
        )


def merged_inputs(record, answers, inputs, secrets, import_map=None):
    """The recorded inputs (markers filled from the secrets) with the new ones over them."""
    merged = unredact(copy.deepcopy(dict(record.get("inputs") or {})), secrets)
    plan = record.get("plan") or {}
    for name in set(plan.get("secret_inputs") or []) | set(plan.get("secrets_to_generate") or []):
        if merged.get(name) in (None, "") and name in secrets:
            merged[name] = secrets[name]
    merged.update(inputs or {})
    if answers:
        merged.update(inputs_from_answers(record["template"], answers, import_map=import_map))
    return merged


def live_resources(record, registry):
    from infn_cloud.federation import load_registry
    from infn_cloud.federation.drivers import site_driver
    from infn_cloud.federation.location import registry_location

    loaded = load_registry(str(registry_location(registry or record.get("registry"))))
    return site_driver(loaded, record["site"], group=record.get("group_name")).describe(record["id"])


def compute(params):
    record = params["record"]
    check_record(record)
    secrets = {str(k): str(v) for k, v in (params["secrets"] or {}).items()}
    import_map = params["import_map"] or None
    inputs = merged_inputs(record, params["answers"], params["inputs"], secrets, import_map)
    target = make_plan(record["template"], inputs, import_map=import_map)
    new_secrets = secret_values.values(target)
    all_secrets = dict(secrets, **new_secrets)
    redacted = redact_plan(target, all_secrets)
    resources = params["resources"]
    if resources is None:
        resources = live_resources(record, params["registry"])
    change = compute_change(
        record["plan"],
        redacted,
        resources,
        params["remove"],
        allow_data_loss=params["allow_data_loss"],
        deployment_id=record["id"],
    )
    changed_secrets = sorted(n for n, v in new_secrets.items() if secrets.get(n) != v)
    _secret_reasons(change, redacted, changed_secrets)
    result = dict(
        change=change.to_dict(),
        lines=change.lines(),
        empty=change.empty,
        plan=redacted,
        inputs=stored_inputs(inputs, target, all_secrets),
        secrets=all_secrets,
        changed_secrets=changed_secrets,
        instances=sorted(
            i.get("name") for insts in (resources.get("nodes") or {}).values() for i in insts if i.get("name")
        ),
    )
    if change.refused:
        raise Refused(
            "deployment %s: %d change(s) cannot be made in place; nothing was changed"
            % (record["id"], len(change.refused)),
            [line.strip() for line in change.lines() if line.lstrip().startswith(("!", "instead"))],
            change,
        )
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "record": {"type": "dict", "required": True},
            "answers": {"type": "dict", "default": {}},
            "inputs": {"type": "dict", "default": {}},
            # Not no_log here: the values must come back in RV(secrets) (no_log would mask them there);
            # the task is registered with no_log (DOCUMENTATION, EXAMPLES, playbooks/update.yml).
            "secrets": {"type": "dict", "default": {}, "no_log": False},
            "remove": {"type": "list", "elements": "str", "default": []},
            "allow_data_loss": {"type": "bool", "default": False},
            "registry": {"type": "path"},
            "resources": {"type": "dict"},
            "import_map": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("infn-cloud"), exception=IMPORT_ERROR)
    try:
        result = compute(module.params)
    except Refused as exc:
        extra = {} if exc.change is None else dict(change=exc.change.to_dict(), lines=exc.change.lines())
        module.fail_json(msg=exc.message, problems=exc.problems, **extra)
    except InfnCloudError as exc:
        module.fail_json(msg=exc.message, problems=list(exc.details))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
