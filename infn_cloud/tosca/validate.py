"""Validation of a loaded template: types, inputs, node templates, requirements, functions.

Every problem goes to one Collector, so a user sees all of them at once, each with the
file:line of the offending value, the subject (input/property), the value and the rule.
Types the topology uses are checked strictly; problems in imported types nothing uses are one
warning per types file (foreign catalogues carry such defects: docs/tosca.md, "Foreign
catalogues"). Coercions the production parsers make are warnings, errors under --strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infn_cloud.tosca.loader import Template
from infn_cloud.tosca.model import NO_VALUE, Collector, short_path, yaml_text
from infn_cloud.tosca.types import NORMATIVE_FILE, PRIMITIVES, SECTIONS
from infn_cloud.tosca.values import (
    FUNCTIONS,
    ValueChecker,
    Where,
    contains_function,
    is_function,
    is_required,
    to_plain,
)
from infn_cloud.tosca.yamlio import Mapping, position, raw_text

MODELABLE_ENTITIES = ("SELF", "SOURCE", "TARGET", "HOST")


@dataclass
class Requirement:
    name: str
    target: str | None
    relationship: str | None
    properties: dict
    pos: tuple[int, int]
    capability: str | None = None


@dataclass
class Analysis:
    """A validated template with everything the planner needs."""

    template: Template
    sink: Collector
    checker: ValueChecker
    input_values: dict = field(default_factory=dict)  # normalised values (defaults applied)
    missing_inputs: list = field(default_factory=list)
    declared_inputs: list = field(default_factory=list)
    requirements: dict = field(default_factory=dict)  # node -> [Requirement]
    policies: list = field(default_factory=list)  # [{name, type, placement, targets, properties}]

    @property
    def file(self) -> str:
        return self.template.path


def analyse(template: Template, sink: Collector, inputs=None, require_inputs=False) -> Analysis:
    analysis = Analysis(template, sink, ValueChecker(template.registry, sink))
    _check_type_definitions(analysis)
    _check_inputs(analysis, inputs or {}, require_inputs)
    _check_node_templates(analysis)
    _check_cycles(analysis)
    _check_outputs(analysis)
    _check_policies(analysis)
    return analysis


# -- type definitions -------------------------------------------------------------------
# Types the topology uses (its node templates, inputs, relationships, policies, groups and
# everything their definitions name, with their derived_from chains) are checked strictly.
# Type libraries carry defects in types nobody uses (a data type named in an entry_schema but
# never defined, a quoted default): those become one warning per types file, naming the import
# that brought the file in, as tosca-parser and the orchestrators accept such libraries.
UNUSED_TYPES_RULE = "unused types"
_UNUSED_SHOWN = 10  # problems listed in one warning; the rest are counted


def _check_type_definitions(analysis: Analysis) -> None:
    registry, sink = analysis.template.registry, analysis.sink
    normative = str(NORMATIVE_FILE)
    used = reachable_types(analysis.template)
    unused: dict[str, list] = {}  # types file -> problems of types the topology does not use
    for section in SECTIONS:
        for name, typedef in registry.defs[section].items():
            if typedef.file == normative:
                continue
            local = Collector()
            _check_type_definition(analysis, local, section, name, typedef)
            if (section, name) not in used:
                unused.setdefault(typedef.file, []).extend(local.errors)
                continue
            origin = import_origin(analysis.template, typedef.file)
            for problem in local.errors:
                if problem.rule == "unknown type":  # accepted until a value needs the type
                    bucket = sink.warn
                    message = f"{problem.message}: values for it cannot be checked{origin}"
                else:
                    bucket, message = sink.error, problem.message + origin
                bucket(
                    problem.file,
                    (problem.line, problem.column),
                    problem.subject,
                    message,
                    value=problem.value,
                    rule=problem.rule,
                )
            for problem in local.warnings:
                sink.warn(
                    problem.file,
                    (problem.line, problem.column),
                    problem.subject,
                    problem.message + origin,
                    value=problem.value,
                    rule=problem.rule,
                )
    for file, problems in unused.items():
        if problems:
            _warn_unused(analysis, file, problems)


def _warn_unused(analysis: Analysis, file: str, problems: list) -> None:
    problems = sorted(problems, key=lambda p: (p.line, p.column))
    shown = []
    for problem in problems[:_UNUSED_SHOWN]:
        text = f"line {problem.line}: {problem.subject}"
        if problem.value is not NO_VALUE and problem.value is not None:
            text += f" value {yaml_text(problem.value)}"
        shown.append(f"{text}: {problem.message}")
    if len(problems) > _UNUSED_SHOWN:
        shown.append(f"and {len(problems) - _UNUSED_SHOWN} more")
    analysis.sink.warn(
        file,
        (problems[0].line, problems[0].column),
        "types file" + import_origin(analysis.template, file),
        f"{len(problems)} problem(s) in types the template does not use, ignored: " + "; ".join(shown),
        rule=UNUSED_TYPES_RULE,
    )


def import_origin(template: Template, file: str) -> str:
    """' (imported by tpl.yaml:4 as 'URL')' for a types file a template imports; '' for the template."""
    for entry in template.imports:
        if entry.get("resolved") == file and entry.get("by"):
            return f" (imported by {short_path(entry['by'])}:{entry.get('line', 0)} as '{entry['import']}')"
    return ""


def _check_type_definition(analysis: Analysis, sink: Collector, section, name, typedef) -> None:
    registry = analysis.template.registry
    context = _Context(analysis.template, sink, ValueChecker(registry, sink))
    body = typedef.body if isinstance(typedef.body, dict) else {}
    parent = body.get("derived_from")
    kind = section[:-6].replace("_", " ")
    if parent is not None and not isinstance(parent, str):
        sink.error(
            typedef.file,
            position(body, "derived_from"),
            f"{kind} type '{name}'",
            "derived_from must be a type name (a string)",
            rule="derived_from",
        )
    elif parent is not None and registry.resolve_name(section, parent) is None:
        if not (section == "data_types" and parent in PRIMITIVES):
            sink.error(
                typedef.file,
                position(body, "derived_from"),
                f"{kind} type '{name}'",
                f"derives from unknown type '{parent}'",
                rule="derived_from",
            )
    elif registry.has_cycle(section, name):
        sink.error(
            typedef.file,
            position(body, "derived_from"),
            f"{kind} type '{name}'",
            "has a derived_from cycle",
            rule="derived_from",
        )
    for key in ("properties", "attributes"):
        definitions = body.get(key)
        if not isinstance(definitions, dict):
            continue
        for prop, definition in definitions.items():
            _check_definition(
                context,
                typedef.file,
                definitions,
                prop,
                definition,
                f"{kind} type '{name}' {'property' if key == 'properties' else 'attribute'} '{prop}'",
                key == "properties",
            )


@dataclass
class _Context:
    """What a definition check needs: the template, where problems go, the value checker."""

    template: Template
    sink: Collector
    checker: ValueChecker


def reachable_types(template: Template) -> set[tuple[str, str]]:
    """(section, type name) of every type the topology uses, directly or through other types."""
    registry = template.registry
    seen: set[tuple[str, str]] = set()
    stack: list[tuple[str, str]] = []

    def add(section, name) -> None:
        if isinstance(name, dict):
            name = name.get("type")
        resolved = registry.resolve_name(section, name) if isinstance(name, str) else None
        if resolved is not None and (section, resolved) not in seen:
            seen.add((section, resolved))
            stack.append((section, resolved))

    def add_value_type(definition, depth=0) -> None:
        if not isinstance(definition, dict) or depth > 8:
            return
        add("data_types", definition.get("type"))
        schema = definition.get("entry_schema")
        if isinstance(schema, str):
            add("data_types", schema)
        else:
            add_value_type(schema, depth + 1)

    for definition in template.inputs.values():
        add_value_type(definition)
    for node in template.node_templates.values():
        if not isinstance(node, dict):
            continue
        add("node_types", node.get("type"))
        for entry in node.get("requirements") or [] if isinstance(node.get("requirements"), list) else []:
            spec = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
            if isinstance(spec, dict):
                add("relationship_types", spec.get("relationship"))
                add("capability_types", spec.get("capability"))
                add("node_types", spec.get("node"))
            elif isinstance(spec, str):
                add("node_types", spec)  # a requirement may name a node type
        artifacts = node.get("artifacts")
        for artifact in artifacts.values() if isinstance(artifacts, dict) else []:
            if isinstance(artifact, dict):
                add("artifact_types", artifact.get("type"))
    for section, kind in (("relationship_templates", "relationship_types"), ("groups", "group_types")):
        for body in template.section(section).values():
            if isinstance(body, dict):
                add(kind, body.get("type"))
    for entry in template.policies:
        for body in entry.values() if isinstance(entry, dict) else []:
            if isinstance(body, dict):
                add("policy_types", body.get("type"))
    while stack:
        section, name = stack.pop()
        body = registry.defs[section][name].body
        if not isinstance(body, dict):
            continue
        add(section, body.get("derived_from"))
        for key in ("properties", "attributes"):
            items = body.get(key)
            for definition in items.values() if isinstance(items, dict) else []:
                add_value_type(definition)
        capabilities = body.get("capabilities")
        for definition in capabilities.values() if isinstance(capabilities, dict) else []:
            add("capability_types", definition)
        requirements = body.get("requirements")
        for entry in requirements if isinstance(requirements, list) else []:
            spec = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
            if isinstance(spec, str):
                spec = {"capability": spec}
            if isinstance(spec, dict):
                add("capability_types", spec.get("capability"))
                add("node_types", spec.get("node"))
                add("relationship_types", spec.get("relationship"))
        artifacts = body.get("artifacts")
        for artifact in artifacts.values() if isinstance(artifacts, dict) else []:
            if isinstance(artifact, dict):
                add("artifact_types", artifact.get("type"))
    return seen


def _known_type(context, type_name) -> bool:
    return isinstance(type_name, str) and (
        type_name in PRIMITIVES or context.template.registry.get("data_types", type_name) is not None
    )


def _entry_type(sink, at: tuple, not_map: tuple[str, str], unknown) -> str | None:
    """The type of an entry (a node template, an input or property definition) at
    (file, container, name, entry, subject); None after an error when the entry is not a map
    (not_map: message and rule), has no type, or unknown(type) returns a (message, rule)."""
    file, container, name, entry, subject = at
    if not isinstance(entry, dict):
        sink.error(file, position(container, name), subject, not_map[0], rule=not_map[1])
        return None
    type_name = entry.get("type")
    if type_name is None:
        sink.error(file, position(container, name), subject, "has no type", rule="type")
        return None
    problem = unknown(type_name)
    if problem is not None:
        sink.error(file, position(entry, "type"), subject, problem[0], rule=problem[1])
        return None
    return type_name


def _check_definition(context, file, container, name, definition, subject, check_default=True) -> None:
    sink = context.sink
    type_name = _entry_type(
        sink,
        (file, container, name, definition, subject),
        ("definition must be a map with at least 'type'", "definition"),
        lambda t: None if _known_type(context, t) else (f"unknown data type '{t}'", "unknown type"),
    )
    if type_name is None:
        return
    schema = definition.get("entry_schema")
    schema_type = schema.get("type") if isinstance(schema, dict) else schema
    if schema is not None and not _known_type(context, schema_type):
        sink.error(
            file,
            position(definition, "entry_schema"),
            subject,
            f"unknown entry_schema type '{schema_type}'",
            rule="unknown type",
        )
        return
    default = definition.get("default")
    if check_default and default is not None and not contains_function(default):
        where = Where(
            file, position(definition, "default"), subject + " default", raw_text(definition, "default")
        )
        context.checker.check(
            default, type_name, where, entry_schema=schema, constraints=definition.get("constraints")
        )
    elif definition.get("constraints") is not None:
        context.checker.normalise_constraints(
            definition.get("constraints"), Where(file, position(container, name), subject)
        )


# -- inputs -----------------------------------------------------------------------------
def is_secret_input(name: str, definition, metadata: dict) -> bool:
    listed = metadata.get("secret_inputs") if isinstance(metadata, dict) else None
    if isinstance(listed, list) and name in listed:
        return True
    if isinstance(definition, dict):
        meta = definition.get("metadata")
        if isinstance(meta, dict) and meta.get("secret") is True:
            return True
    words = name.lower().replace("-", "_").split("_")
    text = name.lower()
    if (
        any(w in ("password", "passwd", "secret", "token", "key", "passphrase") for w in words)
        or "password" in text
    ):
        return not _is_public_key(name, definition)
    description = definition.get("description") if isinstance(definition, dict) else None
    if isinstance(description, str):
        if re.search(r"\b(password|passphrase|secret|token)s?\b", description, re.IGNORECASE):
            return True
    return False


def _is_public_key(name, definition) -> bool:
    text = (
        name + " " + str(definition.get("description", "") if isinstance(definition, dict) else "")
    ).lower()
    return "public" in text and "key" in text and "secret" not in text and "token" not in text


def _check_inputs(analysis: Analysis, provided: dict, require_inputs: bool) -> None:
    template, sink, file = analysis.template, analysis.sink, analysis.file
    declared = template.inputs
    if "inputs" in template.topology and not isinstance(template.topology.get("inputs"), dict):
        if template.topology.get("inputs") is not None:
            sink.error(file, template.topology.pos("inputs"), "inputs", "must be a map", rule="structure")
    for name in sorted(provided, key=str):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            sink.error(
                getattr(provided, "source", "") or "inputs",
                position(provided, name),
                f"input '{name}'",
                f"is not declared by the template (declared inputs: {known})",
                rule="unknown input",
            )
    metadata = template.metadata
    for name, definition in declared.items():
        subject = f"input '{name}'"
        _check_definition(analysis, file, declared, name, definition, subject, check_default=True)
        if not isinstance(definition, dict):
            continue
        entry = {
            "name": name,
            "type": definition.get("type"),
            "description": (definition.get("description") or "").strip()
            if isinstance(definition.get("description"), str)
            else "",
            "default": definition.get("default"),
            "required": is_required(definition),
            "constraints": definition.get("constraints") or [],
            "secret": is_secret_input(name, definition, metadata),
            # `metadata: {generate: false}`: a secret the user must bring (e.g. an OIDC client
            # secret registered at a provider); left empty, it is not generated.
            "generate": (definition.get("metadata") or {}).get("generate") is not False
            if isinstance(definition.get("metadata"), dict)
            else True,
        }
        analysis.declared_inputs.append(entry)
        checker_kwargs = {
            "entry_schema": definition.get("entry_schema"),
            "constraints": definition.get("constraints"),
        }
        if name in provided:
            value = provided[name]
            source = getattr(provided, "source", "") or "inputs"
            where = Where(source, position(provided, name), subject, raw_text(provided, name))
            if value is None and not entry["required"]:
                analysis.input_values[name] = None
            elif contains_function(value):
                sink.error(
                    source,
                    where.pos,
                    subject,
                    "input values cannot be TOSCA functions",
                    value=value,
                    rule="type",
                )
            else:
                before = len(sink.errors)
                checked = analysis.checker.check(value, definition.get("type"), where, **checker_kwargs)
                if len(sink.errors) == before:
                    analysis.input_values[name] = checked
            continue
        default = definition.get("default")
        if default is not None:
            where = Where(file, position(definition, "default"), subject, raw_text(definition, "default"))
            quiet = Collector()  # the default was already checked (and reported) above
            checked = ValueChecker(template.registry, quiet).check(
                default, definition.get("type"), where, **checker_kwargs
            )
            if not quiet.errors:
                analysis.input_values[name] = checked
            continue
        if entry["required"]:
            analysis.missing_inputs.append(entry)
            if require_inputs:
                sink.error(
                    file,
                    position(declared, name),
                    subject,
                    f"is required and has no default: give it with -i FILE or --set {name}=VALUE",
                    rule="required",
                )
        else:
            analysis.input_values[name] = None


# -- node templates ---------------------------------------------------------------------
def _check_node_templates(analysis: Analysis) -> None:
    template, sink, file = analysis.template, analysis.sink, analysis.file
    registry = template.registry
    topology = template.topology
    if "topology_template" in template.doc and isinstance(topology, dict):
        nodes = topology.get("node_templates")
        if nodes is not None and not isinstance(nodes, dict):
            sink.error(
                file, topology.pos("node_templates"), "node_templates", "must be a map", rule="structure"
            )
    nodes = template.node_templates
    if not nodes and isinstance(template.doc.get("topology_template"), dict):
        sink.warn(file, template.doc.pos("topology_template"), "topology_template", "has no node_templates")
    for node_name, node in nodes.items():
        subject = f"node '{node_name}'"
        type_name = _entry_type(
            sink,
            (file, nodes, node_name, node, subject),
            ("must be a map with a 'type'", "structure"),
            lambda t: (
                None
                if registry.get("node_types", t) is not None
                else (f"unknown node type '{t}' (is its types file imported?)", "type")
            ),
        )
        if type_name is None:
            continue
        for key in node:
            if key not in (
                "type",
                "description",
                "metadata",
                "directives",
                "properties",
                "attributes",
                "requirements",
                "capabilities",
                "interfaces",
                "artifacts",
                "node_filter",
                "copy",
            ):
                sink.error(file, position(node, key), subject, f"has unknown key '{key}'", rule="structure")
        props = registry.merged("node_types", type_name, "properties")
        _check_properties(analysis, node_name, subject, node.get("properties"), props, node, "properties")
        _check_capabilities(analysis, node_name, node, type_name)
        analysis.requirements[node_name] = _parse_requirements(analysis, node_name, node, type_name)
        interfaces = node.get("interfaces")
        if interfaces is not None:
            check_functions(
                analysis, interfaces, Where(file, position(node, "interfaces"), subject), node_name
            )


def _defined(sink, at: tuple, definitions, definer: str, rule: str) -> bool:
    """Whether the name at (file, container, name, subject) is in definitions; if not, an error
    naming `definer` and the names it defines."""
    file, container, name, subject = at
    if name in definitions:
        return True
    known = ", ".join(sorted(definitions)) or "none"
    message = f"is not defined by {definer} (known: {known})"
    sink.error(file, position(container, name), subject, message, rule=rule)
    return False


def _check_defined_values(analysis, node_name, subject, values, definitions, definer) -> None:
    """Check each property value against its definition; unknown names are errors naming `definer`."""
    sink, file = analysis.sink, analysis.file
    for prop, value in values.items():
        psubject = f"{subject} property '{prop}'"
        if not _defined(sink, (file, values, prop, psubject), definitions, definer, "unknown property"):
            continue
        definition = definitions[prop][0] if isinstance(definitions[prop][0], dict) else {}
        where = Where(file, position(values, prop), psubject, raw_text(values, prop))
        checked = check_value_with_inputs(analysis, value, definition, where, node_name)
        if _coerced(value, checked):
            values[prop] = checked  # the planner reads the value as the production parsers do


def _check_properties(analysis, node_name, subject, values, definitions, owner, key) -> None:
    sink, file = analysis.sink, analysis.file
    if values is None:
        values = Mapping()
    if not isinstance(values, dict):
        sink.error(file, position(owner, key), f"{subject} {key}", "must be a map", rule="structure")
        return
    _check_defined_values(analysis, node_name, subject, values, definitions, "the type")
    for prop, (definition, _def_file) in definitions.items():
        if prop in values or not isinstance(definition, dict):
            continue
        if (
            is_required(definition)
            and definition.get("default") is None
            and definition.get("type") is not None
        ):
            sink.error(
                file,
                position(owner, key) if key in owner else position(owner),
                f"{subject} property '{prop}'",
                f"is required by the type and has no value ({definition.get('type')})",
                rule="required",
            )


def check_value_with_inputs(analysis, value, definition, where, node_name):
    """Check a property value; a get_input is checked with the input's value when known.

    Returns the value as checked (coerced where the production parsers coerce it)."""
    type_name = definition.get("type")
    kwargs = {"entry_schema": definition.get("entry_schema"), "constraints": definition.get("constraints")}
    if is_function(value):
        name = value.get("get_input")
        check_functions(analysis, value, where, node_name)
        if (
            isinstance(name, str)
            and name in analysis.input_values
            and analysis.input_values[name] is not None
        ):
            declared = position(analysis.template.inputs, name)[0]
            sub = Where(
                where.file,
                where.pos,
                f"{where.subject} (from input '{name}' at line {declared})",
            )
            # The normalised input (Scalar/Version) is re-checked against the property's own type.
            analysis.checker.check(to_plain(analysis.input_values[name]), type_name, sub, **kwargs)
        return value
    if contains_function(value):
        check_functions(analysis, value, where, node_name)
        return value
    if type_name is not None:
        return analysis.checker.check(value, type_name, where, **kwargs)
    return value


def _coerced(value, checked) -> bool:
    """A quoted number or boolean read as one, or a boolean read as a string (values.py)."""
    if isinstance(value, str):
        return isinstance(checked, bool | int | float)
    return isinstance(value, bool) and isinstance(checked, str)


def _check_capabilities(analysis, node_name, node, type_name) -> None:
    sink, file = analysis.sink, analysis.file
    registry = analysis.template.registry
    caps = node.get("capabilities")
    if caps is None:
        return
    if not isinstance(caps, dict):
        sink.error(file, position(node, "capabilities"), f"node '{node_name}' capabilities", "must be a map")
        return
    definitions = registry.merged("node_types", type_name, "capabilities")
    for cap_name, cap in caps.items():
        subject = f"node '{node_name}' capability '{cap_name}'"
        if not _defined(sink, (file, caps, cap_name, subject), definitions, "the type", "unknown capability"):
            continue
        if cap is None:
            continue
        if not isinstance(cap, dict):
            sink.error(
                file, position(caps, cap_name), subject, "must be a map with 'properties'", rule="structure"
            )
            continue
        cap_def = definitions[cap_name][0]
        cap_type = cap_def.get("type") if isinstance(cap_def, dict) else cap_def
        props = registry.merged("capability_types", cap_type, "properties")
        values = cap.get("properties")
        if values is None:
            continue
        if not isinstance(values, dict):
            sink.error(file, position(cap, "properties"), subject, "properties must be a map")
            continue
        _check_defined_values(analysis, node_name, subject, values, props, cap_type)


def _parse_requirements(analysis, node_name, node, type_name) -> list[Requirement]:
    sink, file = analysis.sink, analysis.file
    registry = analysis.template.registry
    nodes = analysis.template.node_templates
    entries = node.get("requirements")
    result: list[Requirement] = []
    if entries is None:
        _check_occurrences(analysis, node_name, node, type_name, result)
        return result
    if not isinstance(entries, list):
        sink.error(
            file,
            position(node, "requirements"),
            f"node '{node_name}' requirements",
            "must be a list",
            rule="structure",
        )
        return result
    definitions = {name: definition for name, definition, _f in registry.requirements(type_name)}
    for index, entry in enumerate(entries):
        pos = position(entries, index)
        if not isinstance(entry, dict) or len(entry) != 1:
            sink.error(
                file,
                pos,
                f"node '{node_name}' requirement",
                f"must be a single-key map, got {yaml_text(entry)}",
                rule="structure",
            )
            continue
        req_name, spec = next(iter(entry.items()))
        subject = f"node '{node_name}' requirement '{req_name}'"
        pos = position(entry, req_name)
        definition = definitions.get(req_name)
        if definition is None:
            known = ", ".join(definitions) or "none"
            sink.error(
                file,
                pos,
                subject,
                f"is not defined by {type_name} (known: {known})",
                rule="unknown requirement",
            )
            definition = {}
        target = None
        relationship = definition.get("relationship")
        rel_props: dict = {}
        capability = definition.get("capability")
        if isinstance(spec, str):
            target = spec
        elif isinstance(spec, dict):
            target = spec.get("node")
            capability = spec.get("capability", capability)
            rel = spec.get("relationship")
            if isinstance(rel, dict):
                relationship = rel.get("type", relationship)
                rel_props = rel.get("properties") or {}
            elif isinstance(rel, str):
                templates = analysis.template.section("relationship_templates")
                if rel in templates and isinstance(templates[rel], dict):
                    relationship = templates[rel].get("type", relationship)
                    rel_props = templates[rel].get("properties") or {}
                else:
                    relationship = rel
            if not isinstance(rel_props, dict):
                sink.error(
                    file,
                    pos,
                    subject,
                    "relationship properties must be a map",
                    value=rel_props,
                    rule="structure",
                )
                rel_props = {}
            elif rel_props:
                check_functions(analysis, rel_props, Where(file, pos, subject), node_name)
        elif spec is not None:
            sink.error(
                file, pos, subject, f"must name a node template, got {yaml_text(spec)}", rule="structure"
            )
            continue
        if isinstance(relationship, dict):
            relationship = relationship.get("type")
        if relationship is not None:
            resolved = registry.resolve_name("relationship_types", relationship)
            if resolved is None:
                sink.error(file, pos, subject, f"unknown relationship type '{relationship}'", rule="type")
            relationship = resolved or relationship
        if target is not None and not isinstance(target, str):
            sink.error(file, pos, subject, "must name a node template", value=target, rule="structure")
            continue
        if target is not None and target not in nodes and registry.get("node_types", target) is not None:
            target = _node_type_target(analysis, subject, pos, target)
            if target is None:
                result.append(Requirement(req_name, None, relationship, rel_props, pos, capability))
                continue
        if target is None:
            sink.warn(
                file,
                pos,
                subject,
                "names no node template (abstract requirements are left for the orchestrator to fill)",
                rule="requirement",
            )
        elif target not in nodes:
            known = ", ".join(sorted(nodes))
            sink.error(
                file,
                pos,
                subject,
                f"points at missing node template '{target}' (node templates: {known})",
                value=target,
                rule="dangling requirement",
            )
            target = None
        else:
            wanted = definition.get("node")
            target_type = nodes[target].get("type") if isinstance(nodes[target], dict) else None
            if (
                wanted
                and target_type
                and registry.get("node_types", target_type) is not None
                and registry.get("node_types", wanted) is not None
                and not registry.is_a("node_types", target_type, registry.resolve_name("node_types", wanted))
            ):
                sink.error(
                    file,
                    pos,
                    subject,
                    f"targets '{target}' of type {target_type}, but {type_name} needs a {wanted}",
                    value=target,
                    rule="requirement node type",
                )
        result.append(Requirement(req_name, target, relationship, rel_props, pos, capability))
    _check_occurrences(analysis, node_name, node, type_name, result)
    return result


def _node_type_target(analysis, subject, pos, type_name) -> str | None:
    """A requirement naming a node type (the spec allows it): the one node template of that type,
    else None (left to the orchestrator) with a warning saying why."""
    registry = analysis.template.registry
    resolved = registry.resolve_name("node_types", type_name)
    matches = sorted(
        name
        for name, body in analysis.template.node_templates.items()
        if isinstance(body, dict) and registry.is_a("node_types", body.get("type"), resolved)
    )
    if len(matches) == 1:
        return matches[0]
    why = (
        f"several node templates are of that type ({', '.join(matches)})"
        if matches
        else "no node template is of that type"
    )
    analysis.sink.warn(
        analysis.file,
        pos,
        subject,
        f"names node type {type_name}, not a node template, and {why}: left for the orchestrator "
        "to fill (name the node template to make it explicit)",
        rule="requirement",
    )
    return None


def _occurrences(definition) -> tuple[int, float, bool] | None:
    """(min, max, declared) of a requirement definition; None when `occurrences` is malformed.

    Undeclared: TOSCA and tosca-parser need at least one; at most one for a `host`
    (HostedOn: a node runs on one host), any number otherwise (tosca-parser's reading)."""
    value = definition.get("occurrences") if isinstance(definition, dict) else None
    if value is None:
        return 1, float("inf"), False
    if not isinstance(value, list) or len(value) != 2:
        return None
    low, high = value
    high = float("inf") if high == "UNBOUNDED" else high
    if (
        isinstance(low, bool)
        or not isinstance(low, int)
        or isinstance(high, bool)
        or not isinstance(high, int | float)
        or not 0 <= low <= high
        or high == 0
    ):
        return None
    return low, high, True


def _check_occurrences(analysis, node_name, node, type_name, requirements) -> None:
    """Each requirement given as many times as its definition's `occurrences` allow."""
    registry, sink, file = analysis.template.registry, analysis.sink, analysis.file
    counts: dict = {}
    for req in requirements:
        counts.setdefault(req.name, []).append(req)
    for req_name, definition, def_file in registry.requirements(type_name):
        bounds = _occurrences(definition)
        subject = f"node '{node_name}' requirement '{req_name}'"
        if bounds is None:
            sink.error(
                def_file,
                position(definition, "occurrences"),
                f"node type {type_name} requirement '{req_name}'",
                "occurrences must be [min, max] with 0 <= min <= max, max > 0 (or UNBOUNDED)",
                value=definition.get("occurrences"),
                rule="occurrences",
            )
            continue
        low, high, declared = bounds
        given = counts.get(req_name, [])
        relationship = definition.get("relationship") if isinstance(definition, dict) else None
        if isinstance(relationship, dict):
            relationship = relationship.get("type")
        hosted = registry.is_a("relationship_types", relationship, "tosca.relationships.HostedOn") or (
            req_name == "host" and relationship is None
        )
        if not declared and hosted:
            high = 1
        shown = f"[{low}, {'UNBOUNDED' if high == float('inf') else int(high)}]"
        origin = "" if declared else " (no occurrences declared: TOSCA's default)"
        if len(given) > high:
            sink.error(
                file,
                given[int(high)].pos,
                subject,
                f"is given {len(given)} times; {type_name} allows {shown}{origin}",
                rule="occurrences",
            )
        elif len(given) < low:
            # tosca-parser refuses a missing requirement whatever declared it; a declared minimum
            # is an error here, TOSCA's default a warning (the planner leaves such a node unhosted).
            report = sink.error if declared else sink.warn
            report(
                file,
                position(node, "requirements") if "requirements" in node else position(node),
                subject,
                f"is missing: {type_name} needs it {shown} time(s){origin}",
                rule="occurrences",
            )


def _check_cycles(analysis: Analysis) -> None:
    graph = {name: [r.target for r in reqs if r.target] for name, reqs in analysis.requirements.items()}
    state: dict = {}
    reported: set = set()
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(graph.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                cycle = [*path[path.index(child) :], child]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    req = next(r for r in analysis.requirements[node] if r.target == child)
                    analysis.sink.error(
                        analysis.file,
                        req.pos,
                        f"node '{cycle[0]}'",
                        "requirement cycle: " + " -> ".join(cycle),
                        rule="cycle",
                    )
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.get(child, ()))))


