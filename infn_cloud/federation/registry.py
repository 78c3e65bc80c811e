"""Site registry: a directory of YAML files describing the sites of a federation.

Layout::

    <registry>/federation.yml      # name, description, default_group, defaults (merged into sites)
    <registry>/sites/<SITE>.yml    # one site each; the file name must equal the site's `name`

Every file is validated against the schema below; all problems are reported together, each
naming the file and the key path (``sites/A.yml: flavors[2].ram_mb: expected integer, got
'lots'``), as a ValidationError.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infn_cloud.errors import NotFoundError, ValidationError
from infn_cloud.tosca.yamlio import YamlSyntaxError, load_text, read_text

KINDS = ("backbone", "federated", "local")
DRIVERS = ("openstack", "local")
QUOTA_KEYS = ("instances", "cores", "ram_mb", "volumes", "volume_gb", "public_ips")


# --------------------------------------------------------------------------------------------
# A small declarative schema: enough to give precise messages without a jsonschema dependency.
# --------------------------------------------------------------------------------------------
class _S:
    """Schema node. kind: str|int|bool|enum|list|map|obj; nullable allows None."""

    def __init__(
        self,
        kind,
        *,
        choices=None,
        item=None,
        fields=None,
        required=(),
        minimum=None,
        nullable=False,
        non_empty=False,
    ):
        self.kind = kind
        self.choices = choices
        self.item = item
        self.fields = fields or {}
        self.required = tuple(required)
        self.minimum = minimum
        self.nullable = nullable
        self.non_empty = non_empty


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


# The Python type a value of each kind has (an int is not a bool; enum and any: no type).
_PY_TYPES = {"str": str, "int": int, "bool": bool, "list": list, "map": dict, "obj": dict}


def _check(schema: _S, value: Any, path: str, errors: list[str]) -> None:
    where = path or "(top level)"
    if value is None:
        if not schema.nullable:
            errors.append(f"{where}: expected {_expected(schema)}, got nothing (null)")
        return
    kind = schema.kind
    if kind == "any":
        return
    if kind == "enum":
        wrong = value not in schema.choices
    else:
        wrong = not isinstance(value, _PY_TYPES[kind]) or (kind == "int" and isinstance(value, bool))
        wrong = wrong or (kind == "str" and schema.non_empty and not value.strip())
    if wrong:
        errors.append(f"{where}: expected {_expected(schema)}, got {_describe(value)}")
        return
    if kind == "int" and schema.minimum is not None and value < schema.minimum:
        errors.append(f"{where}: expected integer >= {schema.minimum}, got {value}")
    if kind in ("list", "map") and schema.non_empty and not value:
        errors.append(f"{where}: expected a non-empty {'list' if kind == 'list' else 'mapping'}")
    if kind == "list":
        for i, item in enumerate(value):
            _check(schema.item, item, f"{path}[{i}]", errors)
    elif kind == "map":
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{where}: keys must be strings, got {_describe(key)}")
                continue
            _check(schema.item, item, f"{path}.{key}" if path else key, errors)
    elif kind == "obj":
        _check_fields(schema, value, path, errors)


def _check_fields(schema: _S, value: dict, path: str, errors: list[str]) -> None:
    """An obj: its required keys are there, every key is a field of the schema and valid."""
    for key in schema.required:
        if key not in value:
            errors.append(f"{path or '(top level)'}: missing required key '{key}'")
    for key, item in value.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in schema.fields:
            known = ", ".join(sorted(schema.fields))
            errors.append(f"{sub}: unknown key (known keys: {known})")
            continue
        _check(schema.fields[key], item, sub, errors)


def _expected(schema: _S) -> str:
    return {
        "str": "a non-empty string" if schema.non_empty else "a string",
        "int": "integer",
        "bool": "true or false",
        "enum": f"one of {', '.join(schema.choices or ())}",
        "list": "a list",
        "map": "a mapping",
        "obj": "a mapping",
        "any": "a value",
    }[schema.kind]


_STR = _S("str", non_empty=True)
_OPT_STR = _S("str", nullable=True)
_COUNT = _S("int", minimum=0)

FLAVOR_SCHEMA = _S(
    "obj",
    required=("name", "vcpus", "ram_mb", "disk_gb"),
    fields={
        "name": _STR,
        "id": _OPT_STR,
        "vcpus": _S("int", minimum=1),
        "ram_mb": _S("int", minimum=1),
        "disk_gb": _COUNT,
        "gpus": _COUNT,
        "gpu_model": _OPT_STR,
    },
)
IMAGE_SCHEMA = _S(
    "obj",
    required=("distribution", "versions", "image"),
    fields={
        "distribution": _STR,
        # Version strings as TOSCA templates write them ("12", "22.04") and code names;
        # "*" matches any version.
        "versions": _S("list", item=_STR, non_empty=True),
        "image": _STR,
        "default": _S("bool"),
        "warning": _OPT_STR,
        "user": _OPT_STR,
    },
)
SITE_SCHEMA = _S(
    "obj",
    required=("name", "kind", "driver", "regions", "identity_providers", "quotas", "flavors", "images"),
    fields={
        "name": _STR,
        "description": _OPT_STR,
        "kind": _S("enum", choices=KINDS),
        "driver": _S("enum", choices=DRIVERS),
        "enabled": _S("bool"),
        "sla_priority": _S("int", minimum=0),
        "cloud": _OPT_STR,
        "regions": _S("list", item=_STR, non_empty=True),
        # identity provider -> user group -> project on this site
        "identity_providers": _S("map", item=_S("map", item=_STR, non_empty=True), non_empty=True),
        "quotas": _S("obj", required=QUOTA_KEYS, fields={k: _COUNT for k in QUOTA_KEYS}),
        "flavors": _S("list", item=FLAVOR_SCHEMA, non_empty=True),
        "images": _S("list", item=IMAGE_SCHEMA, non_empty=True),
        "networks": _S("obj", fields={"public": _OPT_STR, "private": _OPT_STR}),
        "capabilities": _S(
            "obj",
            fields={
                "gpu_models": _S("list", item=_STR),
                "object_storage": _S("bool"),
                "replicated_object_storage": _S("bool"),
                "s3_endpoint": _OPT_STR,
            },
        ),
        "ssh_user": _OPT_STR,
        # openstack driver: the one network SSH (22/tcp) is opened from, e.g. the network
        # infn-cloud/AWX runs in. Required for openstack sites: SSH to the world (0.0.0.0/0)
        # only when written here explicitly. Checked in _semantic_checks.
        "ssh_cidr": _OPT_STR,
        # local driver: podman network name (default infn-cloud-<site in lower case>)
        "network": _OPT_STR,
        # local driver: how Ansible reaches the containers. ssh (default) as on a VM, through
        # the container's address on the site network; podman (podman exec) where that address
        # is not reachable from this machine (rootless podman).
        "connection": _S("enum", choices=("ssh", "podman")),
        # Test hook: the driver refuses to create anything on this site (CLI fallback tests).
        "fail_on_create": _S("bool"),
        # Role variables for every host on this site (e.g. stop a role before a step that needs
        # upstream sources the site cannot reach). Keys: options of the collection's roles
        # (checked in _role_vars_checks); template-given role variables still win.
        "role_vars": _S("map", item=_S("any", nullable=True)),
    },
)
FEDERATION_SCHEMA = _S(
    "obj",
    fields={
        "name": _STR,
        "description": _OPT_STR,
        "default_group": _OPT_STR,
        # The backbone: the sites tightly coupled by a private interconnect, the only ones one
        # deployment may span (site selection places nodes on several of them). Checked in
        # _backbone_checks against the sites.
        "backbone": _S(
            "obj",
            required=("sites",),
            fields={
                "sites": _S("list", item=_STR, non_empty=True),
                "description": _OPT_STR,
                # The interconnect: a private network reachable from every backbone site. Local
                # sites: the podman network joining their containers; OpenStack sites: the name
                # of the routed provider network and its CIDR.
                "network": _OPT_STR,
                "cidr": _OPT_STR,
            },
        ),
        # Any site key; the merged result is validated with each site.
        "defaults": _S("obj", fields=dict(SITE_SCHEMA.fields)),
    },
)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    gpus: int = 0
    gpu_model: str | None = None
    id: str | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "id": self.id,
            "vcpus": self.vcpus,
            "ram_mb": self.ram_mb,
            "disk_gb": self.disk_gb,
            "gpus": self.gpus,
            "gpu_model": self.gpu_model,
        }


@dataclass(frozen=True)
class Image:
    distribution: str
    versions: tuple[str, ...]
    image: str
    default: bool = False
    warning: str | None = None
    user: str | None = None

    def matches(self, distribution: str | None, version: str | None) -> bool:
        if distribution is None:
            return self.default
        if self.distribution.lower() != str(distribution).lower():
            return False
        if version in (None, ""):
            return True
        return "*" in self.versions or str(version).lower() in (v.lower() for v in self.versions)


@dataclass(frozen=True)
class Site:
    name: str
    kind: str
    driver: str
    regions: tuple[str, ...]
    identity_providers: dict[str, dict[str, str]]
    quotas: dict[str, int]
    flavors: tuple[Flavor, ...]
    images: tuple[Image, ...]
    enabled: bool = True
    sla_priority: int = 50
    cloud: str | None = None
    description: str | None = None
    networks: dict[str, str | None] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    ssh_user: str | None = None
    ssh_cidr: str | None = None
    network: str | None = None
    connection: str = "ssh"
    fail_on_create: bool = False
    role_vars: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def gpu_models(self) -> tuple[str, ...]:
        return tuple(self.capabilities.get("gpu_models") or ())

    def project_for(self, group: str) -> tuple[str, str] | None:
        """(identity provider, project) for a user group; `idp:group` selects the provider."""
        idp_wanted, _, bare = group.rpartition(":") if ":" in group else ("", "", group)
        for idp in sorted(self.identity_providers):
            if idp_wanted and idp != idp_wanted:
                continue
            project = self.identity_providers[idp].get(bare)
            if project:
                return idp, project
        return None

    def groups(self) -> list[str]:
        return sorted({g for groups in self.identity_providers.values() for g in groups})

    def image_for(self, distribution: str | None, version: str | None) -> Image | None:
        for image in self.images:
            if image.matches(distribution, version):
                return image
        if distribution is None:  # no OS asked and no default: the first image will do
            return self.images[0] if self.images else None
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "driver": self.driver,
            "enabled": self.enabled,
            "sla_priority": self.sla_priority,
            "cloud": self.cloud,
            "description": self.description,
            "regions": list(self.regions),
            "identity_providers": copy.deepcopy(self.identity_providers),
            "quotas": dict(self.quotas),
            "flavors": [f.to_dict() for f in self.flavors],
            "images": [
                {
                    "distribution": i.distribution,
                    "versions": list(i.versions),
                    "image": i.image,
                    "default": i.default,
                    "warning": i.warning,
                }
                for i in self.images
            ],
            "networks": dict(self.networks),
            "capabilities": copy.deepcopy(self.capabilities),
            "role_vars": copy.deepcopy(self.role_vars),
            "ssh_cidr": self.ssh_cidr,
            "source": self.source,
        }


@dataclass(frozen=True)
class Backbone:
    """The sites one deployment may span and the private network joining them."""

    sites: tuple[str, ...]
    network: str | None = None
    cidr: str | None = None
    description: str | None = None

    def to_dict(self) -> dict:
        return {
            "sites": list(self.sites),
            "network": self.network,
            "cidr": self.cidr,
            "description": self.description,
        }


@dataclass(frozen=True)
class Registry:
    path: str
    name: str
    sites: dict[str, Site]
    default_group: str | None = None
    description: str | None = None
    backbone: Backbone | None = None

    def backbone_sites(self) -> tuple[str, ...]:
        """The sites one deployment may span (none when the registry declares no backbone)."""
        return self.backbone.sites if self.backbone else ()

    def site(self, name: str) -> Site:
        try:
            return self.sites[name]
        except KeyError:
            raise NotFoundError(
                f"site '{name}' is not in the registry {self.path}",
                details=[f"known sites: {', '.join(sorted(self.sites))}"],
            ) from None

    def regions(self) -> set[str]:
        return {r for s in self.sites.values() for r in s.regions}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path, label: str, errors: list[str]) -> Any:
    # Registries are untrusted: read within the YAML limits of infn_cloud.tosca.yamlio (size,
    # nodes, nesting, aliases), which also keeps the recursive checks below safe.
    try:
        return load_text(read_text(path), label, plain=True)
    except OSError as exc:
        errors.append(f"{label}: cannot read: {exc.strerror}")
    except UnicodeDecodeError:
        errors.append(f"{label}: not a UTF-8 text file")
    except YamlSyntaxError as exc:
        errors.append(f"{label}:{exc.line}: {exc.message}" if exc.line else f"{label}: {exc.message}")
    return None


def _label(path: Path) -> str:
    """Path as the user should see it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _build_site(data: dict, source: str) -> Site:
    flavors = tuple(
        Flavor(
            name=f["name"],
            vcpus=f["vcpus"],
            ram_mb=f["ram_mb"],
            disk_gb=f["disk_gb"],
            gpus=f.get("gpus") or 0,
            gpu_model=f.get("gpu_model"),
            id=f.get("id"),
        )
        for f in data["flavors"]
    )
    images = tuple(
        Image(
            distribution=i["distribution"],
            versions=tuple(str(v) for v in i["versions"]),
            image=i["image"],
            default=bool(i.get("default", False)),
            warning=i.get("warning"),
            user=i.get("user"),
        )
        for i in data["images"]
    )
    capabilities = {
        "gpu_models": [],
        "object_storage": False,
        "replicated_object_storage": False,
        "s3_endpoint": None,
        **(data.get("capabilities") or {}),
    }
    return Site(
        name=data["name"],
        kind=data["kind"],
        driver=data["driver"],
        regions=tuple(data["regions"]),
        identity_providers={k: dict(v) for k, v in data["identity_providers"].items()},
        quotas={k: data["quotas"][k] for k in QUOTA_KEYS},
        flavors=flavors,
        images=images,
        enabled=data.get("enabled", True),
        sla_priority=data.get("sla_priority", 50),
        cloud=data.get("cloud"),
        description=data.get("description"),
        networks={"public": None, "private": None, **(data.get("networks") or {})},
        capabilities=capabilities,
        ssh_user=data.get("ssh_user"),
        ssh_cidr=data.get("ssh_cidr"),
        network=data.get("network"),
        connection=data.get("connection", "ssh"),
        fail_on_create=bool(data.get("fail_on_create", False)),
        role_vars=copy.deepcopy(data.get("role_vars") or {}),
        source=source,
    )


