"""Imports stay inside the allowed folders; import maps are untrusted too.

Allowed: the template's own folder, the type libraries (bundled tosca_templates/types, INFN's
reference types, INFN_CLOUD_IMPORT_ROOTS) and import-map targets; map targets must lie in the
map's folder or a type library (docs/tosca.md, "Untrusted templates: the rules"). Before, an
import read any file the user could (absolute paths, file://, ~, ../, symlinks) and the error
told whether a path existed. Every case goes through the CLI's main function (`validate`).
"""

from __future__ import annotations

import pytest
from hostile_lib import BUNDLED_TYPES, TIME_BOUND, cli, cli_process

OUTSIDE = "is outside the folders imports may read"
FORM = "absolute paths, file:// URLs and '~' are not allowed in imports"
MAP_OUTSIDE = "is outside the folders an import map may point to"
TYPES = (
    "tosca_definitions_version: tosca_simple_yaml_1_0\n"
    "node_types:\n  my.nodes.App:\n    derived_from: tosca.nodes.SoftwareComponent\n"
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """tmp/project (the template's folder) next to tmp/outside (a folder it must not read)."""
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("INFN_CLOUD_IMPORT_MAP", raising=False)
    monkeypatch.delenv("INFN_CLOUD_IMPORT_ROOTS", raising=False)
    (tmp_path / "project").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "types.yaml").write_text(TYPES)
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def write_template(folder, *imports, app=True):
    """A template importing `imports` (line 3 on) and the bundled types; `app` uses my.nodes.App."""
    entries = "".join(f"  - '{entry}'\n" for entry in (*imports, BUNDLED_TYPES))
    nodes = "    vm: {type: infn.cloud.nodes.Compute}\n"
    if app:
        nodes += "    app:\n      type: my.nodes.App\n      requirements:\n        - host: vm\n"
    path = folder / "t.yaml"
    path.write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\n"
        f"imports:\n{entries}topology_template:\n  node_templates:\n{nodes}"
    )
    return path


def write_map(folder, target, prefix="https://example.org/types/", name="map.yaml"):
    path = folder / name
    path.write_text(f'imports:\n  "{prefix}": "{target}"\n')
    return path


def refused(result, *texts):
    assert result.rc == 2, result.text
    for text in texts:
        assert text in result.text, result.text
    assert "Traceback" not in result.text and "internal error" not in result.text
    assert result.seconds < TIME_BOUND, f"took {result.seconds:.2f} s"


def same_answer(first, second, first_target="", second_target=""):
    """Two refusals are the same message (apart from the import as written): no existence oracle."""
    assert first.rc == second.rc == 2
    assert first.text.replace(first_target, "X") == second.text.replace(second_target, "X")


# -- relative imports escaping the template's folder --------------------------------------------
def test_dotdot_import_is_refused_with_one_message_whether_or_not_the_file_exists(project, capsys):
    write_template(project, "../outside/types.yaml")
    exists = cli(capsys, "validate", "t.yaml")
    (project.parent / "outside" / "types.yaml").unlink()
    missing = cli(capsys, "validate", "t.yaml")
    refused(exists, "t.yaml:3:", "import '../outside/types.yaml'", OUTSIDE)
    same_answer(exists, missing)
    assert "does not exist" not in exists.text


def test_dotdot_through_a_subfolder_is_refused(project, capsys):
    (project / "types").mkdir()
    write_template(project, "types/../../outside/types.yaml")
    refused(cli(capsys, "validate", "t.yaml"), "t.yaml:3:", OUTSIDE)


def test_symlink_to_a_file_outside_is_refused_like_a_dangling_one(project, capsys):
    (project / "link.yaml").symlink_to(project.parent / "outside" / "types.yaml")
    (project / "dangling.yaml").symlink_to(project.parent / "outside" / "missing.yaml")
    write_template(project, "link.yaml")
    to_file = cli(capsys, "validate", "t.yaml")
    write_template(project, "dangling.yaml")
    to_nothing = cli(capsys, "validate", "t.yaml")
    refused(to_file, "t.yaml:3:", "import 'link.yaml'", OUTSIDE)
    same_answer(to_file, to_nothing, "link.yaml", "dangling.yaml")


def test_symlinked_folder_pointing_outside_is_refused(project, capsys):
    (project / "lib").symlink_to(project.parent / "outside", target_is_directory=True)
    write_template(project, "lib/types.yaml")
    refused(cli(capsys, "validate", "t.yaml"), "t.yaml:3:", OUTSIDE)


def test_an_imported_file_cannot_escape_either(project, capsys):
    (project / "types").mkdir()
    (project / "types" / "mine.yaml").write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - ../../outside/types.yaml\n"
    )
    write_template(project, "types/mine.yaml")
    refused(cli(capsys, "validate", "t.yaml"), "mine.yaml:3:", OUTSIDE)


# -- absolute paths, file://, ~ ---------------------------------------------------------------------
def test_absolute_path_is_refused_with_one_message_whether_or_not_it_exists(project, capsys):
    write_template(project, "/etc/passwd")
    exists = cli(capsys, "validate", "t.yaml")
    write_template(project, "/etc/no-such-file.yaml")
    missing = cli(capsys, "validate", "t.yaml")
    refused(exists, "t.yaml:3:", FORM)
    same_answer(exists, missing, "/etc/passwd", "/etc/no-such-file.yaml")
    assert "root:" not in exists.text