# -- functions --------------------------------------------------------------------------
def check_functions(analysis, value, where: Where, node_name: str | None, container=None, key=None) -> None:
    """Check the syntax and references of every intrinsic function inside `value`."""
    if is_function(value):
        name, args = next(iter(value.items()))
        pos = position(value, name)
        sub = Where(where.file, pos if pos != (0, 0) else where.pos, where.subject)
        _check_function(analysis, name, args, sub, node_name)
        if isinstance(args, list):
            for item in args:
                check_functions(analysis, item, sub, node_name)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            pos = position(value, k)
            check_functions(
                analysis, v, Where(where.file, pos if pos != (0, 0) else where.pos, where.subject), node_name
            )
    elif isinstance(value, list):
        for v in value:
            check_functions(analysis, v, where, node_name)


def _bad(analysis, where, fname, args, message):
    analysis.sink.error(
        where.file, where.pos, where.subject, f"{fname}: {message}", value={fname: args}, rule=fname
    )


def _check_function(analysis, fname, args, where, node_name) -> None:
    nodes = analysis.template.node_templates
    if fname == "get_input":
        name = args[0] if isinstance(args, list) and args else args
        if not isinstance(name, str):
            _bad(analysis, where, fname, args, "expects an input name")
        elif name not in analysis.template.inputs:
            known = ", ".join(sorted(analysis.template.inputs)) or "none"
            _bad(analysis, where, fname, args, f"input '{name}' is not declared (declared inputs: {known})")
        return
    if fname in ("get_property", "get_attribute"):
        if not isinstance(args, list) or len(args) < 2 or not all(isinstance(a, str | int) for a in args):
            _bad(analysis, where, fname, args, "expects [ENTITY, (capability or requirement,) NAME, ...]")
            return
        entity = args[0]
        if entity in MODELABLE_ENTITIES:
            if (
                entity in ("SOURCE", "TARGET")
                and node_name is not None
                and where.subject.startswith("output")
            ):
                _bad(analysis, where, fname, args, f"{entity} is only meaningful inside a relationship")
            target = _entity_node(analysis, entity, node_name)
            if target is None:
                return
        elif entity not in nodes:
            known = ", ".join(sorted(nodes))
            _bad(
                analysis,
                where,
                fname,
                args,
                f"node template '{entity}' does not exist (node templates: {known})",
            )
            return
        else:
            target = entity
        if fname == "get_property":
            _check_property_path(analysis, where, fname, args, target)
        return
    if fname == "concat":
        if not isinstance(args, list):
            _bad(analysis, where, fname, args, "expects a list of strings or functions")
        return
    if fname == "join":
        if (
            not isinstance(args, list)
            or not 1 <= len(args) <= 2
            or not (isinstance(args[0], list) or is_function(args[0]))
            or (len(args) == 2 and not isinstance(args[1], str))
        ):
            _bad(analysis, where, fname, args, "expects [ [values...], optional delimiter ]")
        return
    if fname == "token":
        if (
            not isinstance(args, list)
            or len(args) != 3
            or not (isinstance(args[0], str) or is_function(args[0]))
            or not isinstance(args[1], str)
            or isinstance(args[2], bool)
            or not isinstance(args[2], int)
        ):
            _bad(analysis, where, fname, args, "expects [string, delimiters, index]")
        return
    if fname not in FUNCTIONS:  # pragma: no cover - callers only pass known names
        _bad(analysis, where, fname, args, "unknown function")


