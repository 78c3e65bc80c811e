"""The template-to-role contract, checked when a plan is made (docs/tosca.md "Role variables from templates").

Every software entry of a plan names a role and the variables the template gives it. Ansible
checks them against the role's ``meta/argument_specs.yml`` only when the role starts, after the
VMs were created. ``check`` runs the same validation at plan time, with Ansible's own
``ArgumentSpecValidator`` on the entry's variables merged with the role's ``defaults/main.yml``,
and refuses (exit 2) with one line per problem naming the template node, the TOSCA property or
input the variable came from, the role option and what the role accepts:

1. Names: Ansible's reserved and connection names (``ansible_*``, magic variables, play keywords)
   and our ``infn_cloud_*`` internals are refused for any role; an ``infn.cloud.*`` role only
   accepts the options its argument spec declares, and only roles of this collection run.
2. Types and choices: as Ansible checks them. Values known only after provisioning
   (get_attribute and functions over it) become a typed placeholder: their presence counts,
   their type and format are checked by Ansible at run time. Secrets generated at deploy time
   are planned with a value generated now from the input's constraints (so the generator is
   checked too). Role defaults that are Jinja expressions count as set.
3. Conditional requirements: a role may declare an option ``<role>_requirements`` (a dict,
   filled by the role in vars/main.yml with its options that are set) whose ``required_if``,
   ``required_one_of``, ``required_together``, ``mutually_exclusive``, ``required_by`` and
   ``required`` sub-options say which options need which. Ansible's argument validation
   enforces them when the role starts; here they are read from the same file and evaluated on
   the same view: an option is set when its value is not empty (null, "", [], {}, false, 0 are
   unset, as in Jinja).
4. Formats of values that end up in files (authorized_keys, sudoers, sshd, HTCondor, nginx,
   compose ``.env``, systemd units): one SSH key per entry, no newline, allowed characters.
5. Paths: options of type ``path`` name files on the managed node: absolute, without ``..`` or
   ``~``. Options the role uses on the controller (``CONTROLLER_OPTIONS``) cannot be set by a
   template at all.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import yaml

from infn_cloud.errors import ValidationError
from infn_cloud.paths import collection_root, display_path
from infn_cloud.tosca import roles
from infn_cloud.tosca.model import Collector
from infn_cloud.tosca.values import FUNCTIONS, contains_function, is_function, to_plain


def _roles_dir() -> Path:
    """The collection's roles/ (a checkout's, the wheel's or an installed one: infn_cloud.paths)."""
    return collection_root() / "roles"