def test_absolute_path_to_an_allowed_file_is_still_refused(project, capsys):
    write_template(project, str(project / "t.yaml"))
    refused(cli(capsys, "validate", "t.yaml"), FORM)


def test_file_url_is_refused(project, capsys):
    write_template(project, "file:///etc/passwd")
    refused(cli(capsys, "validate", "t.yaml"), "t.yaml:3:", "import 'file:///etc/passwd'", FORM)


def test_home_directory_import_is_refused(project, capsys):
    write_template(project, "~/.bashrc")
    refused(cli(capsys, "validate", "t.yaml"), "t.yaml:3:", FORM)


def test_url_that_climbs_out_of_its_map_target_is_refused(project, capsys):
    (project / "types").mkdir()
    write_map(project, "types/")
    write_template(project, "https://example.org/types/../../../outside/types.yaml")
    refused(cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml"), "t.yaml:3:", OUTSIDE)


# -- hostile import maps -------------------------------------------------------------------------------
def test_map_target_outside_its_folder_is_refused(project, capsys):
    write_map(project, "../outside/")
    write_template(project, "https://example.org/types/types.yaml")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", "target '../outside/'", MAP_OUTSIDE)


def test_map_target_absolute_system_folder_is_refused(project, capsys):
    write_map(project, "/etc/")
    write_template(project, "https://example.org/types/passwd")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", MAP_OUTSIDE)
    assert "root:" not in result.text


def test_map_target_in_the_home_directory_is_refused(project, capsys):
    write_map(project, "~/")
    write_template(project, "https://example.org/types/.bashrc")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", "'~' and URLs are not allowed")


def test_map_target_through_a_symlink_outside_is_refused(project, capsys):
    (project / "lib").symlink_to(project.parent / "outside", target_is_directory=True)
    write_map(project, "lib/")
    write_template(project, "https://example.org/types/types.yaml")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", MAP_OUTSIDE)


def test_map_cannot_read_the_environment(project):
    write_map(project, "${GITHUB_TOKEN}/")
    write_template(project, "https://example.org/types/types.yaml")
    result = cli_process(
        project, "validate", "t.yaml", "--import-map", "map.yaml", env={"GITHUB_TOKEN": "ghp_h1_not_for_you"}
    )
    refused(result, "import map map.yaml:2:", "${GITHUB_TOKEN}: only ${INFN_CLOUD_..._DIR} variables")
    assert "ghp_h1_not_for_you" not in result.text


def test_map_over_the_yaml_limits_is_an_invalid_input(project, capsys):
    (project / "map.yaml").write_text("imports:\n  deep: " + "[" * 200 + "]" * 200 + "\n")
    write_template(project)
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", "at most 64 levels are allowed")


# -- what stays allowed -------------------------------------------------------------------------------
def test_imports_inside_the_template_folder_work(project, capsys):
    (project / "types").mkdir()
    (project / "types" / "app.yaml").write_text(TYPES)
    write_template(project, "types/app.yaml")
    result = cli(capsys, "validate", "t.yaml")
    assert result.rc == 0, result.text


def test_map_target_inside_the_map_folder_works(project, capsys):
    (project / "types").mkdir()
    (project / "types" / "app.yaml").write_text(TYPES)
    write_map(project, "types/")
    write_template(project, "https://example.org/types/app.yaml")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    assert result.rc == 0, result.text


def test_operator_can_allow_a_type_library_elsewhere(project, capsys, monkeypatch):
    write_map(project, "../outside/")
    write_template(project, "https://example.org/types/types.yaml")
    monkeypatch.setenv("INFN_CLOUD_IMPORT_ROOTS", str(project.parent / "outside"))
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    assert result.rc == 0, result.text


def test_bundled_types_by_url_from_anywhere(project, capsys):
    write_template(project, app=False)
    result = cli(capsys, "validate", "t.yaml")
    assert result.rc == 0, result.text


def test_nul_character_in_an_import_is_an_error_not_a_crash(project, capsys):
    (project / "t.yaml").write_text(
        'tosca_definitions_version: tosca_simple_yaml_1_0\nimports: ["a\\x00b.yaml"]\n'
    )
    refused(cli(capsys, "validate", "t.yaml"), "t.yaml:2:", "contains a NUL character")


def test_nul_character_in_a_map_target_is_an_error_not_a_crash(project, capsys):
    (project / "map.yaml").write_text('imports:\n  "https://example.org/types/": "a\\x00b/"\n')
    write_template(project, "https://example.org/types/types.yaml")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", "contains a NUL character")


def test_map_prefix_wildcards_are_whole_segments(project, capsys):
    (project / "types").mkdir()
    write_map(project, "types/", prefix="https://example.org/" + "*" * 30 + "x/")
    write_template(project, "https://example.org/" + "a" * 60 + "/types.yaml")
    result = cli(capsys, "validate", "t.yaml", "--import-map", "map.yaml")
    refused(result, "import map map.yaml:2:", "a '*' must be a whole path segment")
