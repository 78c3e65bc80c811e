"""From a validated template to the deployment plan (contract in docs/tosca.md).

Intrinsic functions are resolved here: get_input and get_property fully, concat/join/token
when their arguments are known; get_attribute values only exist after provisioning, so they
stay as expressions with SELF/HOST/SOURCE/TARGET replaced by node names.
"""

from __future__ import annotations

import math

from infn_cloud.errors import ValidationError
from infn_cloud.model import ComputeNode, Plan, SoftwareEntry
from infn_cloud.tosca import functions, roles, secret_values
from infn_cloud.tosca.units import Scalar, Version, parse_scalar
from infn_cloud.tosca.validate import Analysis, _placed_nodes, host_of, is_secret_input
from infn_cloud.tosca.values import FUNCTIONS, is_function, to_plain
from infn_cloud.tosca.yamlio import position

COMPUTE = "tosca.nodes.Compute"
SOFTWARE_BASES = (
    "tosca.nodes.SoftwareComponent",
    "tosca.nodes.Container.Application",
    "tosca.nodes.WebApplication",
)
STORAGE_BASES = ("tosca.nodes.BlockStorage", "tosca.nodes.ObjectStorage")
NETWORK_BASES = ("tosca.nodes.network.Network", "tosca.nodes.network.Port", "tosca.nodes.network.FloatingIP")
LIFECYCLE = ("create", "configure", "start")
MAX_PROPERTY_CHAIN = 64  # get_property of a property that is a get_property of ... (hostile templates)


class Unresolved(Exception):
    pass