def _semantic_checks(data: dict, label: str, errors: list[str]) -> None:
    if data.get("driver") == "openstack" and not data.get("cloud"):
        errors.append(f"{label}: cloud: required for driver openstack (the clouds.yaml entry to use)")
    _ssh_cidr_check(data, label, errors)
    caps = data.get("capabilities") or {}
    if caps.get("replicated_object_storage") and data.get("kind") not in ("backbone",):
        errors.append(
            f"{label}: capabilities.replicated_object_storage: only backbone sites replicate "
            f"object storage (kind is {data.get('kind')!r})"
        )
    models = set(caps.get("gpu_models") or [])
    for i, flavor in enumerate(data.get("flavors") or []):
        if not isinstance(flavor, dict):
            continue
        gpus, model = flavor.get("gpus") or 0, flavor.get("gpu_model")
        if isinstance(gpus, int) and gpus > 0 and model and model not in models:
            errors.append(
                f"{label}: flavors[{i}].gpu_model: {model!r} is not listed in capabilities.gpu_models"
            )
    names = [f.get("name") for f in data.get("flavors") or [] if isinstance(f, dict)]
    for dup in sorted({n for n in names if names.count(n) > 1 and n}):
        errors.append(f"{label}: flavors: duplicate flavor name {dup!r}")
    _role_vars_checks(data.get("role_vars") or {}, label, errors)


