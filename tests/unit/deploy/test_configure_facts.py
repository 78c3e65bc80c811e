"""playbooks/configure.yml gathers, on each host, only the fact subsets its roles read
(``_infn_cloud_role_fact_subsets``): fewer collectors make every run, re-runs included, faster.
A role that starts reading a fact of a subset it does not declare would get an undefined fact on
a real deployment (molecule gathers every fact, so it would not notice): this test reads every
role's files for the facts they use and checks that the declared subsets provide them, with the
subsets' real output from ansible's setup module on this machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE_DIRS = ("tasks", "handlers", "templates", "vars", "defaults")
FACT = re.compile(r"ansible_facts(?:\[\s*['\"]([A-Za-z0-9_]+)['\"]\s*\]|\.([A-Za-z_][A-Za-z0-9_]*))")
# Facts set by modules a role runs itself (not by setup): they need no subset.
MODULE_FACTS = {"services": "service_facts", "packages": "package_facts"}
# Facts named after a network interface exist only where the interface does (not on this
# machine): they come from the network subset.
INTERFACE_FACTS = {"docker0"}


def _subsets() -> dict[str, list[str]]:
    play = yaml.safe_load((ROOT / "playbooks" / "configure.yml").read_text())[0]
    return play["vars"]["_infn_cloud_role_fact_subsets"]


@cache
def _gathered(subset: str) -> frozenset[str]:
    """The fact names setup returns for ``subset`` (always with 'min') on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        args = Path(tmp) / "args.json"
        args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"gather_subset": [subset]}}))
        proc = subprocess.run(
            [sys.executable, "-m", "ansible.modules.setup", str(args)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    facts = json.loads(proc.stdout)["ansible_facts"]
    return frozenset(name.removeprefix("ansible_") for name in facts)


def _facts_read(role: Path) -> dict[str, str]:
    """{fact name: first file reading it} over the role's files."""
    found: dict[str, str] = {}
    for directory in ROLE_DIRS:
        for path in sorted((role / directory).rglob("*")):
            if not path.is_file():
                continue
            text = path.read_text(errors="replace")
            for match in FACT.finditer(text):
                name = match.group(1) or match.group(2)
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def _uses_module(role: Path, module: str) -> bool:
    return any(module in p.read_text(errors="replace") for p in (role / "tasks").rglob("*.yml"))


def test_the_map_names_roles_of_this_collection_and_known_subsets():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()}
    for role, subsets in _subsets().items():
        assert role.startswith("infn.cloud.") and role.removeprefix("infn.cloud.") in roles, role
        assert set(subsets) <= {"network", "hardware", "virtual"}, f"{role}: {subsets}"


@pytest.mark.parametrize(
    "role", sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()), ids=str
)
def test_each_role_gathers_the_subsets_of_the_facts_it_reads(role):
    declared = _subsets().get(f"infn.cloud.{role}", [])
    minimal = _gathered("min")
    missing = []
    for fact, where in _facts_read(ROOT / "roles" / role).items():
        if fact in MODULE_FACTS and _uses_module(ROOT / "roles" / role, MODULE_FACTS[fact]):
            continue
        if fact in minimal:
            continue
        providers = {s for s in ("network", "hardware", "virtual") if fact in _gathered(s)}
        if fact in INTERFACE_FACTS:
            providers = {"network"}
        assert providers, f"{where}: ansible_facts['{fact}'] is not a fact setup gathers"
        if not providers & set(declared):
            missing.append(f"{where}: ansible_facts['{fact}'] needs one of {sorted(providers)}")
    assert not missing, (
        f"infn.cloud.{role} declares {declared} in _infn_cloud_role_fact_subsets (playbooks/configure.yml): "
        + "; ".join(missing)
    )