class Resolver:
    def __init__(self, analysis: Analysis, warnings: list):
        self.analysis = analysis
        self.template = analysis.template
        self.registry = analysis.template.registry
        self.nodes = analysis.template.node_templates
        self.inputs = {k: to_plain(v) for k, v in analysis.input_values.items()}
        self.warnings = warnings
        self._stack: set = set()

    # -- entity helpers -------------------------------------------------------------------
    def entity(self, name, ctx) -> str | None:
        if name == "SELF":
            return ctx.get("self")
        if name == "HOST":
            return host_of(self.analysis, ctx.get("self")) if ctx.get("self") else None
        if name in ("SOURCE", "TARGET"):
            return ctx.get(name.lower())
        return name if name in self.nodes else None

    def node_properties(self, node: str) -> dict:
        """Resolved properties of a node, defaults included."""
        body = self.nodes[node]
        definitions = self.registry.merged("node_types", body.get("type"), "properties")
        return self._resolved_map(definitions, body.get("properties") or {}, {"self": node}, f"{node}")

    def capability_properties(self, node: str, cap: str) -> dict:
        body = self.nodes[node]
        caps = self.registry.merged("node_types", body.get("type"), "capabilities")
        cap_def = caps.get(cap, ({}, ""))[0]
        cap_type = cap_def.get("type") if isinstance(cap_def, dict) else cap_def
        definitions = self.registry.merged("capability_types", cap_type, "properties") if cap_type else {}
        given = ((body.get("capabilities") or {}).get(cap) or {}).get("properties") or {}
        return self._resolved_map(definitions, given, {"self": node}, f"{node}.{cap}")

    def _resolved_map(self, definitions, given, ctx, label) -> dict:
        result = {}
        for name, (definition, _f) in definitions.items():
            if name in given:
                continue
            if isinstance(definition, dict) and definition.get("default") is not None:
                result[name] = self.resolve(definition["default"], ctx)
        for name, value in given.items():
            result[name] = self.resolve(value, ctx)
        return result

    def property_value(self, node: str, path: list, ctx):
        key = (node, tuple(path))
        if key in self._stack:
            raise Unresolved(f"get_property loop through {node}.{path[0]}")
        if len(self._stack) >= MAX_PROPERTY_CHAIN:  # each link costs stack frames: refuse, never crash
            line = position(self.nodes, node)[0]
            raise ValidationError(
                f"{self.analysis.file}:{line}: node '{node}': get_property follows more than "
                f"{MAX_PROPERTY_CHAIN} properties that are get_property themselves; at most "
                f"{MAX_PROPERTY_CHAIN} are allowed"
            )
        self._stack.add(key)
        try:
            body = self.nodes[node]
            type_name = body.get("type")
            first = path[0]
            props = self.registry.merged("node_types", type_name, "properties")
            caps = self.registry.merged("node_types", type_name, "capabilities")
            if first in props or first in (body.get("properties") or {}):
                given = body.get("properties") or {}
                if first in given:
                    value = self.resolve(given[first], {"self": node})
                else:
                    definition = props[first][0]
                    value = (
                        self.resolve(definition.get("default"), {"self": node})
                        if isinstance(definition, dict)
                        else None
                    )
                return _index(value, path[1:])
            if first in caps and len(path) > 1:
                value = self.capability_properties(node, first).get(path[1])
                return _index(value, path[2:])
            for req in self.analysis.requirements.get(node, []):
                if req.name == first and req.target and len(path) > 1:
                    return self.property_value(req.target, path[1:], ctx)
            raise Unresolved(f"{node} has no property {first}")
        finally:
            self._stack.discard(key)

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, value, ctx):
        if is_function(value):
            name, args = next(iter(value.items()))
            return getattr(self, "_fn_" + name)(args, ctx)
        if isinstance(value, dict):
            return {k: self.resolve(v, ctx) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, ctx) for v in value]
        return to_plain(value)

    def _fn_get_input(self, args, ctx):
        if isinstance(args, list):
            return _index(self.inputs.get(args[0]), args[1:])
        return self.inputs.get(args)

    def _fn_get_property(self, args, ctx):
        node = self.entity(args[0], ctx)
        if node is None:
            return {"get_property": list(args)}
        try:
            return self.property_value(node, list(args[1:]), ctx)
        except Unresolved as exc:
            self.warnings.append(f"get_property {list(args)}: {exc}; left unresolved")
            return {"get_property": [node, *args[1:]]}

    def _fn_get_attribute(self, args, ctx):
        node = self.entity(args[0], ctx)
        if node is None:
            return {"get_attribute": list(args)}
        # TOSCA lets get_attribute read a property; properties are known now.
        body = self.nodes[node]
        attributes = self.registry.merged("node_types", body.get("type"), "attributes")
        props = self.registry.merged("node_types", body.get("type"), "properties")
        if args[1] not in attributes and args[1] in props:
            try:
                return self.property_value(node, list(args[1:]), ctx)
            except Unresolved:
                pass
        return {"get_attribute": [node, *args[1:]]}

    def _fn_get_operation_output(self, args, ctx):
        return {"get_operation_output": list(args) if isinstance(args, list) else args}

    def _fn_get_artifact(self, args, ctx):
        return {"get_artifact": list(args) if isinstance(args, list) else args}

    def _fn_concat(self, args, ctx):
        return functions.concat([self.resolve(a, ctx) for a in args], final=False)

    def _fn_join(self, args, ctx):
        delimiter = args[1] if len(args) > 1 else None
        return functions.join(self.resolve(args[0], ctx), delimiter, final=False)

    def _fn_token(self, args, ctx):
        value, problem = functions.token(self.resolve(args[0], ctx), args[1], args[2])
        if problem:
            self.warnings.append(f"token {args}: {problem}; left unresolved")
        return value


def _index(value, path):
    for step in path:
        if isinstance(value, list) and isinstance(step, int) and not isinstance(step, bool):
            if not -len(value) <= step < len(value):
                raise Unresolved(f"index {step} out of range")
            value = value[step]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        elif is_function(value) or (isinstance(value, dict) and any(k in FUNCTIONS for k in value)):
            raise Unresolved("value known only after deployment")
        else:
            raise Unresolved(f"no '{step}' in the value")
    return value