def _entity_node(analysis, entity, node_name):
    if node_name is None:
        return None
    if entity == "SELF":
        return node_name
    if entity == "HOST":
        return host_of(analysis, node_name)
    return None  # SOURCE/TARGET: resolved per relationship at plan time


def host_of(analysis, node_name):
    """The node this one is HostedOn (following one hop), or None."""
    registry = analysis.template.registry
    for req in analysis.requirements.get(node_name, []):
        if (
            req.target
            and req.relationship
            and registry.is_a("relationship_types", req.relationship, "tosca.relationships.HostedOn")
        ):
            return req.target
    return None


def _check_property_path(analysis, where, fname, args, target) -> None:
    registry = analysis.template.registry
    node = analysis.template.node_templates.get(target)
    if not isinstance(node, dict) or registry.get("node_types", node.get("type")) is None:
        return
    type_name = node.get("type")
    name = args[1]
    props = registry.merged("node_types", type_name, "properties")
    if name in props:
        return
    caps = registry.merged("node_types", type_name, "capabilities")
    reqs = {n for n, _d, _f in registry.requirements(type_name)}
    if name in caps:
        if len(args) < 3:
            _bad(analysis, where, fname, args, f"capability '{name}' needs a property name")
            return
        cap_def = caps[name][0]
        cap_type = cap_def.get("type") if isinstance(cap_def, dict) else cap_def
        if args[2] not in registry.merged("capability_types", cap_type, "properties"):
            _bad(
                analysis, where, fname, args, f"capability '{name}' of '{target}' has no property '{args[2]}'"
            )
        return
    if name in reqs:
        return
    _bad(analysis, where, fname, args, f"'{target}' ({type_name}) has no property or capability '{name}'")


