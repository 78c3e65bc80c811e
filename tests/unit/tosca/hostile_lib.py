"""Helpers of the hostile-input tests: run the real CLI on a file and time it.

`cli()` calls the CLI's main function in this process (what `infn-cloud` runs, without the
interpreter start-up, so the time bound measures our work); `cli_process()` runs
`python -m infn_cloud` for the cases that must also hold at the real entry point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tosca_testlib import REPO

from infn_cloud.cli import main

# Bound for refusing a hostile file (the aim is well under a second; 2 s leaves room for a
# loaded CI machine). Old code took 20+ s, exhausted memory or crashed with RecursionError.
TIME_BOUND = 2.0
BUNDLED_TYPES = (
    "https://baltig.infn.it/infn-cloud/infn.cloud/raw/main/tosca_templates/types/infn_cloud_types.yaml"
)
HEADER = f"tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [{BUNDLED_TYPES}]\n"
COMPUTE = "  node_templates:\n    vm: {type: tosca.nodes.Compute}\n"


@dataclass
class Result:
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(capsys, *args) -> Result:
    capsys.readouterr()
    start = time.perf_counter()
    rc = main([str(a) for a in args])
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    return Result(rc, captured.out, captured.err, seconds)


def cli_process(cwd: Path, *args, env=None) -> Result:
    """Run `python -m infn_cloud ARGS`; `seconds` leaves out the interpreter's start-up.

    The start-up (measured with `--version` just before, under the same load) is subtracted, so
    the time bound of a case measures what the command did with the hostile file.
    """
    environment = {**os.environ, "INFN_CLOUD_STATE_DIR": str(cwd / "state"), **(env or {})}

    def run(arguments):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "infn_cloud", *[str(a) for a in arguments]],
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc, time.perf_counter() - start

    _, startup = run(["--version"])
    proc, seconds = run(args)
    return Result(proc.returncode, proc.stdout, proc.stderr, max(seconds - startup, 0.0))


def billion_laughs() -> str:
    """A flow list of about 600 bytes that expands to 5 * 9**8 (over 200 million) strings."""
    items = ['&a ["lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for name in "bcdefghi":
        items.append(f"&{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "[" + ", ".join(items) + "]"


def indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def deep_list(levels: int) -> str:
    """A flow list nested `levels` deep: [[[...1...]]]."""
    return "[" * levels + "1" + "]" * levels


def local_registry(tmp_path: Path) -> Path:
    """A copy of the collection's local registry to make hostile."""
    target = tmp_path / "registry"
    shutil.copytree(REPO / "inventories" / "local", target)
    return target
