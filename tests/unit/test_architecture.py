"""The package layering of docs/development.md ("Architecture") is what the code imports.

Every import of an infn_cloud module, at module level or inside a function, is checked: a
package may use only the packages below it. A new upward import fails here with the file and
line, so the picture in the docs cannot silently drift from the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import infn_cloud

ROOT = Path(infn_cloud.__file__).parent

# package -> the infn_cloud packages it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "model": set(),
    "paths": {"errors"},
    "module_utils": {"errors", "paths"},
    "secrets": {"errors", "paths", "module_utils"},
    "state": {"errors", "paths", "model"},
    "tosca": {"errors", "paths", "model", "secrets"},
    "runner": {"errors", "paths", "secrets"},
    "federation": {"errors", "paths", "model", "module_utils", "secrets", "tosca"},
    "deploy": {
        "errors",
        "paths",
        "model",
        "module_utils",
        "secrets",
        "state",
        "tosca",
        "federation",
        "runner",
    },
    "cli": {"*"},
    "__init__": set(),
    "__main__": {"cli"},
}
# Named exceptions, each with its reason.
EXCEPTIONS = {
    # The one redactor (secret values -> <secret:NAME>) lives in deploy/redaction.py; the TOSCA
    # engine masks secret inputs in its problems with it. It imports nothing above tosca.
    ("tosca", "infn_cloud.deploy.redaction"),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0][:-3] if len(parts) == 1 else parts[0]


def _violations() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        package = _package(path)
        allowed = ALLOWED.get(package)
        for line, module in _imports(path):
            if not module.startswith("infn_cloud."):
                continue
            target = module.split(".")[1]
            if target == package or allowed == {"*"} or (package, module) in EXCEPTIONS:
                continue
            if allowed is None or target not in allowed:
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: {package} imports {module}")
    return found


def test_every_package_imports_only_the_layers_below_it():
    assert _violations() == []


def test_every_package_has_a_place_in_the_layering():
    packages = {_package(p) for p in ROOT.rglob("*.py")}
    assert packages - ALLOWED.keys() == set()


def test_nothing_below_the_cli_imports_the_cli():
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line}: {module}"
        for path in sorted(ROOT.rglob("*.py"))
        if _package(path) not in ("cli", "__main__")
        for line, module in _imports(path)
        if module == "infn_cloud.cli" or module.startswith("infn_cloud.cli.")
    ]
    assert offenders == []


# Command modules share helpers through cli/options.py (and cli/view.py, the terminal view),
# never by importing another command. Left: deploy/delete use deployments.py's record view.
SHARED = {"infn_cloud.cli", "infn_cloud.cli.options", "infn_cloud.cli.view", "infn_cloud.cli.plan_sites"}
LEFT = {
    ("deploy", "infn_cloud.cli.deployments"),
    ("delete", "infn_cloud.cli.deployments"),
    ("update", "infn_cloud.cli.deployments"),
}


def test_command_modules_do_not_use_each_other_as_libraries():
    offenders = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        if path.stem in ("__init__", "options", "view"):
            continue
        for line, module in _imports(path):
            if (
                module.startswith("infn_cloud.cli")
                and module not in SHARED
                and (path.stem, module) not in LEFT
            ):
                offenders.append(f"cli/{path.name}:{line}: imports {module}")
    assert offenders == []
