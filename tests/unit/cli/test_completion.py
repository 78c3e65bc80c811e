"""`infn-cloud completion bash|zsh`: the scripts load in the shell and complete commands,
options, catalogue names and deployment ids (bash driven as at a TAB: COMP_WORDS/COMP_CWORD)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infn_cloud.cli import main
from infn_cloud.state import open_state

BIN = str(Path(sys.executable).parent)  # the venv's infn-cloud, which the scripts call
DEPLOYMENT = "5a5a5a5a-1234-4000-8000-00000000abcd"


@pytest.fixture
def env(tmp_path):
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "INFN_CLOUD_STATE_DIR": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    if not Path(BIN, "infn-cloud").exists():
        pytest.fail(f"no infn-cloud next to {sys.executable}: pip install -e . in the venv")
    return environment


def deployment(state_dir: Path, deployment_id: str = DEPLOYMENT) -> None:
    with open_state(state_dir) as state:
        state.create_deployment(
            {"id": deployment_id, "template": "single_vm.yaml", "status": "CREATE_COMPLETE", "plan": {}}
        )


def bash_complete(env: dict, cwd: Path, *words: str) -> list[str]:
    """What bash offers at TAB after `infn-cloud WORDS` (the last word is being completed)."""
    line = " ".join(f"'{w}'" for w in ["infn-cloud", *words])
    script = (
        "source <(infn-cloud completion bash) || exit 9\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words)}\n"
        '_infn_cloud; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_script_loads(env):
    result = subprocess.run(
        ["bash", "-c", "source <(infn-cloud completion bash) && complete -p infn-cloud"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "complete -F _infn_cloud infn-cloud"


def test_bash_completes_commands_and_options(env, tmp_path):
    assert bash_complete(env, tmp_path, "de") == ["deploy", "delete"]
    offered = bash_complete(env, tmp_path, "")
    assert {"templates", "validate", "plan", "deploy", "retry", "list", "show", "logs", "completion"} <= set(
        offered
    )
    assert not [word for word in offered if word.startswith("-")]
    assert bash_complete(env, tmp_path, "--d") == ["--debug"]
    assert bash_complete(env, tmp_path, "deploy", "single_vm", "--pl") == ["--plain"]
    assert "--follow" in bash_complete(env, tmp_path, "logs", "--f")


def test_bash_completes_catalogue_names_and_files(env, tmp_path):
    (tmp_path / "single_mine.yaml").write_text("x")
    offered = bash_complete(env, tmp_path, "deploy", "single")
    assert "single_vm" in offered and "single_mine.yaml" in offered
    assert "htcondor_cluster" in bash_complete(env, tmp_path, "plan", "--json", "htc")
    # After an option that takes a file: files only.
    (tmp_path / "inputs.yml").write_text("x")
    assert bash_complete(env, tmp_path, "deploy", "single_vm", "-i", "inp") == ["inputs.yml"]


def test_bash_completes_deployment_ids(env, tmp_path):
    deployment(Path(env["INFN_CLOUD_STATE_DIR"]))
    assert bash_complete(env, tmp_path, "show", "5a5") == [DEPLOYMENT]
    assert bash_complete(env, tmp_path, "delete", "--force", "") == [DEPLOYMENT]
    # --state-dir on the line wins over the environment.
    other = tmp_path / "other"
    deployment(other, "6b6b6b6b-1234-4000-8000-00000000abcd")
    assert bash_complete(env, tmp_path, "logs", "--state-dir", str(other), "") == [
        "6b6b6b6b-1234-4000-8000-00000000abcd"
    ]


def test_completing_never_creates_a_state_directory(env, tmp_path):
    assert bash_complete(env, tmp_path, "show", "") == []
    assert not Path(env["INFN_CLOUD_STATE_DIR"]).exists()


def test_zsh_script(env, tmp_path, capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef infn-cloud") and "compdef _infn_cloud infn-cloud" in script
    if shutil.which("zsh") is None:
        return  # not installed here (Debian: apt-get install zsh): the script text is all we check
    result = subprocess.run(
        [
            "zsh",
            "-fc",
            "autoload -U compinit && compinit -u -d $TMPDIR/zcomp && source <(infn-cloud completion zsh)"
            " && print -r -- ${_comps[infn-cloud]}",
        ],
        env={**env, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "_infn_cloud", result.stderr


def test_completion_needs_a_known_shell(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 64
    assert "invalid choice: 'fish'" in capsys.readouterr().err