# -- plan --------------------------------------------------------------------------------
def plan_from_analysis(analysis: Analysis) -> dict:
    """The plan of a validated template (its JSON: docs/tosca.md; typed: infn_cloud.model.Plan).

    The body of ``infn_cloud.tosca.make_plan``, the one plan builder: call that (it validates,
    then checks the role contract and the ports).
    """
    template = analysis.template
    warnings: list[str] = [p.format() for p in analysis.sink.warnings]
    resolver = Resolver(analysis, warnings)
    nodes = template.node_templates
    kinds = _kinds(analysis)
    waves_of = _waves(analysis, sorted(nodes))
    wave_lists: list[list[str]] = [[] for _ in range(max(waves_of.values(), default=-1) + 1)]
    for name in sorted(nodes):
        wave_lists[waves_of[name]].append(name)

    props_of = {name: resolver.node_properties(name) for name in nodes}
    plan_nodes = {name: _node_entry(analysis, name, kinds, props_of[name]) for name in nodes}
    compute = {
        name: _compute_entry(analysis, resolver, name, props_of[name], kinds, warnings)
        for name in sorted(n for n in nodes if kinds[n] == "compute")
    }
    software = _software(analysis, resolver, kinds, waves_of, props_of, plan_nodes, compute, warnings)
    plan = Plan(
        template=template.path,
        description=template.description,
        metadata=to_plain(template.metadata),
        inputs={e["name"]: to_plain(analysis.input_values.get(e["name"])) for e in analysis.declared_inputs},
        secret_inputs=sorted(e["name"] for e in analysis.declared_inputs if e["secret"]),
        nodes=plan_nodes,
        compute=compute,
        software=software,
        waves=wave_lists,
        placement=_placement(analysis, resolver, sorted(compute)),
        outputs=_outputs(template, resolver),
        warnings=warnings,
    )
    generated = {e["name"] for e in analysis.declared_inputs if e.get("generate", True)}
    plan.secrets_to_generate = [
        n for n in plan.secret_inputs if n in generated and plan.inputs.get(n) in (None, "")
    ]
    plan.demand = plan.compute_demand()
    result = plan.to_dict()
    result["secret_values"] = secret_values.discover(result, analysis)  # names and places, no values
    return result


def _kinds(analysis: Analysis) -> dict[str, str]:
    """compute, storage, network, software or other, for every node template."""
    registry = analysis.template.registry
    nodes = analysis.template.node_templates

    def is_a(node, bases):
        return any(registry.is_a("node_types", nodes[node].get("type"), base) for base in bases)

    kinds = {}
    for name in nodes:
        if is_a(name, (COMPUTE,)):
            kinds[name] = "compute"
        elif is_a(name, STORAGE_BASES):
            kinds[name] = "storage"
        elif is_a(name, NETWORK_BASES):
            kinds[name] = "network"
        elif is_a(name, SOFTWARE_BASES) or host_of(analysis, name):
            kinds[name] = "software"
        else:
            kinds[name] = "other"
    return kinds


def _compute_host(analysis: Analysis, kinds: dict, name: str) -> str | None:
    """The compute node a node is hosted on, following HostedOn through software nodes."""
    seen = set()
    current = name
    while current and current not in seen:
        seen.add(current)
        if kinds.get(current) == "compute":
            return current
        current = host_of(analysis, current)
    return None


def _node_entry(analysis: Analysis, name: str, kinds: dict, props: dict) -> dict:
    return {
        "type": analysis.template.node_templates[name].get("type"),
        "kind": kinds[name],
        "properties": props,
        "host": _compute_host(analysis, kinds, name) if kinds[name] != "compute" else None,
        "requirements": [
            {"name": r.name, "target": r.target, "relationship": r.relationship}
            for r in analysis.requirements.get(name, [])
        ],
    }


def _software(analysis, resolver, kinds, waves_of, props_of, plan_nodes, compute, warnings) -> list:
    """Every role to run, by wave: infn.cloud.common on each compute node, then software nodes."""
    nodes = analysis.template.node_templates
    order = sorted(nodes, key=lambda n: (waves_of[n], n))
    software = [
        SoftwareEntry(
            node=name,
            type=nodes[name].get("type"),
            role=roles.COMMON_ROLE,
            implementation=None,
            vars={"common_users": compute[name].users},
            hosts=[name],
            wave=waves_of[name],
        )
        for name in order
        if kinds[name] == "compute"
    ]
    for name in (n for n in order if kinds[n] == "software"):
        entry = _software_entry(analysis, resolver, name, props_of[name], warnings)
        host = plan_nodes[name]["host"]
        entry.hosts = [host] if host else []
        entry.wave = waves_of[name]
        software.append(entry)
        if host:
            caps = compute[host].required_capabilities
            caps += [c for c in roles.required_capabilities(entry.role, entry.vars) if c not in caps]
    software = _merge_common(software)
    software.sort(key=lambda s: (s.wave, 0 if s.role == roles.COMMON_ROLE else 1, s.node))
    for entry in software:
        for host in entry.hosts:
            compute[host].software += entry.nodes
    for node in compute.values():
        node.required_capabilities.sort()
    return software


def _outputs(template, resolver) -> dict:
    outputs = {}
    for name, output in template.outputs.items():
        description = output.get("description")
        outputs[name] = {
            "description": description.strip() if isinstance(description, str) else "",
            "value": resolver.resolve(output.get("value"), {}),
        }
    return outputs


