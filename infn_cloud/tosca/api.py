"""Entry points of the TOSCA engine."""

from __future__ import annotations

from infn_cloud.errors import ValidationError
from infn_cloud.paths import display_path
from infn_cloud.tosca import catalogue
from infn_cloud.tosca.loader import Template, load
from infn_cloud.tosca.model import Collector, ValidationReport
from infn_cloud.tosca.validate import Analysis, analyse
from infn_cloud.tosca.values import reset_pattern_budget
from infn_cloud.tosca.yamlio import MAX_DEPTH, Mapping, too_deep


def _as_inputs(inputs) -> Mapping:
    if inputs is None:
        return Mapping()
    if too_deep(inputs):  # files are bounded when read; Python/Ansible data is checked here
        raise ValidationError(
            f"inputs: maps and lists are nested more than {MAX_DEPTH} levels deep; "
            f"at most {MAX_DEPTH} are allowed"
        )
    if isinstance(inputs, Mapping):
        return inputs
    if not isinstance(inputs, dict):
        raise ValidationError(f"inputs must be a map of input name to value, got {type(inputs).__name__}")
    return Mapping(inputs)


def load_template(path, import_map=None) -> Template:
    """Load a template (path or catalogue name) with its imports; raise ValidationError if unreadable."""
    sink = Collector()
    template = load(catalogue.resolve(path), import_map, sink)
    if sink.errors or template is None:
        raise ValidationError(
            f"template {path} cannot be loaded ({len(sink.errors)} problem(s))",
            details=[p.format() for p in sink.errors],
        )
    return template


def _analyse(path, inputs, import_map, require_inputs) -> tuple[Analysis | None, Collector, str]:
    reset_pattern_budget()  # slow `pattern` constraints: a time budget per analysis
    resolved = catalogue.resolve(path)
    sink = Collector()
    template = load(resolved, import_map, sink)
    if template is None:
        return None, sink, str(resolved)
    given = _as_inputs(inputs)
    analysis = analyse(template, sink, given, require_inputs)
    _hide_secrets(analysis, sink, given)
    return analysis, sink, str(resolved)


def _hide_secrets(analysis: Analysis, sink: Collector, given) -> None:
    """A problem about a secret input (a password too short, a token not matching its pattern)
    names the input, never its value."""
    from dataclasses import replace

    from infn_cloud.deploy.redaction import Redactor
    from infn_cloud.tosca.secret_values import of_inputs

    secrets = of_inputs(analysis, given)
    values = Redactor(secrets)
    if not values:
        return
    # Messages are mostly the rules' own words: only values long enough not to be words are
    # searched there (a default "password" must not turn "--set admin_password=" into a marker).
    words = Redactor({k: v for k, v in secrets.items() if len(v) >= 8})
    for problems in (sink.errors, sink.warnings):
        problems[:] = [replace(p, value=values(p.value), message=words.text(p.message)) for p in problems]


def validate(path, inputs=None, import_map=None, require_inputs=False) -> ValidationReport:
    """Validate a template (and inputs, if given); collect every problem into a report."""
    analysis, sink, resolved = _analyse(path, inputs, import_map, require_inputs)
    report = ValidationReport(template=resolved, errors=list(sink.errors), warnings=list(sink.warnings))
    if analysis is not None:
        # Secret defaults are shown as markers, like every secret value the CLI prints.
        from infn_cloud.deploy.redaction import redact
        from infn_cloud.tosca.secret_values import of_inputs

        secrets = of_inputs(analysis, _as_inputs(inputs))
        report.inputs = [
            {**entry, "default": redact(entry.get("default"), secrets)}
            for entry in map(_input_entry, analysis.declared_inputs)
        ]
        report.required_inputs = [_input_entry(e) for e in analysis.missing_inputs]
    return report


def _input_entry(entry: dict) -> dict:
    from infn_cloud.tosca.values import to_plain

    return {key: to_plain(value) for key, value in entry.items()}


def make_plan(path, inputs=None, import_map=None) -> dict:
    """Validate with inputs (required inputs must be set) and return the deployment plan."""
    from infn_cloud.tosca.planner import plan_from_analysis

    analysis, sink, resolved = _analyse(path, inputs, import_map, True)
    if sink.errors or analysis is None:
        raise ValidationError(
            f"{display_path(resolved)} is not valid: {len(sink.errors)} problem(s)",
            details=[p.format() for p in sink.errors],
        )
    plan = plan_from_analysis(analysis)
    from infn_cloud.tosca import contract

    contract.check(analysis, plan)  # role variables against the roles' argument specs (exit 2)
    from infn_cloud.tosca.ports import check_plan_ports

    check_plan_ports(plan, display_path(resolved))  # ports the drivers will open (exit 2)
    return plan
