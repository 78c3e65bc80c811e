"""Build hook: the wheel carries the infn.cloud collection next to the infn_cloud package.

``pip wheel .`` (or ``pip install .``) puts the collection's files in the wheel as
``ansible_collections/infn/cloud/``: installed, they land in site-packages beside
``infn_cloud/``, where ansible looks for collections installed with Python (as the ``ansible``
package ships its own) and where infn_cloud.paths finds them. The files are those the Galaxy
tarball carries: every file of the checkout except galaxy.yml's ``build_ignore`` patterns and
ansible-galaxy's own defaults, matched the way ``ansible-galaxy collection build`` matches them
(tests/integration/packaging checks that both hold the same files). Editable installs
(``pip install -e .``) copy nothing: the package finds its checkout.

Everything else is declared in pyproject.toml.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
NAMESPACE, NAME = "infn", "cloud"
# ansible-galaxy's own ignores (ansible.galaxy.collection._build_files_manifest_walk).
DEFAULT_IGNORE = ["MANIFEST.json", "FILES.json", "galaxy.yml", "galaxy.yaml", ".git", "*.pyc", "*.retry"]
DEFAULT_IGNORE += ["tests/output", f"{NAMESPACE}-{NAME}-*.tar.gz"]
IGNORE_DIRS = {"CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"}


def build_ignore(galaxy_yml: Path) -> list[str]:
    """galaxy.yml's build_ignore list (a plain YAML block list; no YAML library at build time)."""
    patterns: list[str] = []
    inside = False
    for line in galaxy_yml.read_text(encoding="utf-8").splitlines():
        if line.startswith("build_ignore:"):
            inside = True
            continue
        if inside:
            stripped = line.strip()
            if stripped.startswith("- "):
                patterns.append(stripped[2:].strip().strip("'\""))
            elif stripped and not stripped.startswith("#"):
                break
    if not patterns:
        raise SystemExit(
            f"{galaxy_yml}: no build_ignore list found (expected `build_ignore:` and `- PATTERN` lines)"
        )
    return patterns


def collection_files(root: Path) -> list[str]:
    """Relative paths of the files `ansible-galaxy collection build` puts in the tarball."""
    ignore = DEFAULT_IGNORE + build_ignore(root / "galaxy.yml")
    found: list[str] = []

    def walk(folder: Path) -> None:
        for item in sorted(os.listdir(folder)):
            path = folder / item
            rel = path.relative_to(root).as_posix()
            if path.is_dir() and not path.is_symlink():
                if item in IGNORE_DIRS or any(fnmatch.fnmatch(rel, p) for p in ignore):
                    continue
                walk(path)
            elif path.is_file() and not any(fnmatch.fnmatch(rel, p) for p in ignore):
                found.append(rel)

    walk(root)
    return found


class BuildWithCollection(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if not (HERE / "galaxy.yml").is_file():
            raise SystemExit(f"{HERE}: no galaxy.yml: build the wheel from a checkout of infn.cloud")
        target = Path(self.build_lib) / "ansible_collections" / NAMESPACE / NAME
        if target.exists():
            shutil.rmtree(target)
        for rel in [*collection_files(HERE), "galaxy.yml"]:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / rel, dest)


setup(cmdclass={"build_py": BuildWithCollection})
