#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: site_select
short_description: Choose the federation site that should host a deployment plan
version_added: 0.1.0
author: infn.cloud developers (@infn-cloud)
description:
  - Ranks the sites of a site registry for a deployment plan (the output of M(infn.cloud.tosca_plan))
    and says why every other site was rejected.
  - "Filters: the site is enabled; it matches O(policy) and the template's placement policies; the
    user group has a project there; it offers the capabilities the plan's nodes require (GPU model,
    object storage, replicated object storage on backbone sites only); every compute node gets an image
    for its OS and the smallest flavor that fits; the total demand fits the quotas."
  - "Ranking: SLA priority, free capacity after placement, recent failure rate and mean deploy time
    from O(history), the template's preferred order. Equal input gives equal output."
  - "Runs on the controller (C(delegate_to: localhost)) and needs the infn-cloud Python package."
  - Only reads files; it never changes anything, so check mode behaves like a normal run.
requirements:
  - infn-cloud, the collection's Python package (C(pip install infn-cloud); C(pip install -e .) in a checkout)
extends_documentation_fragment:
  - infn.cloud.read_only
options:
  plan:
    description: The deployment plan (a dict). Mutually exclusive with O(plan_file).
    type: dict
  plan_file:
    description: Path of a JSON or YAML file holding the plan.
    type: path
  registry:
    description:
      - Site registry directory (C(federation.yml) and C(sites/<SITE>.yml)).
      - Defaults to C($INFN_CLOUD_REGISTRY), else the collection's C(inventories/local)
        (the collection as the infn-cloud package finds it, see docs/packaging.md).
    type: path
  group:
    description:
      - The user's identity-provider group (C(admins/cygno), or C(idp:group)).
      - Defaults to the registry's C(default_group).
    type: str
  policy:
    description: V(auto), V(backbone), V(federated), a site name or a region name.
    type: str
    default: auto
  history:
    description: Past deployment attempts, each C({site, ok, duration_s, finished_at}).
    type: list
    elements: dict
    default: []
seealso:
  - module: infn.cloud.tosca_plan
  - name: Federation documentation
    description: Registry schema, selection rules and drivers.
    link: https://baltig.infn.it/infn-cloud/infn.cloud/-/blob/main/docs/federation.md
"""

EXAMPLES = r"""
- name: Choose a site for the plan
  infn.cloud.site_select:
    plan: "{{ plan_result.plan }}"
    registry: "{{ playbook_dir }}/../inventories/infn-cloud"
    group: admins/cygno
    policy: federated
  delegate_to: localhost
  register: site

- name: Show the chosen site and the rejected ones
  ansible.builtin.debug:
    msg: "{{ site.site }} ({{ site.selection.chosen.reasons | join('; ') }}); rejected: {{ site.rejected }}"
"""

RETURN = r"""
site:
  description: Name of the best site.
  returned: success
  type: str
  sample: LOCAL-BACKBONE
sites:
  description: The sites the deployment uses, RV(site) first (several only across the backbone).
  returned: success
  type: list
  elements: str
  sample: [BACKBONE-CNAF, BACKBONE-BARI]
node_sites:
  description:
    - Compute node -> site, when the deployment spans backbone sites (one object storage region
      per site); empty when every node goes to RV(site). RV(placement) holds it too.
  returned: success
  type: dict
  sample: {server_a: BACKBONE-CNAF, server_b: BACKBONE-BARI}
placement:
  description:
    - The best candidate (region, project, flavor and image per compute node, demand, score,
      reasons, warnings).
  returned: success
  type: dict
  sample:
    site: LOCAL-BACKBONE
    region: local
    project: local
    flavors: {htc_master_server: {name: local.medium, vcpus: 2, ram_mb: 4096, disk_gb: 20, gpus: 0}}
    images: {htc_master_server: {image: "localhost/debian:trixie", distribution: debian, version: "13"}}
    score: 77.5
candidates:
  description: Every site that can host the plan, best first, with score and reasons.
  returned: success
  type: list
  elements: dict
rejected:
  description: Site name -> why it cannot host the plan. Also returned when no site fits.
  returned: always
  type: dict
  sample: {LOCAL-FEDERATED: "policy backbone wants a backbone site, this one is federated"}
selection:
  description:
    - The whole selection as C(infn-cloud plan --json) shows it (policy, group, chosen,
      candidates, rejected).
  returned: success
  type: dict
registry:
  description: The site registry directory the selection read (O(registry) or its default).
  returned: success
  type: str
  sample: /usr/lib/python3/site-packages/ansible_collections/infn/cloud/inventories/local
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from infn_cloud.errors import InfnCloudError, NoSiteError
    from infn_cloud.federation import describe_selection, load_registry, select_sites
    from infn_cloud.paths import default_registry
    from infn_cloud.tosca.yamlio import MAX_DEPTH, YamlSyntaxError, load_text, too_deep

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def _load_plan(module, path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        module.fail_json(msg=f"plan_file {path}: cannot read it: {exc.strerror}")
    except UnicodeDecodeError:
        module.fail_json(msg=f"plan_file {path}: not a UTF-8 text file")
    # A plan file may come from a user: read it within the YAML limits of templates.
    try:
        if not path.endswith(".json"):
            return load_text(text, path, plain=True)
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        module.fail_json(msg=f"plan_file {path}: not valid JSON: {exc}")
    except YamlSyntaxError as exc:
        module.fail_json(msg=f"plan_file {exc}")
    if too_deep(data):
        module.fail_json(msg=f"plan_file {path}: nested more than {MAX_DEPTH} levels deep")
    return data


def main():
    module = AnsibleModule(
        argument_spec={
            "plan": {"type": "dict"},
            "plan_file": {"type": "path"},
            "registry": {"type": "path"},
            "group": {"type": "str"},
            "policy": {"type": "str", "default": "auto"},
            "history": {"type": "list", "elements": "dict", "default": []},
        },
        mutually_exclusive=[("plan", "plan_file")],
        required_one_of=[("plan", "plan_file")],
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("infn-cloud"), exception=IMPORT_ERROR)
    params = module.params
    plan = params["plan"] if params["plan"] is not None else _load_plan(module, params["plan_file"])
    if not isinstance(plan, dict) or "compute" not in plan:
        module.fail_json(
            msg="plan: expected a deployment plan with a 'compute' mapping (see infn.cloud.tosca_plan)"
        )
    registry_dir = params["registry"] or os.environ.get("INFN_CLOUD_REGISTRY")
    try:
        if not registry_dir:
            registry_dir = str(default_registry())
        registry = load_registry(registry_dir)
        selection = select_sites(
            plan, registry, group=params["group"], policy=params["policy"], history=params["history"]
        )
    except NoSiteError as exc:
        rejected = dict(line.split(": ", 1) for line in exc.details if ": " in line)
        module.fail_json(msg=exc.message, details=exc.details, rejected=rejected)
    except InfnCloudError as exc:
        module.fail_json(msg=exc.message, details=exc.details, rejected={})
    described = describe_selection(selection)
    module.exit_json(
        changed=False,
        site=selection.best.site,
        sites=selection.best.sites,
        node_sites=dict(selection.best.node_sites),
        placement=described["chosen"],
        candidates=described["candidates"],
        rejected=described["rejected"],
        selection=described,
        registry=registry_dir,
    )


if __name__ == "__main__":
    main()
