"""Benchmark: adding one execute node to an htcondor_cluster with `infn-cloud update` versus
the first deploy of the same pool.

1. `infn-cloud deploy htcondor_cluster --set num_execute_nodes=1` (timed);
2. `infn-cloud update ID --set num_execute_nodes=2` (timed; the configure playbook runs on the
   new execute node only: the central manager and the existing node are not touched), then
   `--set num_execute_nodes=3` again with `--reruns`;
3. the phases of each attempt as the record has them (provision_s, configure_s).
Prints the ratio update/deploy; no asserts (timings depend on the machine). Deletes the
deployment at the end. Needs podman and the local images (scripts/test-hosts.sh).

    python tests/benchmarks/bench_update.py [--reruns N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict, *args: str) -> tuple[float, dict]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "infn_cloud", *args, "--json", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"failed: infn-cloud {' '.join(args)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def _phases(attempt: dict) -> str:
    timings = attempt.get("timings") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(timings.items())) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reruns", type=int, default=1, help="scale-out steps after the first (each +1 node)"
    )
    parser.add_argument("--keep", action="store_true", help="do not delete the deployment at the end")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-update-"))
    env = dict(os.environ)
    env.update(
        INFN_CLOUD_STATE_DIR=str(base / "state"),
        XDG_CONFIG_HOME=str(base / "config"),
        INFN_CLOUD_REGISTRY=str(ROOT / "inventories" / "local"),
    )
    env.pop("INFN_CLOUD_VAULT_ADDR", None)
    deploy_s, record = _cli(env, "deploy", "htcondor_cluster", "--set", "num_execute_nodes=1")
    dep = record["id"]
    print(f"deploy (1 execute node): {deploy_s:.1f} s  [{_phases(record['attempts'][-1])}]")
    try:
        for count in range(2, 2 + max(args.reruns, 1)):
            update_s, result = _cli(env, "update", dep, "--set", f"num_execute_nodes={count}")
            attempt = result["deployment"]["attempts"][-1]
            print(
                f"update +1 execute node (-> {count}): {update_s:.1f} s  [{_phases(attempt)}]  "
                f"ratio to the deploy: {update_s / deploy_s:.2f}"
            )
    finally:
        if not args.keep:
            _cli(env, "delete", dep)
        else:
            print(f"kept: INFN_CLOUD_STATE_DIR={base / 'state'} infn-cloud show {dep}")


if __name__ == "__main__":
    main()
