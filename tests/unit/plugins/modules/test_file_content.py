"""infn.cloud.file_content, the one-round-trip file task of the roles: run as Ansible runs a module
(a JSON args file) on files of a temporary directory. What a re-run relies on: an unchanged file
is left alone (changed false), and content, mode or a missing file are repaired."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
MODULE = ROOT / "plugins/modules/file_content.py"
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def _run(tmp_path: Path, check: bool = False, diff: bool = False, **args) -> dict:
    params = {"owner": USER, "group": GROUP, "mode": "0640", **args}
    if check:
        params["_ansible_check_mode"] = True
    if diff:
        params["_ansible_diff"] = True
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    return json.loads(proc.stdout)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_a_missing_file_then_leaves_it_unchanged(tmp_path):
    dest = tmp_path / "a.conf"
    first = _run(tmp_path, dest=str(dest), content="x = 1\n")
    assert first["changed"] is True and first["content_changed"] is True
    assert dest.read_text() == "x = 1\n"
    assert _mode(dest) == 0o640
    again = _run(tmp_path, dest=str(dest), content="x = 1\n")
    assert again["changed"] is False and again["content_changed"] is False
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".a.conf.")], "temporary file left behind"


def test_repairs_content_and_mode_drift(tmp_path):
    dest = tmp_path / "a.conf"
    _run(tmp_path, dest=str(dest), content="x = 1\n")
    dest.write_text("x = 2\n")
    result = _run(tmp_path, dest=str(dest), content="x = 1\n")
    assert result["changed"] is True and dest.read_text() == "x = 1\n"
    dest.chmod(0o666)
    result = _run(tmp_path, dest=str(dest), content="x = 1\n")
    assert result["changed"] is True and result["content_changed"] is False
    assert _mode(dest) == 0o640


def test_check_mode_reports_drift_without_touching_the_file(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("old\n")
    dest.chmod(0o600)
    result = _run(tmp_path, check=True, diff=True, dest=str(dest), content="new\n")
    assert result["changed"] is True
    assert result["diff"]["before"] == "old\n" and result["diff"]["after"] == "new\n"
    assert dest.read_text() == "old\n" and _mode(dest) == 0o600
    missing = _run(tmp_path, check=True, dest=str(tmp_path / "b.conf"), content="new\n")
    assert missing["changed"] is True and not (tmp_path / "b.conf").exists()


def test_a_failed_validation_leaves_the_file_as_it_was(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("good\n")
    # grep -q good %s fails on the new content: the file must keep the old one.
    result = _run(tmp_path, dest=str(dest), content="bad\n", validate="grep -q good %s")
    assert result.get("failed") is True
    assert "failed to validate the new content of" in result["msg"]
    assert dest.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf", "args.json"]
    ok = _run(tmp_path, dest=str(dest), content="still good\n", validate="grep -q good %s")
    assert ok["changed"] is True and dest.read_text() == "still good\n"


def test_a_missing_directory_is_an_error_naming_it(tmp_path):
    result = _run(tmp_path, dest=str(tmp_path / "nope" / "a.conf"), content="x\n")
    assert result.get("failed") is True
    assert str(tmp_path / "nope") in result["msg"]
    # In check mode the task that makes the directory did not run: a change, not an error.
    checked = _run(tmp_path, check=True, dest=str(tmp_path / "nope" / "a.conf"), content="x\n")
    assert checked["changed"] is True and not checked.get("failed")
    assert not (tmp_path / "nope").exists()


def test_directory_mode_makes_the_missing_directory_and_keeps_its_mode(tmp_path):
    dest = tmp_path / "drop-in.d" / "deeper" / "a.conf"
    result = _run(tmp_path, dest=str(dest), content="x = 1\n", directory_mode="0750")
    assert result["changed"] is True and dest.read_text() == "x = 1\n"
    assert _mode(dest.parent) == 0o750
    assert _run(tmp_path, dest=str(dest), content="x = 1\n", directory_mode="0750")["changed"] is False
    dest.parent.chmod(0o777)
    checked = _run(tmp_path, check=True, dest=str(dest), content="x = 1\n", directory_mode="0750")
    assert checked["changed"] is True and _mode(dest.parent) == 0o777, "check mode changed the directory"
    repaired = _run(tmp_path, dest=str(dest), content="x = 1\n", directory_mode="0750")
    assert repaired["changed"] is True and repaired["content_changed"] is False
    assert _mode(dest.parent) == 0o750


def test_directory_mode_in_check_mode_makes_nothing(tmp_path):
    dest = tmp_path / "missing.d" / "a.conf"
    result = _run(tmp_path, check=True, dest=str(dest), content="x = 1\n", directory_mode="0755")
    assert result["changed"] is True and not dest.parent.exists()
