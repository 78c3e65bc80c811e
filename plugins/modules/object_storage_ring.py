#!/usr/bin/python
# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Keep a Swift ring builder and its ring file in the declared state (used by infn.cloud.object_storage)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: object_storage_ring
short_description: Converge an OpenStack Swift ring (builder file and ring file) to a device list
version_added: "0.1.0"
author: infn.cloud developers (@infn-cloud)
description:
  - Creates the ring builder when it is missing, adds, re-weights, moves (region/zone) and
    removes devices so the builder holds exactly O(devices), rebalances only when something
    changed (or a previous run changed the builder without rebalancing) and writes the
    C(<name>.ring.gz) file next to the builder.
  - Devices are identified by (ip, port, device). The ring file is written with Swift's fixed
    gzip mtime, so an unchanged builder gives a byte-identical ring on every run.
  - Runs on the host that owns the builder files (one per cluster); the ring files are then
    distributed to every node.
requirements:
  - python3-swift (swift.common.ring) on the target.
options:
  name:
    description: Ring name, C(account), C(container) or C(object) (storage policy 0).
    type: str
    required: true
  builder_dir:
    description: Directory holding C(<name>.builder) and C(<name>.ring.gz).
    type: path
    default: /etc/swift
  part_power:
    description: Partition power; only used when the builder is created (it cannot change later).
    type: int
    required: true
  replicas:
    description: Number of replicas of every partition.
    type: float
    required: true
  min_part_hours:
    description: Hours before a partition may move again; only used at creation.
    type: int
    default: 1
  seed:
    description: Seed for the rebalance, for reproducible layouts.
    type: int
    default: 1
  devices:
    description: Every device of the ring.
    type: list
    elements: dict
    required: true
    suboptions:
      region: {type: int, required: true, description: Region (one per site).}
      zone: {type: int, required: true, description: Zone inside the region.}
      ip: {type: str, required: true, description: Address the proxies use to reach the server.}
      port: {type: int, required: true, description: Port of the account/container/object server.}
      device: {type: str, required: true, aliases: [name], description: Directory under the devices root.}
      weight: {type: float, default: 100.0, description: Relative weight.}
      replication_ip: {type: str, description: Replication address; defaults to I(ip).}
      replication_port: {type: int, description: Replication port; defaults to I(port).}
      meta: {type: str, default: "", description: Free text stored with the device.}
attributes:
  check_mode:
    description: Reports whether the ring would change without writing the builder or ring file.
    support: full
  diff_mode:
    description: Ring files are binary; no diff is returned.
    support: none
"""

EXAMPLES = r"""
- name: Object ring with one region per site
  infn.cloud.object_storage_ring:
    name: object
    part_power: 10
    replicas: 2
    devices:
      - {region: 1, zone: 1, ip: 10.0.1.10, port: 6200, device: d1}
      - {region: 2, zone: 1, ip: 10.0.2.10, port: 6200, device: d1}
"""

RETURN = r"""
actions:
  description: What was done to the builder, one line per change.
  returned: always
  type: list
  elements: str
  sample: ["add r2z1-10.0.2.10:6200/d1 weight 100.0", "rebalance"]
ring_file:
  description: Path of the ring file.
  returned: always
  type: str
  sample: /etc/swift/object.ring.gz
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from swift.common.ring import RingBuilder

    IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target
    RingBuilder = None
    IMPORT_ERROR = traceback.format_exc()


def _key(dev):
    return (dev["ip"], int(dev["port"]), dev["device"])


def _label(dev):
    return f"r{dev['region']}z{dev['zone']}-{dev['ip']}:{dev['port']}/{dev['device']}"