# -- outputs and policies -----------------------------------------------------------------
def _check_outputs(analysis: Analysis) -> None:
    outputs = analysis.template.outputs
    for name, output in outputs.items():
        subject = f"output '{name}'"
        if not isinstance(output, dict) or "value" not in output:
            analysis.sink.error(
                analysis.file, position(outputs, name), subject, "needs a 'value'", rule="structure"
            )
            continue
        check_functions(
            analysis, output["value"], Where(analysis.file, position(output, "value"), subject), None
        )


# Placement properties site selection reads (infn_cloud/federation/selection.py, via the plan's
# `placement`, per target node); any other is kept in the analysis and warned about.
PLACEMENT_USED = ("sites", "site", "regions", "region", "required")
_PLACEMENT_UNUSED = {
    "sla_id": "it is kept per node in the plan, but site selection ranks the registry's sites by "
    "their SLA priority and matches no SLA id",
    "availability_zone": "site selection picks a site and region; nodes are not placed in an "
    "availability zone",
}


def _check_policies(analysis: Analysis) -> None:
    registry = analysis.template.registry
    nodes = analysis.template.node_templates
    groups = analysis.template.section("groups")
    placements = []
    for entry in analysis.template.policies:
        if not isinstance(entry, dict) or len(entry) != 1:
            analysis.sink.error(
                analysis.file, position(entry), "policy", "must be a single-key map", rule="structure"
            )
            continue
        name, policy = next(iter(entry.items()))
        subject = f"policy '{name}'"
        pos = position(entry, name)
        if not isinstance(policy, dict):
            analysis.sink.error(analysis.file, pos, subject, "must be a map", rule="structure")
            continue
        type_name = registry.resolve_name("policy_types", policy.get("type"))
        if type_name is None:
            analysis.sink.error(
                analysis.file,
                pos,
                subject,
                f"unknown policy type '{yaml_text(policy.get('type'))}'",
                rule="type",
            )
        targets = policy.get("targets")
        if targets is not None and not (
            isinstance(targets, list) and all(isinstance(t, str) for t in targets)
        ):
            analysis.sink.error(
                analysis.file,
                position(policy, "targets"),
                subject,
                "targets must be a list of node template or group names",
                value=targets,
                rule="structure",
            )
            targets = []
        for target in targets or []:
            if target not in nodes and target not in groups:
                analysis.sink.error(
                    analysis.file,
                    pos,
                    subject,
                    f"targets missing node template '{target}'",
                    rule="dangling requirement",
                )
        properties = policy.get("properties")
        if properties is not None and not isinstance(properties, dict):
            analysis.sink.error(
                analysis.file,
                position(policy, "properties"),
                subject,
                "properties must be a map",
                rule="structure",
            )
            properties = {}
        placement = bool(type_name) and registry.is_a("policy_types", type_name, "tosca.policies.Placement")
        kept = {
            "name": name,
            "type": type_name or policy.get("type"),
            "placement": placement,
            "targets": list(targets or []),
            "properties": to_plain(dict(properties or {})),
        }
        if properties:
            check_functions(
                analysis, properties, Where(analysis.file, position(policy, "properties"), subject), None
            )
        analysis.policies.append(kept)
        if placement:
            placements.append((kept, policy, pos))
    _warn_placement(analysis, placements)


