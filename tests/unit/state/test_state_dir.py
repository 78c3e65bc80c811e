"""--state-dir / INFN_CLOUD_STATE_DIR: only folders infn-cloud creates get a mode; unsafe ones are refused."""
# ruff: noqa: S103 - the tests build shared, permissive folders on purpose (like /tmp)

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infn_cloud import paths
from infn_cloud.errors import EXIT_USAGE, UsageError
from infn_cloud.state import StateStore

ROOT = Path(__file__).resolve().parents[3]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_missing_folder_and_its_missing_parents_are_created_private(tmp_path):
    old = os.umask(0o022)
    try:
        StateStore(tmp_path / "a" / "b" / "state" / "state.db").close()
    finally:
        os.umask(old)
    for folder in ("a", "a/b", "a/b/state"):
        assert _mode(tmp_path / folder) == 0o700, folder
    assert _mode(tmp_path / "a/b/state/state.db") == 0o600


def test_an_existing_private_folder_keeps_its_mode(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # readable by others, writable by no one else: the owner's choice
    StateStore(folder / "state.db").close()
    assert _mode(folder) == 0o755
    assert _mode(folder / "state.db") == 0o600


@pytest.mark.parametrize(("mode", "who"), [(0o1777, "others"), (0o777, "others"), (0o770, "its group")])
def test_a_folder_others_can_write_is_refused_and_left_alone(tmp_path, mode, who):
    shared = tmp_path / "shared"  # like /tmp (1777) for root's `--state-dir /tmp`
    shared.mkdir()
    os.chmod(shared, mode)
    with pytest.raises(UsageError) as info:
        StateStore(shared / "state.db")
    assert f"{shared} can be written by {who} (mode {mode:04o}): refused" in info.value.message
    assert any("--state-dir" in line for line in info.value.details)
    assert _mode(shared) == mode  # never chmod'ed
    assert not (shared / "state.db").exists()


def test_a_new_folder_inside_a_shared_one_is_fine(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    StateStore(shared / "infn-cloud-me" / "state.db").close()
    assert _mode(shared / "infn-cloud-me") == 0o700
    assert _mode(shared) == 0o1777


def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    real = os.geteuid()
    monkeypatch.setattr(paths.os, "geteuid", lambda: real + 1)  # we are someone else now
    with pytest.raises(UsageError) as info:
        paths.private_dir(folder)
    assert f"is owned by uid {real}, not by you (uid {real + 1})" in info.value.message


def test_a_file_is_not_a_state_dir(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        paths.private_dir(target)


def test_cli_refuses_a_world_writable_state_dir_with_exit_64_and_no_traceback(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    env = {k: v for k, v in os.environ.items() if k != "INFN_CLOUD_STATE_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "infn_cloud", "list", "--state-dir", str(shared)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"state directory {shared} can be written by others (mode 1777)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _mode(shared) == 0o1777 and list(shared.iterdir()) == []
    proc = subprocess.run(
        [sys.executable, "-m", "infn_cloud", "list", "--state-dir", str(shared / "mine")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _mode(shared / "mine") == 0o700