def converge(builder, wanted):
    """Apply the wanted device list to builder; return the list of actions taken."""
    actions = []
    current = {_key(dev): dev for dev in builder.devs if dev is not None}
    for want in wanted:
        have = current.get(_key(want))
        if have is None:
            builder.add_dev(dict(want))
            actions.append(f"add {_label(want)} weight {want['weight']}")
            continue
        if float(have["weight"]) != float(want["weight"]):
            builder.set_dev_weight(have["id"], float(want["weight"]))
            actions.append(f"weight {_label(want)} {have['weight']} -> {want['weight']}")
        if have["region"] != want["region"]:
            builder.set_dev_region(have["id"], want["region"])
            actions.append(f"region {_label(want)} {have['region']} -> {want['region']}")
        if have["zone"] != want["zone"]:
            builder.set_dev_zone(have["id"], want["zone"])
            actions.append(f"zone {_label(want)} {have['zone']} -> {want['zone']}")
    wanted_keys = {_key(dev) for dev in wanted}
    for key, have in current.items():
        if key not in wanted_keys:
            builder.remove_dev(have["id"])
            actions.append(f"remove {_label(have)}")
    return actions


def main():
    device_spec = dict(
        region=dict(type="int", required=True),
        zone=dict(type="int", required=True),
        ip=dict(type="str", required=True),
        port=dict(type="int", required=True),
        device=dict(type="str", required=True, aliases=["name"]),
        weight=dict(type="float", default=100.0),
        replication_ip=dict(type="str"),
        replication_port=dict(type="int"),
        meta=dict(type="str", default=""),
    )
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            builder_dir=dict(type="path", default="/etc/swift"),
            part_power=dict(type="int", required=True),
            replicas=dict(type="float", required=True),
            min_part_hours=dict(type="int", default=1),
            seed=dict(type="int", default=1),
            devices=dict(type="list", elements="dict", required=True, options=device_spec),
        ),
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("python3-swift"), exception=IMPORT_ERROR)

    params = module.params
    builder_file = os.path.join(params["builder_dir"], f"{params['name']}.builder")
    ring_file = os.path.join(params["builder_dir"], f"{params['name']}.ring.gz")
    wanted = []
    for dev in params["devices"]:
        dev = dict(dev)
        dev["replication_ip"] = dev["replication_ip"] or dev["ip"]
        dev["replication_port"] = dev["replication_port"] or dev["port"]
        wanted.append(dev)
    if len({_key(dev) for dev in wanted}) != len(wanted):
        module.fail_json(msg=f"devices of ring {params['name']!r} must be unique by ip, port and device")
    if not wanted:
        module.fail_json(msg=f"ring {params['name']!r} needs at least one device")

    actions = []
    if os.path.exists(builder_file):
        builder = RingBuilder.load(builder_file)
    else:
        builder = RingBuilder(params["part_power"], params["replicas"], params["min_part_hours"])
        actions.append(f"create part_power={params['part_power']} replicas={params['replicas']}")
    if float(builder.replicas) != params["replicas"]:
        builder.set_replicas(params["replicas"])
        actions.append(f"replicas {builder.replicas} -> {params['replicas']}")
    actions.extend(converge(builder, wanted))

    # devs_changed survives in the builder file: a run interrupted after saving the builder
    # but before rebalancing is finished here.
    must_rebalance = bool(actions) or builder.devs_changed
    must_write_ring = must_rebalance or not os.path.exists(ring_file)
    if must_rebalance:
        actions.append("rebalance")
    if must_write_ring and not must_rebalance:
        actions.append("write ring")

    if actions and not module.check_mode:
        if must_rebalance:
            # A declared layout is applied as a whole: the operator, not the clock, decides.
            builder.pretend_min_part_hours_passed()
            try:
                builder.rebalance(seed=params["seed"])
                builder.validate()
            except Exception as exc:  # RingBuilderError and friends: report, do not save
                module.fail_json(msg=f"rebalancing ring {params['name']!r} failed: {exc}", actions=actions)
            builder.save(builder_file)
        builder.get_ring().save(ring_file)
    module.exit_json(changed=bool(actions), actions=actions, ring_file=ring_file)


if __name__ == "__main__":
    main()