def _placed_nodes(analysis: Analysis, targets: list) -> set:
    """The node templates a policy's targets place: the targets, group members, and their hosts."""
    groups = analysis.template.section("groups")
    pending = []
    for target in targets:
        group = groups.get(target)
        members = group.get("members") if isinstance(group, dict) else None
        if isinstance(members, list):
            pending.extend(m for m in members if isinstance(m, str))
        pending.append(target)
    placed: set = set()
    while pending:
        name = pending.pop()
        if name in placed:
            continue
        placed.add(name)
        host = host_of(analysis, name)
        if host:
            pending.append(host)
    return placed


def _warn_placement(analysis: Analysis, placements: list) -> None:
    """Say what site selection does not use: it reads only the sites/regions properties, each
    compute node gets the policies targeting it (else the ones without targets), and several
    policies on one node are merged."""
    registry = analysis.template.registry
    computes = sorted(
        name
        for name, body in analysis.template.node_templates.items()
        if isinstance(body, dict) and registry.is_a("node_types", body.get("type"), "tosca.nodes.Compute")
    )
    placing: dict[str, list] = {c: [] for c in computes}
    for kept, policy, pos in placements:
        subject = f"policy '{kept['name']}'"
        properties = policy.get("properties") if isinstance(policy.get("properties"), dict) else {}
        for key in properties:
            if key in PLACEMENT_USED:
                continue
            why = _PLACEMENT_UNUSED.get(key, "site selection reads only sites and regions")
            analysis.sink.warn(
                analysis.file,
                position(properties, key),
                f"{subject} property '{key}'",
                f"is kept in the analysis but not used: {why}",
                value=properties[key],
                rule="placement",
            )
        if not any(properties.get(k) for k in ("sites", "site", "regions", "region")):
            continue  # places nothing: never merged with another
        covered = _placed_nodes(analysis, kept["targets"]) if kept["targets"] else None
        for compute in computes:
            if covered is None or compute in covered:
                placing[compute].append((kept, pos, covered is None))
    for compute, found in placing.items():
        targeted = [item for item in found if not item[2]] or found
        if len(targeted) > 1:
            names = ", ".join(f"'{kept['name']}'" for kept, _pos, _general in targeted)
            analysis.sink.warn(
                analysis.file,
                targeted[1][1],
                "policies",
                f"{len(targeted)} placement policies ({names}) place node '{compute}': they are "
                "merged, it goes to a site allowed by any of them",
                rule="placement",
            )