def _waves(analysis: Analysis, names: list[str]) -> dict:
    """Wave of each node: 0 without requirements, else one after its latest target.

    Iterative (an explicit stack): a chain of hundreds of requirements must not exhaust Python's
    recursion limit.
    """
    wave: dict = {}

    def targets(name):
        return iter([r.target for r in analysis.requirements.get(name, []) if r.target])

    for start in names:
        if start in wave:
            continue
        latest = {start: -1}  # per node on the path: the latest wave among its targets so far
        stack = [(start, targets(start))]
        while stack:
            name, pending = stack[-1]
            target = next(pending, None)
            if target is None:
                stack.pop()
                wave[name] = 1 + latest.pop(name)
                if stack:
                    parent = stack[-1][0]
                    latest[parent] = max(latest[parent], wave[name])
            elif target in wave:
                latest[name] = max(latest[name], wave[target])
            elif target in latest:  # a cycle (a validation error): never loop here
                latest[name] = max(latest[name], 0)
            else:
                latest[target] = -1
                stack.append((target, targets(target)))
    return wave


def _int(value, default=0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return default


def _size(value, unit: str, default=0) -> int:
    if value is None or value == "":
        return default
    try:
        scalar = value if isinstance(value, Scalar) else parse_scalar(value, "scalar-unit.size")
    except ValueError:
        return default
    return math.ceil(scalar.to(unit) - 1e-9)


def _port_links(analysis) -> dict:
    """{compute: [networks its Ports link to]}, built once per analysis (not once per compute:
    that was quadratic, minutes on a template with a thousand nodes)."""
    cached = getattr(analysis, "_port_links", None)
    if cached is None:
        cached = {}
        for reqs in analysis.requirements.values():
            targets = {r.name: r.target for r in reqs}
            if targets.get("binding") and targets.get("link"):
                cached.setdefault(targets["binding"], []).append(targets["link"])
        analysis._port_links = cached
    return cached


def _ports(name: str, endpoint: dict, warnings: list) -> list[dict]:
    """The ports of a compute node's endpoint capability: {port, protocol, remote_cidr}."""
    ports = []
    port_map = endpoint.get("ports") or {}
    if not isinstance(port_map, dict):
        return ports
    for port_name in port_map:
        spec = port_map[port_name] or {}
        if not isinstance(spec, dict):
            continue
        if spec.get("source_range"):
            low, high = spec["source_range"]
            port = f"{low}-{high}"
        else:
            port = spec.get("source", spec.get("target"))
        if port is None:
            warnings.append(f"node '{name}' endpoint port '{port_name}' has no source port; ignored")
            continue
        ports.append(
            {
                "port": port,
                "protocol": spec.get("protocol") or "tcp",
                "remote_cidr": spec.get("remote_cidr") or "0.0.0.0/0",
            }
        )
    return ports


def _volumes(analysis, resolver, name: str, kinds: dict) -> list[dict]:
    """The block storage a compute node attaches: {node, size_gb, mount_path}."""
    nodes = analysis.template.node_templates
    registry = analysis.template.registry
    volumes = []
    for req in analysis.requirements.get(name, []):
        if not (
            req.target
            and kinds.get(req.target) == "storage"
            and registry.is_a("node_types", nodes[req.target].get("type"), "tosca.nodes.BlockStorage")
        ):
            continue
        size = resolver.node_properties(req.target).get("size")
        location = resolver.resolve(
            req.properties.get("location"), {"self": name, "source": name, "target": req.target}
        )
        volumes.append(
            {
                "node": req.target,
                "size_gb": _size(size, "GB"),
                "mount_path": location if isinstance(location, str) else None,
            }
        )
    return volumes


def _os_version(version) -> str | None:
    if isinstance(version, str | int | float | Version) and version != "":
        return str(version)
    return None


def _check_bounds(analysis, resolver, name, count: int, minimum: int, maximum: int) -> None:
    """A count outside the min_instances/max_instances the template declares is invalid (the
    TOSCA defaults of 1 are not enforced: most templates set only count)."""
    given = (((resolver.nodes[name].get("capabilities") or {}).get("scalable") or {}).get("properties")) or {}
    low = "min_instances" in given and count < minimum
    high = "max_instances" in given and count > maximum
    if low or high:
        bounds = [f"min_instances {minimum}" if "min_instances" in given else None]
        bounds.append(f"max_instances {maximum}" if "max_instances" in given else None)
        raise ValidationError(
            f"{analysis.file}:{position(resolver.nodes, name)[0]}: node '{name}': count {count} is "
            f"{'below' if low else 'above'} its scalable bounds ({', '.join(b for b in bounds if b)})"
        )


def _compute_entry(analysis, resolver, name, props, kinds, warnings) -> ComputeNode:
    host = resolver.capability_properties(name, "host")
    os_caps = resolver.capability_properties(name, "os")
    scalable = resolver.capability_properties(name, "scalable")
    endpoint = resolver.capability_properties(name, "endpoint")
    count = _int(scalable.get("count"), _int(scalable.get("default_instances"), 1))
    minimum = _int(scalable.get("min_instances"), 1)
    maximum = _int(scalable.get("max_instances"), 1)
    _check_bounds(analysis, resolver, name, count, minimum, maximum)
    public = endpoint.get("network_name") == "PUBLIC"
    # INFN's style: Port nodes bind to the compute and link to a network with network_type public
    for link in _port_links(analysis).get(name, ()):
        if resolver.node_properties(link).get("network_type") == "public":
            public = True
    users = props.get("os_users") if props.get("os_users") is not None else props.get("users")
    num_gpus = _int(host.get("num_gpus"), 0)
    return ComputeNode(
        count=count,
        min=min(minimum, count),
        max=max(maximum, count),
        # Declared in the template (even at count 1): get_attribute without an index then gives
        # a list, as INDIGO does (INFN's mesos_cluster feeds such a list into a list property).
        scalable="scalable" in (resolver.nodes[name].get("capabilities") or {}),
        num_cpus=_int(host.get("num_cpus"), 1),
        mem_size_mb=_size(host.get("mem_size"), "MB", 1000),
        disk_size_gb=_size(host.get("disk_size"), "GB", 0),
        num_gpus=num_gpus,
        gpu_model=host.get("gpu_model") or None,
        os={
            "distribution": os_caps.get("distribution") or None,
            "version": _os_version(os_caps.get("version")),
        },
        ports=_ports(name, endpoint, warnings),
        public_ip=bool(public),
        users=[u for u in (users or []) if isinstance(u, dict)],
        volumes=_volumes(analysis, resolver, name, kinds),
        software=[],
        required_capabilities=["gpu"] if num_gpus > 0 else [],
    )


def _implementation(registry, type_name, node_body):
    """(operation, implementation, inputs) of the first lifecycle operation that has one."""
    interfaces = registry.merged("node_types", type_name, "interfaces")
    standard = interfaces.get("Standard", ({}, ""))[0] or {}
    template_standard = ((node_body.get("interfaces") or {}).get("Standard")) or {}
    for op in LIFECYCLE:
        operation = template_standard.get(op) or standard.get(op)
        if operation is None:
            continue
        if isinstance(operation, str):
            return op, operation, {}
        if isinstance(operation, dict):
            implementation = operation.get("implementation")
            if isinstance(implementation, dict):
                implementation = implementation.get("primary")
            inputs = (
                dict(standard.get(op, {}).get("inputs") or {}) if isinstance(standard.get(op), dict) else {}
            )
            inputs.update(operation.get("inputs") or {} if operation is template_standard.get(op) else {})
            return op, implementation, inputs
    return None, None, {}


def _software_entry(analysis, resolver, name, props, warnings) -> SoftwareEntry:
    registry = analysis.template.registry
    body = analysis.template.node_templates[name]
    type_name = body.get("type")
    _op, implementation, op_inputs = _implementation(registry, type_name, body)
    role = None
    variables: dict = {}
    if isinstance(implementation, str) and implementation.startswith(roles.ROLE_PREFIX):
        role = implementation
        implementation = None
        ctx = {"self": name}
        for key, value in op_inputs.items():
            variables[key] = resolver.resolve(value, ctx)
    else:
        mapped = roles.infn_role(registry, type_name)
        if mapped is not None:
            role_name, build = mapped
            role = roles.ROLE_PREFIX + role_name
            raw = body.get("properties") if isinstance(body.get("properties"), dict) else {}
            variables = build(
                props, {"node": name, "host": host_of(analysis, name), "raw": raw, "warn": warnings.append}
            )
        else:
            warnings.append(
                f"node '{name}' ({type_name}) has no infn.cloud role: its playbook {implementation} is kept"
            )
    return SoftwareEntry(node=name, type=type_name, role=role, implementation=implementation, vars=variables)


# Placement properties kept per node in the plan's placement (besides sites and regions).
_PER_NODE_KEYS = ("sla_id",)
SPREAD_POLICY = "infn.cloud.policies.DistinctSites"


def _items(value) -> list:
    return [v for v in (value if isinstance(value, list) else [value] if value else []) if v is not None]


def _placement(analysis, resolver, compute: list[str]) -> dict:
    """The plan's placement: ``sites``/``regions`` of every placement policy (the whole
    deployment's, as before) and, when nodes are placed differently, ``nodes``: per compute node
    the sites/regions of the policies targeting it (nodes no policy targets follow the policies
    without targets); ``spread``: groups of nodes a DistinctSites policy puts on distinct sites."""
    template = analysis.template
    registry = template.registry
    sites: list = []
    regions: list = []
    policy = None
    per_node: dict[str, dict] = {name: {} for name in compute}
    general: list[dict] = []
    spread: list[dict] = []
    for entry in template.policies:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        name, body = next(iter(entry.items()))
        if not isinstance(body, dict) or not registry.is_a(
            "policy_types", body.get("type"), "tosca.policies.Placement"
        ):
            continue
        policy = policy or registry.resolve_name("policy_types", body.get("type"))
        props = resolver.resolve(body.get("properties") or {}, {})
        own = {
            "sites": [*_items(props.get("sites")), *_items(props.get("site"))],
            "regions": [*_items(props.get("regions")), *_items(props.get("region"))],
            **{k: props[k] for k in _PER_NODE_KEYS if props.get(k) not in (None, "")},
        }
        for key, bucket in (("sites", sites), ("regions", regions)):
            for item in own[key]:
                if item not in bucket:
                    bucket.append(item)
        targets = body.get("targets") if isinstance(body.get("targets"), list) else []
        placed = _placed_nodes(analysis, targets) if targets else set()
        covered = [c for c in compute if c in placed]
        if registry.is_a("policy_types", body.get("type"), SPREAD_POLICY):
            spread.append(
                {
                    "policy": name,
                    "nodes": covered or list(compute),
                    "required": props.get("required") is not False,
                }
            )
        if not targets:
            if own["sites"] or own["regions"]:
                general.append({"policy": name, **own})
            continue
        if not (own["sites"] or own["regions"] or any(k in own for k in _PER_NODE_KEYS)):
            continue  # places nothing (a DistinctSites policy alone): the node keeps the general one
        for node in covered:
            per_node[node].setdefault("policies", []).append({"policy": name, **own})
    nodes: dict[str, dict] = {}
    for node in compute:
        found = per_node[node].get("policies") or general
        merged: dict = {"sites": [], "regions": [], "policies": [p["policy"] for p in found]}
        for item in found:
            for key in ("sites", "regions"):
                merged[key] += [v for v in item[key] if v not in merged[key]]
            for key in _PER_NODE_KEYS:
                if key in item:
                    merged.setdefault(key, item[key])
        nodes[node] = merged
    placement = {"sites": sites, "regions": regions, "policy": policy}
    # The JSON of a template placing every node alike stays as it was: no per-node keys.
    differs = any(
        (set(map(str, n["sites"])), set(map(str, n["regions"])))
        != (set(map(str, sites)), set(map(str, regions)))
        for n in nodes.values()
    )
    if differs or spread or any(k in n for n in nodes.values() for k in _PER_NODE_KEYS):
        placement["nodes"] = nodes
    if spread:
        placement["spread"] = spread
    return placement


__all__ = ["is_secret_input", "plan_from_analysis"]


def _merge_common(software: list[SoftwareEntry]) -> list[SoftwareEntry]:
    """Fold software nodes implemented by infn.cloud.common into their host's own common entry.

    Every compute node gets infn.cloud.common; a SingleVM-like node hosted on it configures the
    same role again. Running it once, with both sets of variables, halves that host's work.
    """
    own = {e.hosts[0]: e for e in software if e.role == roles.COMMON_ROLE and e.node in e.hosts}
    merged = []
    for entry in software:
        is_common = entry.role == roles.COMMON_ROLE and entry.hosts
        target = own.get(entry.hosts[0]) if is_common else None
        if target is None or target is entry:
            merged.append(entry)
            continue
        users = list(target.vars.get("common_users") or [])
        users += [u for u in entry.vars.get("common_users") or [] if u not in users]
        target.vars = {**target.vars, **entry.vars, "common_users": users}
        target.merged_nodes.append(entry.node)
    return merged
