"""Benchmark of infn.cloud.htcondor (prints numbers and a ratio; asserts nothing about timing).

Creates the molecule scenario roles/htcondor/molecule/default (three trixie containers on a
podman network), then times:
1. the first converge (packages installed, pool configured and started on 3 hosts);
2. a second converge on the same hosts (the idempotent re-run: nothing should change).
and prints both times and re-run / first-run. The instances are destroyed afterwards
unless --keep is given.

Run: python tests/benchmarks/bench_htcondor.py [--keep]   (needs podman and the venv)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROLE_DIR = REPO / "roles" / "htcondor"
CHANGED = re.compile(r"changed=(\d+)")


def molecule(*args: str) -> tuple[float, str]:
    """Run `molecule <args>` in the role directory; return (seconds, output); exit on failure."""
    start = time.monotonic()
    result = subprocess.run(["molecule", *args], cwd=ROLE_DIR, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.stderr.write(output[-4000:])
        sys.exit(f"bench_htcondor: `molecule {' '.join(args)}` failed with exit code {result.returncode}")
    return elapsed, output


def changed_tasks(output: str) -> int:
    """Sum of changed=N over the play recap lines (all hosts)."""
    return sum(int(n) for n in CHANGED.findall(output))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the instances afterwards")
    args = parser.parse_args(argv)

    molecule("destroy")
    try:
        create_s, _ = molecule("create")
        prepare_s, _ = molecule("prepare", "--force")
        first_s, first_out = molecule("converge")
        second_s, second_out = molecule("converge")
    finally:
        if not args.keep:
            molecule("destroy")

    print("infn.cloud.htcondor on 3 hosts (1 central manager + submit, 2 execute), Debian 13")
    print(f"  create + prepare        : {create_s + prepare_s:7.1f} s")
    print(f"  converge (first run)    : {first_s:7.1f} s   changed tasks: {changed_tasks(first_out)}")
    print(f"  converge (idempotent)   : {second_s:7.1f} s   changed tasks: {changed_tasks(second_out)}")
    print(f"  idempotent / first run  : {second_s / first_s:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
