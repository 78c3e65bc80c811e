"""Where the CLI and the modules find the collection's files (infn_cloud.paths.collection_root).

Each case lays out the folders an install leaves and checks which one wins; the installed
wheel and Galaxy tarball themselves are exercised end to end in
tests/integration/packaging/test_installed.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infn_cloud import paths
from infn_cloud.errors import EXIT_NOT_FOUND

REPO = Path(__file__).resolve().parents[2]


def installed(base: Path, namespace: str = "infn", name: str = "cloud") -> Path:
    """An installed collection as ansible-galaxy leaves it: MANIFEST.json, no galaxy.yml."""
    root = base / "ansible_collections" / namespace / name
    (root / "inventories" / "local").mkdir(parents=True)
    info = {"collection_info": {"namespace": namespace, "name": name, "version": "0.1.0"}}
    (root / "MANIFEST.json").write_text(json.dumps(info))
    return root


@pytest.fixture
def no_checkout(monkeypatch, tmp_path):
    """The package runs from site-packages (tmp_path/site), not from a checkout."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(paths, "_PACKAGE_PARENT", site)
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setattr(paths, "ansible_collections_paths", lambda: [tmp_path / "galaxy"])
    return site


def test_checkout_is_found_from_the_package(monkeypatch):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert paths.collection_root() == REPO
    assert paths.collections_path() == REPO / ".ansible" / "collections"
    assert paths.default_registry() == REPO / "inventories" / "local"


def test_home_overrides_everything(monkeypatch, tmp_path):
    root = installed(tmp_path / "elsewhere")
    monkeypatch.setenv(paths.HOME_ENV, str(root))
    assert paths.collection_root() == root.resolve()
    # an installed layout is already on a collections path: no link to make
    assert paths.collections_path() == (tmp_path / "elsewhere").resolve()
    assert paths.ensure_collection_link() == root.resolve()


def test_home_that_is_no_collection_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    with pytest.raises(paths.CollectionNotFoundError) as caught:
        paths.collection_root()
    assert f"INFN_CLOUD_HOME={tmp_path} is not an infn.cloud collection" in caught.value.message
    assert caught.value.exit_code == EXIT_NOT_FOUND
    assert isinstance(caught.value, FileNotFoundError)  # callers that catch FileNotFoundError


def test_another_collections_manifest_is_not_ours(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.HOME_ENV, str(installed(tmp_path, "community", "general")))
    with pytest.raises(paths.CollectionNotFoundError):
        paths.collection_root()


def test_the_wheels_copy_is_found_next_to_the_package(no_checkout, tmp_path):
    wheel_copy = installed(no_checkout)
    installed(tmp_path / "galaxy")  # also installed with ansible-galaxy: the wheel's copy wins
    assert paths.collection_root() == wheel_copy.resolve()
    assert paths.collections_path() == no_checkout.resolve()
    assert paths.default_registry() == wheel_copy.resolve() / "inventories" / "local"


def test_a_galaxy_installed_collection_is_found_on_ansibles_path(no_checkout, tmp_path):
    galaxy = installed(tmp_path / "galaxy")
    assert paths.collection_root() == galaxy.resolve()
    assert paths.collections_path() == (tmp_path / "galaxy").resolve()


def test_nothing_found_says_where_it_looked(no_checkout, tmp_path):
    with pytest.raises(paths.CollectionNotFoundError) as caught:
        paths.collection_root()
    looked = " ".join(caught.value.details)
    assert str(no_checkout / "ansible_collections" / "infn" / "cloud") in looked
    assert str(tmp_path / "galaxy" / "ansible_collections" / "infn" / "cloud") in looked
    assert "ansible-galaxy collection install" in looked


def test_ansible_search_path_follows_ansible_collections_path(tmp_path):
    """A fresh process, as the CLI is: ansible reads ANSIBLE_COLLECTIONS_PATH when it starts."""
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"}
    code = "from infn_cloud.paths import ansible_collections_paths as p; print([str(x) for x in p()])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.replace("'", '"'))
    assert found[:2] == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_cli_without_any_collection_exits_3_with_a_message(tmp_path):
    """`infn-cloud templates` run from a package with no collection anywhere: a message, no traceback."""
    site = tmp_path / "site"
    site.mkdir()
    code = (
        "import sys; from pathlib import Path; from infn_cloud import paths; "
        f"paths._PACKAGE_PARENT = Path({str(site)!r}); "
        "paths.ansible_collections_paths = lambda: []; "
        "from infn_cloud.cli import main; sys.exit(main(['templates']))"
    )
    env = {k: v for k, v in os.environ.items() if k != paths.HOME_ENV}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == EXIT_NOT_FOUND, out.stderr
    assert "the infn.cloud collection's files were not found" in out.stderr
    assert "Traceback" not in out.stderr
