#!/usr/bin/env python3
"""Benchmark: backbone replication vs two independent clusters synced with rclone (issue 16).

What it compares is the time until an object written at site A is readable at site B:

* backbone: `object_storage_replication` with its defaults, one Swift ring with one region on
  each local backbone site (LOCAL-BACKBONE, LOCAL-BACKBONE-2). Objects are PUT through site A's
  S3 endpoint; the clock stops when every object answers HEAD through site B's endpoint with
  the right ETag.
* what a user without it does: two independent single-node Swift clusters (the `s3_bucket`
  template deployed once per site) and `rclone sync` from A's bucket to B's. Objects are PUT
  through A's endpoint, `rclone sync` runs right after the writes (the best case: a periodic
  sync adds on average half its period), and the clock stops when every object answers HEAD at
  B with the right ETag.

Both sides run the same workload from a node of site A (boto3 and rclone inside the node, so
traffic stays on the backbone/site networks), the same object sets (sizes and counts below), in
the same order, after the same warm-up (a small round of the same kind on each side, untimed).
Each case gets a fresh bucket on both sides. One run; ratios from that run, no assertion.

The deployments are made with the CLI (the current state directory and registry; set
INFN_CLOUD_REGISTRY=inventories/local) and deleted at the end unless --keep. Reuse deployments
with --backbone ID --site-a-bucket ID --site-b-bucket ID.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE_A, SITE_B = "LOCAL-BACKBONE", "LOCAL-BACKBONE-2"
# (objects, bytes each)
CASES = [(1, 1024), (1, 1024 * 1024), (1, 16 * 1024 * 1024), (100, 10 * 1024), (20, 1024 * 1024)]

# Runs inside a node of site A: writes through A, then (rclone side) syncs, then polls B.
WORKLOAD = r"""
import concurrent.futures as cf, hashlib, json, os, random, subprocess, sys, time
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
import boto3
from botocore.config import Config
cfg = json.loads(sys.stdin.read())
def client(side):
    return boto3.client("s3", endpoint_url=side["endpoint"], aws_access_key_id=side["ak"],
                        aws_secret_access_key=side["sk"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16,
                                      retries={"max_attempts": 1}))
a, b = client(cfg["a"]), client(cfg["b"])
rnd = random.Random(cfg["seed"])
results = []
for count, size in cfg["cases"]:
    bucket = "%s-%d-%d" % (cfg["prefix"], count, size)
    for c in ((a,) if cfg["mode"] == "ring" else (a, b)):
        c.create_bucket(Bucket=bucket)
    blob = rnd.randbytes(size)
    objects = {}
    for i in range(count):
        body = ("%08d" % i).encode() + blob[8:]
        objects["obj/%05d" % i] = (body, hashlib.md5(body).hexdigest())
    start = time.monotonic()
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: a.put_object(Bucket=bucket, Key=kv[0], Body=kv[1][0]), objects.items()))
    written = time.monotonic()
    if cfg["mode"] == "rclone":
        subprocess.run(["rclone", "--config", cfg["rclone_conf"], "sync", "a:" + bucket, "b:" + bucket,
                        "--transfers", "8", "--checkers", "8"], check=True)
    synced = time.monotonic()
    missing = dict(objects)
    def at_b(item):
        key, (_, md5) = item
        try:
            return key, b.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == md5
        except Exception:
            return key, False
    while missing and time.monotonic() - start < cfg["timeout"]:
        with cf.ThreadPoolExecutor(8) as pool:
            for key, ok in pool.map(at_b, list(missing.items())):
                if ok:
                    missing.pop(key)
        if missing:
            time.sleep(0.1)
    results.append({"count": count, "size": size, "write_s": written - start, "sync_s": synced - written,
                    "readable_at_b_s": time.monotonic() - start, "missing_at_b": len(missing)})
