"""Run a playbook of the collection against stand-in hosts on this machine (connection local).

Shared by the configure-waves and scale-in tests: each host gets only its software entries
(``infn_cloud_software``), every task can write into ``probe_dir``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def run_playbook(
    tmp_path: Path, hosts: dict[str, list[dict]], playbook: Path, extra_args: list[str] = (), forks: int = 5
) -> tuple[subprocess.CompletedProcess, Path]:
    """(the ansible-playbook run, the probe directory); the collection is under tmp_path/collections."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "probe_dir": str(out),
            },
            "hosts": {name: {"infn_cloud_software": entries} for name, entries in hosts.items()},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
        ANSIBLE_FORKS=str(forks),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(tmp_path / "hosts.yml"),
            str(playbook),
            *extra_args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc, out