# Registries are untrusted input: role_vars may only set options the collection's roles
# declare, never connection settings, the CLI's own infn_cloud_* facts or Ansible's magic vars.
_RESERVED_PREFIXES = ("ansible_", "infn_cloud_", "im_node_", "im_infrastructure_")
_MAGIC = {
    "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "inventory_file", "play_hosts", "playbook_dir", "role_name", "role_path",
    "omit", "environment", "vars",
}  # fmt: skip


def role_options() -> dict[str, tuple[str, dict]]:
    """option -> (role, spec) for every option of every entry point of the collection's roles."""
    from infn_cloud.paths import collection_root

    options: dict[str, tuple[str, dict]] = {}
    for spec_file in sorted((collection_root() / "roles").glob("*/meta/argument_specs.y*ml")):
        try:
            data = yaml.safe_load(spec_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in (data.get("argument_specs") or {}).values():
            for name, spec in ((entry or {}).get("options") or {}).items():
                options.setdefault(name, (spec_file.parents[1].name, spec or {}))
    return options


def _role_vars_checks(role_vars: dict, label: str, errors: list[str]) -> None:
    if not role_vars:
        return
    known = role_options()
    for name, value in role_vars.items():
        where = f"{label}: role_vars.{name}"
        if name.lower().startswith(_RESERVED_PREFIXES) or name in _MAGIC:
            errors.append(f"{where}: reserved name: role_vars may only set options of infn.cloud roles")
            continue
        if name not in known:
            errors.append(
                f"{where}: not an option of any infn.cloud role (see roles/*/meta/argument_specs.yml)"
            )
            continue
        role, spec = known[name]
        problem = _option_value_problem(name, spec, value)
        if problem:
            errors.append(f"{where}: {problem} (option of infn.cloud.{role})")


def _option_value_problem(name: str, spec: dict, value: Any) -> str | None:
    """What Ansible's role argument validation would say about this one value, or None."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    keep = ("type", "choices", "elements", "options", "no_log")
    option = {k: v for k, v in spec.items() if k in keep}
    result = ArgumentSpecValidator({name: option}).validate({name: value})
    if result.errors:
        return "; ".join(str(e) for e in result.errors.errors)
    return None


def _ssh_cidr_check(data: dict, label: str, errors: list[str]) -> None:
    """openstack sites say where SSH may come from; never the world by default."""
    cidr = data.get("ssh_cidr")
    if cidr is None:
        if data.get("driver") == "openstack":
            errors.append(
                f"{label}: ssh_cidr: required for driver openstack (the network infn-cloud connects "
                "from, e.g. 131.154.0.0/16; write 0.0.0.0/0 to open SSH to the world on purpose)"
            )
        return
    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        errors.append(
            f"{label}: ssh_cidr: expected a network in CIDR notation (10.0.0.0/8), got {cidr!r}: {exc}"
        )


def load_registry(path: str | Path) -> Registry:
    """Load and validate a site registry directory. Raises ValidationError listing every problem."""
    root = Path(path)
    if not root.is_dir():
        raise ValidationError(
            f"site registry {path} is not a directory",
            details=["expected a directory with federation.yml and sites/<SITE>.yml"],
        )
    errors: list[str] = []
    federation: dict = {}
    fed_file = next((root / n for n in ("federation.yml", "federation.yaml") if (root / n).is_file()), None)
    if fed_file is not None:
        fed_label = _label(fed_file)
        loaded = _read_yaml(fed_file, fed_label, errors)
        if loaded is not None:
            fed_errors: list[str] = []
            _check(FEDERATION_SCHEMA, loaded, "", fed_errors)
            errors.extend(f"{fed_label}: {e}" for e in fed_errors)
            if not fed_errors:
                federation = loaded
    defaults = federation.get("defaults") or {}

    site_dir = root / "sites"
    files = sorted([*site_dir.glob("*.yml"), *site_dir.glob("*.yaml")]) if site_dir.is_dir() else []
    if not files:
        errors.append(f"{_label(root)}: no site files (expected sites/<SITE>.yml)")
    sites: dict[str, Site] = {}
    for file in files:
        label = _label(file)
        data = _read_yaml(file, label, errors)
        if data is None:
            if not any(e.startswith(label) for e in errors):
                errors.append(f"{label}: file is empty")
            continue
        if not isinstance(data, dict):
            errors.append(f"{label}: expected a mapping of site keys, got {_describe(data)}")
            continue
        merged = _merge(defaults, data)
        site_errors: list[str] = []
        _check(SITE_SCHEMA, merged, "", site_errors)
        if not site_errors:
            _semantic_checks(merged, label, site_errors)
            site_errors = [e if e.startswith(label) else f"{label}: {e}" for e in site_errors]
        else:
            site_errors = [f"{label}: {e}" for e in site_errors]
        if not site_errors and merged["name"] != file.stem:
            site_errors.append(f"{label}: name: {merged['name']!r} must equal the file name {file.stem!r}")
        if not site_errors and merged["name"] in sites:
            site_errors.append(f"{label}: name: site {merged['name']!r} is defined twice")
        errors.extend(site_errors)
        if not site_errors:
            sites[merged["name"]] = _build_site(merged, label)
    backbone = None
    if federation.get("backbone") is not None and fed_file is not None:
        backbone = _backbone_checks(federation["backbone"], sites, files, _label(fed_file), errors)
    if errors:
        raise ValidationError(
            f"invalid site registry {_label(root)} ({len(errors)} problem(s))", details=errors
        )
    return Registry(
        path=str(root),
        name=federation.get("name") or root.name,
        sites=dict(sorted(sites.items())),
        default_group=federation.get("default_group"),
        description=federation.get("description"),
        backbone=backbone,
    )


def _backbone_checks(
    data: dict, sites: dict[str, Site], files: list[Path], label: str, errors: list[str]
) -> Backbone | None:
    """The backbone of federation.yml: two or more distinct sites of kind backbone, a valid CIDR."""
    found = len(errors)
    names = list(data["sites"])
    files_named = {f.stem for f in files}
    for i, name in enumerate(names):
        where = f"{label}: backbone.sites[{i}]"
        if names.index(name) != i:
            errors.append(f"{where}: site {name!r} is listed twice")
        elif name not in sites:
            if name not in files_named:  # a site file with errors is reported on its own
                errors.append(f"{where}: unknown site {name!r} (sites: {', '.join(sorted(sites)) or 'none'})")
        elif sites[name].kind != "backbone":
            errors.append(
                f"{where}: {name!r} is a {sites[name].kind} site: only sites of kind backbone "
                "form the backbone (federated sites never share a deployment)"
            )
    if len(set(names)) < 2:
        errors.append(
            f"{label}: backbone.sites: a backbone joins two sites or more, got {len(set(names))} "
            f"({', '.join(names)})"
        )
    cidr = data.get("cidr")
    if cidr is not None:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            errors.append(
                f"{label}: backbone.cidr: expected a network in CIDR notation (10.0.0.0/16), "
                f"got {cidr!r}: {exc}"
            )
    if len(errors) > found:
        return None
    return Backbone(
        sites=tuple(names),
        network=data.get("network"),
        cidr=cidr,
        description=data.get("description"),
    )