print(json.dumps(results))
"""

RCLONE_REMOTE = """[{name}]
type = s3
provider = Other
endpoint = {endpoint}
access_key_id = {ak}
secret_access_key = {sk}
region = us-east-1
force_path_style = true
"""


def fail(message: str) -> None:
    sys.exit(f"bench_object_storage: {message}")


def cli(*args: str, timeout: int = 1800) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "infn_cloud", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        fail(f"`infn-cloud {' '.join(args)}` failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    return json.loads(done.stdout)


def podman(container: str, *args: str, stdin: str | None = None, timeout: int = 1800) -> str:
    done = subprocess.run(
        ["podman", "exec", "-i", container, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        fail(f"`{' '.join(args[:3])}` in {container} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def deployment(dep_id: str | None, template: str, *extra: str, made: list[str]) -> tuple[dict, dict]:
    """(show view, outputs with secrets) of a given or a new deployment."""
    if dep_id is None:
        started = time.monotonic()
        data = cli("deploy", template, *extra)
        dep_id = data["id"]
        made.append(dep_id)
        print(
            f"deployed {template} {' '.join(extra)} as {dep_id} in {time.monotonic() - started:.0f} s",
            flush=True,
        )
    view = cli("show", dep_id)
    outputs = cli("outputs", dep_id, "--show-secrets")["outputs"]
    return view, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", help="an object_storage_replication deployment spanning the backbone")
    parser.add_argument("--site-a-bucket", help=f"an s3_bucket deployment on {SITE_A}")
    parser.add_argument("--site-b-bucket", help=f"an s3_bucket deployment on {SITE_B}")
    parser.add_argument("--keep", action="store_true", help="keep the deployments made here")
    parser.add_argument("--timeout", type=float, default=600, help="per case, seconds")
    args = parser.parse_args()
    os.environ.setdefault("INFN_CLOUD_REGISTRY", str(ROOT / "inventories" / "local"))

    made: list[str] = []
    try:
        ring_view, ring_out = deployment(args.backbone, "object_storage_replication", made=made)
        node_sites = {n: ring_view["nodes"][n][0].get("site") for n in ("server_a", "server_b")}
        if node_sites != {"server_a": SITE_A, "server_b": SITE_B}:
            fail(f"the replicated deployment is not one region per backbone site: {node_sites}")
        ind_a_view, ind_a = deployment(args.site_a_bucket, "s3_bucket", "--site", SITE_A, made=made)
        _, ind_b = deployment(args.site_b_bucket, "s3_bucket", "--site", SITE_B, made=made)

        ring_node = ring_view["nodes"]["server_a"][0]["name"]
        ind_node = ind_a_view["nodes"]["storage_server"][0]["name"]
        ring = {
            "a": {
                "endpoint": ring_out["s3_endpoint_a"],
                "ak": ring_out["access_key"],
                "sk": ring_out["secret_key"],
            },
            "b": {
                "endpoint": ring_out["s3_endpoint_b"],
                "ak": ring_out["access_key"],
                "sk": ring_out["secret_key"],
            },
        }
        ind = {
            "a": {"endpoint": ind_a["s3_endpoint"], "ak": ind_a["access_key"], "sk": ind_a["secret_key"]},
            "b": {"endpoint": ind_b["s3_endpoint"], "ak": ind_b["access_key"], "sk": ind_b["secret_key"]},
        }
        # rclone where the sync runs (site A's independent node), from the Debian archive.
        podman(ind_node, "sh", "-c", "command -v rclone >/dev/null || "
               "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null")  # fmt: skip
        conf = "\n".join(RCLONE_REMOTE.format(name=n, **ind[n]) for n in ("a", "b"))
        podman(ind_node, "sh", "-c", "umask 077 && cat > /root/bench-rclone.conf", stdin=conf)

        run = str(int(time.time()))

        def workload(node: str, mode: str, sides: dict, cases: list, prefix: str) -> list[dict]:
            cfg = {"mode": mode, **sides, "cases": cases, "seed": 16, "prefix": prefix,
                   "timeout": args.timeout, "rclone_conf": "/root/bench-rclone.conf"}  # fmt: skip
            return json.loads(podman(ring_node if mode == "ring" else node, "python3", "-c", WORKLOAD,
                                     stdin=json.dumps(cfg)))  # fmt: skip

        warm = [(10, 1024)]
        workload(ring_node, "ring", ring, warm, f"warm-ring-{run}")
        workload(ind_node, "rclone", ind, warm, f"warm-rclone-{run}")
        ring_results = workload(ring_node, "ring", ring, CASES, f"ring-{run}")
        rclone_results = workload(ind_node, "rclone", ind, CASES, f"rclone-{run}")
    finally:
        if not args.keep:
            for dep_id in made:
                subprocess.run([sys.executable, "-m", "infn_cloud", "delete", dep_id, "--quiet"], cwd=ROOT)

    print(
        "time until every object written at site A is readable at site B "
        "(one run, same cases, warmed up alike)"
    )
    print(
        f"{'objects':>8} {'size':>9} | {'backbone s':>10} | "
        f"{'rclone: write s':>15} {'sync s':>7} {'total s':>8} | ratio"
    )
    for ring_case, rc_case in zip(ring_results, rclone_results, strict=True):
        size = ring_case["size"]
        human = f"{size // 1024 // 1024} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"
        ratio = rc_case["readable_at_b_s"] / ring_case["readable_at_b_s"]
        print(
            f"{ring_case['count']:>8} {human:>9} | {ring_case['readable_at_b_s']:>10.2f} | "
            f"{rc_case['write_s']:>15.2f} {rc_case['sync_s']:>7.2f} "
            f"{rc_case['readable_at_b_s']:>8.2f} | {ratio:5.1f}x"
        )
        if ring_case["missing_at_b"] or rc_case["missing_at_b"]:
            print(f"  missing at B: backbone {ring_case['missing_at_b']}, rclone {rc_case['missing_at_b']}")
    print("rclone figures are its best case: the sync starts right after the writes (a periodic sync adds")
    print("on average half its period); the backbone's PUT returns once both regions hold a replica.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
