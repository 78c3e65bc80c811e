#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: survey_inputs
short_description: Turn AWX survey answers into the inputs of a TOSCA template
version_added: 0.2.0
author: infn.cloud developers (@infn-cloud)
description:
  - Converts the answers of a survey made by C(infn-cloud survey) (variables C(infn_cloud_input_<input>))
    to the template's input types (numbers and booleans from multiple-choice strings, lists from one item
    per line or YAML/JSON, maps from YAML/JSON) and merges them over O(inputs).
  - With O(generate_secrets=true), secret inputs left empty get a generated value that satisfies their
    constraints, as C(infn-cloud deploy) does; RV(secrets) then holds every secret value of the plan by
    marker name, for the configuration step.
  - "The result holds secret values in clear: use C(no_log: true) on the task."
  - "Runs on the controller and needs the infn-cloud Python package."
requirements:
  - infn-cloud (the Python package of this collection)
attributes:
  check_mode:
    description: Only computes; the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes.
    support: none
options:
  template:
    description: Path of a TOSCA template or the name of a catalogue template.
    type: str
    required: true
  answers:
    description:
      - Survey answers, C(infn_cloud_input_<input>) variable -> value.
      - Unknown variables are an error.
    type: dict
    default: {}
  inputs:
    description: Input values given directly (e.g. the C(infn_cloud_inputs) extra var); answers win.
    type: dict
    default: {}
  import_map:
    description: Import map files resolving URL imports (see docs/tosca.md).
    type: list
    elements: path
    default: []
  generate_secrets:
    description: Generate the secret inputs left empty.
    type: bool
    default: true
seealso:
  - module: infn.cloud.tosca_plan
  - name: AWX guide
    description: Surveys, job templates and credentials.
    link: https://github.com/infn-cloud/infn.cloud/blob/main/docs/awx.md
"""

EXAMPLES = r"""
- name: Inputs from the survey answers of this job
  infn.cloud.survey_inputs:
    template: single_vm
    answers: "{{ dict(names | zip(names | map('extract', vars))) }}"
  vars:
    names: "{{ query('ansible.builtin.varnames', '^infn_cloud_input_') }}"
  no_log: true
  register: survey
"""

RETURN = r"""
inputs:
  description: The template inputs (secret values included, generated ones too).
  returned: success
  type: dict
generated:
  description: Names of the secret inputs whose value was generated.
  returned: success
  type: list
  elements: str
secrets:
  description: Every secret value of the plan by marker name (C(<secret:NAME>) in records and documents).
  returned: success
  type: dict
problems:
  description: What does not fit the template, one line each.
  returned: failure
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from infn_cloud.errors import InfnCloudError
    from infn_cloud.secrets.generate import CannotGenerate, generate_for
    from infn_cloud.tosca import make_plan, secret_values
    from infn_cloud.tosca.survey import inputs_from_answers

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def main():
    module = AnsibleModule(
        argument_spec={
            "template": {"type": "str", "required": True},
            "answers": {"type": "dict", "default": {}},
            "inputs": {"type": "dict", "default": {}},
            "import_map": {"type": "list", "elements": "path", "default": []},
            "generate_secrets": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("infn-cloud"), exception=IMPORT_ERROR)
    params = module.params
    import_map = params["import_map"] or None
    try:
        inputs = dict(params["inputs"] or {})
        inputs.update(inputs_from_answers(params["template"], params["answers"], import_map=import_map))
        plan = make_plan(params["template"], inputs, import_map=import_map)
        generated = []
        if params["generate_secrets"]:
            for name in plan.get("secrets_to_generate") or []:
                constraints = (plan.get("secret_constraints") or {}).get(name)
                try:
                    inputs[name] = generate_for(constraints)
                except CannotGenerate as exc:
                    module.fail_json(msg=f"secret input {name} is empty and cannot be generated: {exc}")
                generated.append(name)
            if generated:  # plan again so the generated values reach the role variables
                plan = make_plan(params["template"], inputs, import_map=import_map)
        secrets = secret_values.values(plan)
    except InfnCloudError as exc:
        module.fail_json(msg=exc.message, problems=exc.details)
    module.exit_json(changed=False, inputs=inputs, generated=generated, secrets=secrets)


if __name__ == "__main__":
    main()
