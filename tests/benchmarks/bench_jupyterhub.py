"""Benchmark: the infn.cloud.jupyterhub molecule scenario, phase by phase.

Times, on fresh containers: create + prepare, the first converge (install and configure
everything), the idempotent re-run (nothing to change), a --check --diff run, and what a user
waits for: an OpenID Connect login + server spawn + notebook write through the proxy.
Prints seconds and ratios (idempotent / first converge); asserts nothing, timings depend on
the machine and its load. Needs podman and the localhost/debian:trixie image.

    python tests/benchmarks/bench_jupyterhub.py [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROLE = Path(__file__).resolve().parents[2] / "roles" / "jupyterhub"


def _run(argv: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROLE, capture_output=True, text=True, check=False, env=os.environ)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench_jupyterhub: `{' '.join(argv)}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return elapsed, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    results: dict[str, float] = {}
    _run(["molecule", "destroy"])
    results["create_prepare_s"] = _run(["molecule", "create"])[0] + _run(["molecule", "prepare"])[0]
    results["converge_s"] = _run(["molecule", "converge"])[0]
    results["idempotent_rerun_s"] = _run(["molecule", "idempotence"])[0]
    results["check_mode_s"] = _run(["molecule", "converge", "--", "--check", "--diff"])[0]
    marker = f"bench {time.time_ns()}"
    started = time.monotonic()
    _, out = _run(
        [
            "podman",
            "exec",
            "jupyterhub-oidc",
            "jhclient",
            "write",
            "alice",
            "alice-pw-4c1b",
            "bench.ipynb",
            marker,
        ]
    )
    results["login_spawn_write_s"] = time.monotonic() - started
    results["spawn_s"] = json.loads(out)["spawn_seconds"]
    if not args.keep:
        _run(["molecule", "destroy"])
    results["idempotent_over_converge"] = results["idempotent_rerun_s"] / results["converge_s"]

    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:28} {value:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