ROLE_NAME = re.compile(r"^infn\.cloud\.([a-z][a-z0-9_]*)$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIX = re.compile(r"^(ansible_|infn_cloud_)", re.IGNORECASE)
# Magic variables and play/task keywords a variable must not shadow (same list as
# playbooks/tasks/apply_entry.yml, which checks again at run time).
RESERVED_NAMES = frozenset(
    """hostvars groups group_names inventory_hostname inventory_hostname_short inventory_dir
    inventory_file play_hosts playbook_dir role_path role_name role_names omit environment vars
    item become become_user become_method become_flags connection remote_user port delegate_to
    delegate_facts gather_facts tags when no_log run_once any_errors_fatal ignore_errors
    ignore_unreachable check_mode diff module_defaults collections hosts serial strategy throttle
    timeout local_action lookup query q undef now""".split()
)
# Options a role reads or writes on the controller: never from a template.
CONTROLLER_OPTIONS = frozenset({"object_storage_ring_fetch_dir"})
PLACEHOLDER = "<known after provisioning>"

_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [\x20-\x7e]*)?$"
)
_HOST = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?"
_URL = re.compile(r"^https?://[^\s/?#@]+(/[\x21-\x7e]*)?$")
# (regex, what is expected) per role option, or per "option[].sub-option" of list entries.
FORMATS: dict = {
    "common_users[].os_user_ssh_public_key": (
        _SSH_KEY,
        "one OpenSSH public key on one line: '<type> <base64> [comment]' (no options, no newline)",
    ),
    "common_users[].os_user_name": (
        re.compile(r"^[a-z_][a-z0-9_-]{0,31}$"),
        "a user name [a-z_][a-z0-9_-]{0,31}",
    ),
    "common_hostname": (re.compile(rf"^{_HOST}$"), "a host name (letters, digits, '-' and '.')"),
    "common_timezone": (re.compile(r"^[A-Za-z0-9_+/-]{1,64}$"), "a tz database name such as Europe/Rome"),
    "common_ntp_servers[]": (re.compile(rf"^{_HOST}$"), "a host name or address"),
    "common_ca_certificates[]": (
        re.compile(
            r"^\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$"
        ),
        "PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) only",
    ),
    "jupyterhub_iam_url": (_URL, "an http:// or https:// URL"),
    "jupyterhub_domain": (re.compile(rf"^{_HOST}$"), "a host name or address (nginx/proxy server name)"),
    "jupyterhub_iam_groups[]": (re.compile(r"^[^\s\"'\\]{1,256}$"), "a group name without spaces or quotes"),
    "jupyterhub_iam_admin_groups[]": (
        re.compile(r"^[^\s\"'\\]{1,256}$"),
        "a group name without spaces or quotes",
    ),
    "jupyterhub_admin_users[]": (re.compile(r"^[A-Za-z0-9_.@-]{1,128}$"), "a user name"),
    "jupyterhub_spawner_mem_limit": (
        re.compile(r"^([0-9]+[KMGT]?)?$"),
        "a size such as 4G (systemd/docker limit)",
    ),
    "sync_share_s3_endpoint": (_URL, "an http:// or https:// URL"),
    "sync_share_iam_url": (_URL, "an http:// or https:// URL"),
    "sync_share_hostname": (re.compile(rf"^{_HOST}$"), "a host name (nginx server_name)"),
    "sync_share_s3_bucket": (re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"), "an S3 bucket name"),
    "sync_share_max_upload_size": (re.compile(r"^[0-9]+[kKmMgG]?$"), "an nginx size such as 16G"),
    "htcondor_central_manager": (re.compile(rf"^{_HOST}$"), "a host name or address"),
    "htcondor_iam_server": (_URL, "an http:// or https:// URL"),
    "htcondor_pool_name": (re.compile(r"^[A-Za-z0-9_.-]{1,64}$"), "letters, digits, '_', '.', '-'"),
    "docker_compose_file_url": (_URL, "an http:// or https:// URL"),
    "docker_compose_env{}": (re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"), "an environment variable name"),
    "kubernetes_control_plane_address": (re.compile(rf"^{_HOST}$"), "a host name or address"),
}
# String options whose value may span lines (PEM bundles, file contents).
MULTILINE = frozenset({"common_ca_certificates", "docker_compose_file_content"})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class _Placeholder(str):
    """A value known only after provisioning (stands for any valid value of its option)."""


# -- role files --------------------------------------------------------------------------
@functools.cache
def role_spec(name: str) -> tuple[dict, dict]:
    """(options of the main entry point, defaults/main.yml) of roles/<name>; ({}, {}) if absent."""
    role = _roles_dir() / name
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.is_file():
        return {}, {}
    data = yaml.safe_load(specs_file.read_text(encoding="utf-8")) or {}
    options = (((data.get("argument_specs") or {}).get("main")) or {}).get("options") or {}
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8")) if defaults_file.is_file() else {}
    return options, defaults or {}


def requirements_option(role: str) -> str:
    return f"{role}_requirements"


def requirement_view(spec: dict, params: dict) -> dict:
    """The options named by a requirements sub-spec that are set (non-empty), as the role computes it."""
    return {key: params[key] for key in spec.get("options") or {} if params.get(key)}


# -- the check ---------------------------------------------------------------------------
def check(analysis, plan: dict) -> None:
    """Refuse (ValidationError, exit 2) a plan whose role variables do not fit their roles.

    Also records in ``plan['secret_constraints']`` the constraints of each secret to generate.
    """
    sink = Collector()
    template = analysis.template
    constraints = _secret_constraints(analysis, plan)
    if constraints:
        plan["secret_constraints"] = constraints
    checked = plan
    if plan.get("secrets_to_generate"):
        checked = _plan_with_generated_secrets(analysis, plan, sink)
    if checked is not None:
        for entry in checked.get("software") or []:
            _check_entry(analysis, entry, sink)
    if sink.errors:
        raise ValidationError(
            f"{display_path(template.path)}: the plan does not fit its roles ({len(sink.errors)} problem(s))",
            details=[p.format() for p in sink.errors],
        )


def _secret_constraints(analysis, plan) -> dict:
    declared = {e["name"]: e for e in analysis.declared_inputs}
    result = {}
    for name in plan.get("secrets_to_generate") or []:
        cons = to_plain(declared.get(name, {}).get("constraints") or [])
        if cons:
            result[name] = cons
    return result


def _plan_with_generated_secrets(analysis, plan, sink):
    """The plan again with a value generated now for each secret to generate, or None."""
    from infn_cloud.secrets.generate import CannotGenerate, generate_for
    from infn_cloud.tosca.planner import plan_from_analysis
    from infn_cloud.tosca.validate import analyse
    from infn_cloud.tosca.yamlio import Mapping

    template = analysis.template
    inputs = Mapping({k: v for k, v in to_plain(analysis.input_values).items() if v is not None})
    failed = False
    for name in plan["secrets_to_generate"]:
        try:
            inputs[name] = generate_for((plan.get("secret_constraints") or {}).get(name))
        except CannotGenerate as exc:
            failed = True
            sink.error(
                template.path,
                template.inputs.pos(name) if hasattr(template.inputs, "pos") else (0, 0),
                f"input '{name}'",
                f"is a secret generated at deploy time, but the generator cannot satisfy it: {exc}",
                rule="generated secret",
            )
    if failed:
        return None
    again = analyse(template, Collector(), inputs, True)
    if again.sink.errors:
        for problem in again.sink.errors:
            sink.error(
                problem.file,
                (problem.line, problem.column),
                problem.subject,
                f"with a generated secret: {problem.message}",
                rule="generated secret",
            )
        return None
    return plan_from_analysis(again)


def _check_entry(analysis, entry: dict, sink: Collector) -> None:
    template = analysis.template
    node = entry.get("node")
    pos = template.node_templates.pos(node) if hasattr(template.node_templates, "pos") else (0, 0)
    variables = entry.get("vars") or {}
    role = entry.get("role")
    sources = _sources(analysis, entry)

    def error(option, message, rule):
        names = option if isinstance(option, list) else [option]
        base = [
            n.split("[")[0].split("{")[0].split(".")[0] for n in names
        ]  # common_users[].x -> common_users
        origin = next((sources[b][0] for b in base if b in sources), node)
        described = [
            f"'{n}'" + (f" (from {sources[b][1]})" if b in sources else "")
            for n, b in zip(names, base, strict=True)
        ]
        subject = f"node '{origin}' role option{'s' if len(names) > 1 else ''} {', '.join(described)}"
        where = template.node_templates.pos(origin) if hasattr(template.node_templates, "pos") else pos
        sink.error(template.path, where, subject, message, rule=rule)

    for key in variables:
        if not isinstance(key, str) or not VAR_NAME.match(key):
            error(key, "is not a variable name: use letters, digits and '_' ([A-Za-z_][A-Za-z0-9_]*)", "name")
        elif RESERVED_PREFIX.match(key) or key in RESERVED_NAMES:
            error(
                key,
                "is reserved: a template may not set Ansible's connection and magic variables "
                "(ansible_*, hostvars, inventory_hostname, group_names, play_hosts, omit, environment, "
                "play keywords) nor infn_cloud_* internals; set the role's own options instead",
                "reserved name",
            )
    if role is None:
        return
    match = ROLE_NAME.match(role) if isinstance(role, str) else None
    options, defaults = role_spec(match.group(1)) if match else ({}, {})
    if not match or not (_roles_dir() / match.group(1) / "tasks").is_dir():
        known = ", ".join(sorted(p.name for p in _roles_dir().iterdir() if (p / "tasks").is_dir()))
        sink.error(
            template.path,
            pos,
            f"node '{node}' implementation '{role}'",
            f"is not a role of this collection (known: {known})",
            rule="role",
        )
        return
    name = match.group(1)
    view_name = requirements_option(name)
    params: dict = {}
    for key, value in variables.items():
        if (
            not isinstance(key, str)
            or not VAR_NAME.match(key)
            or RESERVED_PREFIX.match(key)
            or key in RESERVED_NAMES
        ):
            continue
        if key not in options or key == view_name:
            error(
                key,
                f"is not an option of {role} (see `ansible-doc -t role {role}` for its options)",
                "option",
            )
            continue
        if key in CONTROLLER_OPTIONS:
            error(
                key, f"is used by {role} on the controller and cannot be set by a template", "controller path"
            )
            continue
        if value is None:  # a TOSCA property left unset: the role default applies (apply_entry.yml)
            continue
        params[key] = _with_placeholders(value, options[key])
    for key, value in defaults.items():
        if key in options and key not in params:
            params[key] = _Placeholder(value) if _is_jinja(value) else value
    spec = copy.deepcopy(options)
    for key, value in params.items():
        if isinstance(value, _Placeholder) and key in spec:
            # Known at run time only: its presence counts, Ansible checks its type then.
            spec[key] = {k: v for k, v in spec[key].items() if k in ("required", "no_log")} | {"type": "raw"}
    view_spec = options.get(view_name)
    if isinstance(view_spec, dict):
        params[view_name] = requirement_view(view_spec, params)
    _validate(role, spec, params, view_name, error)
    _check_formats(role, options, params, error)


def _validate(role, spec, params, view_name, error) -> None:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    messages, hidden = _errors(ArgumentSpecValidator(spec).validate(params))
    view = spec.get(view_name)
    if isinstance(view, dict) and any(view_name in m for m in messages):
        # Ansible stops at the first broken rule of a kind; check each rule alone to list them all.
        messages = [m for m in messages if view_name not in m]
        for rules in _single_rules(view):
            single = {view_name: {**{k: v for k, v in view.items() if k not in _RULE_KEYS}, **rules}}
            found, more = _errors(
                ArgumentSpecValidator(single).validate({view_name: params.get(view_name, {})})
            )
            hidden |= more
            messages += [m for m in found if m not in messages]
    for message in messages:
        for value in sorted(hidden, key=len, reverse=True):
            message = message.replace(value, "********")
        if view_name in message:
            message = message.replace(f" found in {view_name}", "")
            missing = re.search(r"(?:missing|arguments|required by '[^']+'): (.+)$", message)
            exclusive = re.search(r"mutually exclusive: (.+)$", message)
            names = [n.strip() for n in missing.group(1).split(",")] if missing else []
            names += [n.strip() for n in exclusive.group(1).split("|")] if exclusive else []
            names = [n for n in names if n in spec] or [view_name]
            what = "refuses these together" if exclusive else "needs a value (not empty)"
            error(names, f"{role} {what}: {message} (meta/argument_specs.yml)", "requirement")
            continue
        names = sorted(
            (k for k in spec if k != view_name and re.search(rf"\b{re.escape(k)}\b", message)), key=len
        )
        error(names[-1] if names else view_name, f"{role} refuses it: {message}", "argument_specs")


_RULE_KEYS = ("required_if", "required_one_of", "required_together", "mutually_exclusive", "required_by")


def _single_rules(view: dict):
    for key in _RULE_KEYS:
        rules = view.get(key)
        if isinstance(rules, dict):  # required_by
            for name, needed in rules.items():
                yield {key: {name: needed}}
        elif isinstance(rules, list):
            for rule in rules:
                yield {key: [rule]}
    options = view.get("options") or {}
    required = [k for k, v in options.items() if isinstance(v, dict) and v.get("required")]
    if required:  # the required sub-options, checked with no rule
        yield {}


def _errors(result) -> tuple[list, set]:
    return list(result.error_messages), {str(v) for v in result._no_log_values if str(v)}


def _check_formats(role, options, params, error) -> None:
    for key, value in params.items():
        if key not in options or isinstance(value, _Placeholder) or key.endswith("_requirements"):
            continue
        option = options[key]
        kind = option.get("type", "str")
        if kind == "path" and isinstance(value, str) and value:
            parts = value.split("/")
            if not value.startswith("/") or ".." in parts or _CONTROL.search(value):
                error(
                    key,
                    f"value {value!r} is not accepted: a path option of {role} names a file on the managed "
                    "node and must be absolute, without '..', '~' or control characters",
                    "path",
                )
                continue
        for label, item in _leaves(key, value):
            if isinstance(item, _Placeholder) or not isinstance(item, str):
                continue
            if key not in MULTILINE and _CONTROL.search(item):
                error(
                    label,
                    "holds a newline or another control character: it ends up in a configuration file "
                    "where that starts a new entry; give a single line",
                    "format",
                )
                continue
            rule = FORMATS.get(label)
            if rule and item and not rule[0].match(item):
                if option.get("no_log") or "@" in item:  # a secret, or credentials in a URL
                    error(label, f"its value is not {rule[1]}", "format")
                else:
                    shown = item if len(item) <= 60 else item[:57] + "..."
                    error(label, f"value {shown!r} is not {rule[1]}", "format")


def _leaves(key, value):
    """(format label, value) for a value and the entries of its lists and maps."""
    yield key, value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                for sub, subvalue in item.items():
                    yield f"{key}[].{sub}", subvalue
            else:
                yield f"{key}[]", item
    elif isinstance(value, dict):
        for sub, subvalue in value.items():
            yield f"{key}{{}}", sub
            if isinstance(subvalue, str):
                yield f"{key}.{sub}", subvalue


# -- placeholders and provenance ---------------------------------------------------------
def _with_placeholders(value, option: dict):
    if is_function(value) or (
        isinstance(value, dict) and any(k in FUNCTIONS for k in value) and len(value) == 1
    ):
        return _Placeholder(PLACEHOLDER)
    if isinstance(value, list):
        return [_with_placeholders(v, {}) for v in value]
    if isinstance(value, dict) and contains_function(value):
        return {k: _with_placeholders(v, {}) for k, v in value.items()}
    return value


def _is_jinja(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _sources(analysis, entry) -> dict:
    """Role option -> (node, 'property P, input I') for the variables of an entry."""
    from infn_cloud.tosca.planner import _implementation

    template = analysis.template
    nodes = template.node_templates
    result: dict = {}
    merged = entry.get("merged_nodes", [])
    # Variables of merged nodes win over the host's own (planner._merge_common), so look there first.
    for node in [*merged, entry.get("node")]:
        body = nodes.get(node) if isinstance(node, str) else None
        if not isinstance(body, dict):
            continue
        props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
        type_name = body.get("type")
        if entry.get("role") == "infn.cloud.common" and node == (entry.get("hosts") or [None])[0]:
            prop = "os_users" if "os_users" in props else "users"
            result.setdefault("common_users", (node, _describe(prop, props.get(prop))))
        registry = template.registry
        _op, _impl, op_inputs = _implementation(registry, type_name, body)
        for key, raw in (op_inputs or {}).items():
            prop = _property_of(raw)
            text = _describe(prop, props.get(prop)) if prop else f"an operation input of type '{type_name}'"
            result.setdefault(key, (node, text))
        if roles.infn_role(registry, type_name) is not None:
            for key, prop in roles.INFN_SOURCES.items():
                result.setdefault(key, (node, _describe(prop, props.get(prop))))
    return result


def _property_of(raw):
    if is_function(raw) and "get_property" in raw:
        args = raw["get_property"]
        if isinstance(args, list) and len(args) >= 2 and args[0] == "SELF" and isinstance(args[1], str):
            return args[1]
    return None


def _describe(prop, raw) -> str:
    text = f"property '{prop}'"
    if is_function(raw) and "get_input" in raw:
        name = raw["get_input"]
        name = name[0] if isinstance(name, list) and name else name
        text += f", input '{name}'"
    return text
