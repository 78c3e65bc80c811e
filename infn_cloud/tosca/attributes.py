"""Resolve TOSCA runtime functions (get_attribute, concat, join) once resources exist.

The planner resolves everything it can before provisioning; addresses and ids are only known
from the resources document a provisioning driver returns (docs/federation.md). This module
fills them in, in role variables and in outputs:

- ``private_address`` / ``ip_address``: the instance's private IP;
- ``public_address``: its public IP; on the local site (podman) containers have no public IP
  but their address is reachable from this host, so the private one stands in;
- ``endpoint``: the public address, else the private one (the Compute endpoint capability);
- ``tosca_id``: the server id; ``tosca_name``: the node template name; ``hostname``/``fqdn``;
- a software node's attributes are its host's (``HOST`` was filled in by the planner);
- with an index, one instance; without, the value itself for a node that is not scalable
  and a list over instances for scalable nodes (a ``scalable`` capability in the template,
  whatever its count, or max > 1), as the INDIGO orchestrator returns: the type of an output
  must not depend on how many instances the user asked for.
Expressions that cannot be resolved become None and add a warning to ``plan["warnings"]``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from infn_cloud.tosca import functions

ADDRESS_ATTRIBUTES = ("private_address", "ip_address", "public_address", "endpoint")


def _instance_value(attribute: str, instance: dict, node: str, driver: str | None) -> Any:
    private = instance.get("private_ip")
    public = instance.get("public_ip")
    if attribute in ("private_address", "ip_address"):
        return private
    if attribute == "public_address":
        return public or (private if driver == "local" else None)
    if attribute == "endpoint":
        return public or private
    if attribute == "tosca_id":
        return instance.get("id")
    if attribute == "tosca_name":
        return node
    if attribute in ("hostname", "fqdn"):
        return instance.get("fqdn") or instance.get("name")
    raise KeyError(attribute)


class _Resolver:
    def __init__(self, plan: dict, resources: dict):
        self.plan = plan
        self.resources = resources or {}
        self.warnings: list[str] = []

    def _compute_of(self, node: str) -> str | None:
        seen = set()
        while node not in (self.plan.get("compute") or {}):
            if node in seen:
                return None
            seen.add(node)
            host = ((self.plan.get("nodes") or {}).get(node) or {}).get("host")
            if not host:
                return None
            node = host
        return node

    def get_attribute(self, args: list) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            self.warnings.append(f"get_attribute {json.dumps(args)}: expected [node, attribute, (index)]")
            return None
        node, attribute = args[0], args[1]
        index = args[2] if len(args) > 2 else None
        compute = self._compute_of(node)
        if compute is None:
            self.warnings.append(f"get_attribute {json.dumps(args)}: {node} is not hosted on a compute node")
            return None
        instances = sorted(
            (self.resources.get("nodes") or {}).get(compute) or [], key=lambda i: i.get("index", 0)
        )
        # Across backbone sites each instance has its site's driver (resources["drivers"]).
        drivers = self.resources.get("drivers") or {}
        driver = self.resources.get("driver")
        try:
            values = [
                _instance_value(attribute, inst, node, drivers.get(inst.get("site"), driver))
                for inst in instances
            ]
        except KeyError:
            self.warnings.append(f"get_attribute {json.dumps(args)}: attribute {attribute} is not known")
            return None
        if index is not None:
            if not isinstance(index, int) or not 0 <= index < len(values):
                self.warnings.append(
                    f"get_attribute {json.dumps(args)}: {compute} has {len(values)} instance(s)"
                )
                return None
            return values[index]
        spec = (self.plan.get("compute") or {}).get(compute) or {}
        scalable = bool(spec.get("scalable")) or int(spec.get("max", 1) or 1) > 1
        if scalable or len(values) != 1:
            return values
        return values[0]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, args),) = value.items()
                if key == "get_attribute":
                    return self.get_attribute(args)
                if key == "concat" and isinstance(args, list):
                    return functions.concat([self.resolve(a) for a in args], final=True)
                if key == "join" and isinstance(args, list) and args:
                    delimiter = args[1] if len(args) > 1 else None
                    return functions.join(self.resolve(args[0]), delimiter, final=True)
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value


def resolve_value(plan: dict, resources: dict, value: Any) -> tuple[Any, list[str]]:
    resolver = _Resolver(plan, resources)
    return resolver.resolve(value), resolver.warnings


def resolve_attributes(plan: dict, resources: dict) -> dict:
    """A copy of ``plan`` with get_attribute/concat/join resolved in software vars and outputs.

    Outputs keep their description and get ``value`` resolved; the unresolved expression is
    kept as ``expression`` so a later resolution (after retry on another site) can redo it.
    """
    result = copy.deepcopy(plan)
    resolver = _Resolver(plan, resources)
    for entry in result.get("software") or []:
        entry["vars"] = resolver.resolve(entry.get("vars") or {})
    for output in (result.get("outputs") or {}).values():
        expression = output.get("expression", output.get("value"))
        output["expression"] = expression
        output["value"] = resolver.resolve(expression)
    if resolver.warnings:
        result["warnings"] = [*(result.get("warnings") or []), *resolver.warnings]
    return result


def resolve_outputs(plan: dict, resources: dict) -> dict[str, Any]:
    """{output name: value} for a plan and the resources of its deployment."""
    resolved = resolve_attributes(plan, resources)
    return {name: output.get("value") for name, output in (resolved.get("outputs") or {}).items()}
