#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tosca_plan
short_description: Validate a TOSCA template and compute its deployment plan
version_added: "0.1.0"
author: infn.cloud developers (@infn-cloud)
description:
  - Loads a TOSCA template (a path or the name of a template of the infn.cloud catalogue),
    resolves its imports offline through import maps, validates it with the given inputs
    (types, every constraint operator, functions, requirements) and returns the deployment plan.
  - The module only reads files; it never changes anything, so check mode returns the same plan.
  - "Runs on the controller: use C(delegate_to: localhost)."
  - "On invalid templates or inputs the task fails and C(problems) lists every problem as
    C(file:line: subject value V: message)."
requirements:
  - infn-cloud (the Python package of this collection)
extends_documentation_fragment:
  - infn.cloud.read_only
options:
  template:
    description: Path to a TOSCA template, or the name of a catalogue template such as C(htcondor_cluster).
    type: str
    required: true
  inputs:
    description: Input values of the template. Secret inputs are not logged.
    type: dict
    default: {}
  import_map:
    description:
      - Import map files resolving URL imports to local files (see docs/tosca.md).
      - The E(INFN_CLOUD_IMPORT_MAP) environment variable adds more.
    type: list
    elements: path
    default: []
seealso:
  - name: TOSCA engine
    description: Plan contract, import maps and validation rules.
    link: https://github.com/infn-cloud/infn.cloud/blob/main/docs/tosca.md
notes:
  - Values of inputs named or described as passwords, secrets, tokens or keys (and those in the
    template's C(metadata.secret_inputs)) are registered with no_log.
"""

EXAMPLES = r"""
- name: Plan the HTCondor cluster with three execute nodes
  infn.cloud.tosca_plan:
    template: htcondor_cluster
    inputs:
      num_execute_nodes: 3
      num_cpus: 2
  delegate_to: localhost
  register: htcondor_plan

- name: Plan an INFN Cloud template, resolving its imports offline
  infn.cloud.tosca_plan:
    template: /srv/tosca-templates/single-vm/single_vm.yaml
    import_map:
      - "{{ playbook_dir }}/../tosca_templates/import-maps/infn-reference.yaml"
  delegate_to: localhost
  register: vm_plan

- name: Show the demand
  ansible.builtin.debug:
    var: htcondor_plan.plan.demand
"""

RETURN = r"""
plan:
  description: The deployment plan (contract in docs/tosca.md); secret input values are redacted.
  returned: success
  type: dict
  contains:
    template:
      description: Path of the template.
      type: str
      sample: /work/main/tosca_templates/htcondor_cluster.yaml
    inputs:
      description: Input values with defaults applied.
      type: dict
    secret_inputs:
      description: Names of inputs whose values must never be logged or stored in clear.
      type: list
      elements: str
      sample: [cluster_secret]
    compute:
      description: >-
        One entry per compute node template (count, cpus, memory, disk, GPUs, OS, ports,
        volumes, software).
      type: dict
    software:
      description: Software nodes in deployment order with their role and role variables.
      type: list
      elements: dict
    waves:
      description: Node names grouped in waves that can be deployed in parallel.
      type: list
      elements: list
    demand:
      description: Total resources (instances, cpus, ram_mb, disk_gb, gpus, volumes, volume_gb, public_ips).
      type: dict
      sample:
        {instances: 2, cpus: 2, ram_mb: 2000, disk_gb: 20, gpus: 0, volumes: 0, volume_gb: 0, public_ips: 1}
    outputs:
      description: Template outputs, kept as TOSCA expressions to resolve after provisioning.
      type: dict
    warnings:
      description: Non-blocking findings (accepted quirks, unmapped types).
      type: list
      elements: str
problems:
  description: Every validation problem, one line each.
  returned: failure
  type: list
  elements: str
  sample:
    - "tosca_templates/htcondor_cluster.yaml: input 'num_cpus' value 64: violates valid_values [1, 2, 4, 8]"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from infn_cloud.deploy.redaction import redact_plan
    from infn_cloud.errors import InfnCloudError
    from infn_cloud.tosca import make_plan, secret_values
    from infn_cloud.tosca.api import load_template
    from infn_cloud.tosca.validate import is_secret_input

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def _secret_values(module, template_path, inputs, import_map):
    """Register secret input values with no_log before anything can echo them."""
    try:
        template = load_template(template_path, import_map=import_map)
    except InfnCloudError:
        return
    metadata = template.metadata
    for name, definition in template.inputs.items():
        if name in inputs and is_secret_input(name, definition, metadata) and inputs[name] not in (None, ""):
            module.no_log_values.add(str(inputs[name]))


def run_module():
    module = AnsibleModule(
        argument_spec={
            "template": {"type": "str", "required": True},
            "inputs": {"type": "dict", "default": {}},
            "import_map": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("infn-cloud"), exception=IMPORT_ERROR)
    params = module.params
    import_map = params["import_map"] or None
    _secret_values(module, params["template"], params["inputs"], import_map)
    try:
        plan = make_plan(params["template"], params["inputs"], import_map=import_map)
    except InfnCloudError as exc:
        module.fail_json(msg=exc.message, problems=exc.details)
    # Secret values found anywhere in the plan (maps, lists, marked properties) are replaced by
    # their <secret:NAME> markers, as infn-cloud stores them, and are no_log from now on.
    found = secret_values.values(plan)
    module.no_log_values.update(found.values())
    module.exit_json(changed=False, plan=redact_plan(plan, found))


def main():
    run_module()


if __name__ == "__main__":
    main()
