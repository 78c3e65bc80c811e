#!/usr/bin/env python3
"""Benchmark of infn.cloud.object_storage on its molecule scenario (two sites, one ring).

Needs the scenario's containers up (`cd roles/object_storage && molecule converge`). Prints:

* ring replication: N objects (log-uniform sizes, 1 KB to 10 MB by default) written through S3
  at site A; time until every object is readable through S3 at site B with the right ETag,
  and the resulting throughput;
* baseline: a plain `rclone copy` of the same objects from A's endpoint to B's endpoint;
* with --converge: the time of an idempotent `molecule converge` re-run.

Every S3 request runs inside site A's container (boto3 and rclone there), so traffic stays on
the test network. Reports ratios; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROLE_DIR = Path(__file__).resolve().parents[2] / "roles" / "object_storage"

# Runs in site A's container. Writes the objects through A, then polls B until all are there.
WORKLOAD = r"""
import concurrent.futures as cf, hashlib, json, math, random, sys, time
import boto3
from botocore.config import Config
cfg = json.loads(sys.argv[1])
def client(host):
    return boto3.client("s3", endpoint_url="http://%s:%d" % (host, cfg["port"]), aws_access_key_id=cfg["ak"],
                        aws_secret_access_key=cfg["sk"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=cfg["threads"]))
a, b = client(cfg["site_a"]), client(cfg["site_b"])
rnd = random.Random(cfg["seed"])
lo, hi = math.log(cfg["min_size"]), math.log(cfg["max_size"])
blob = rnd.randbytes(cfg["max_size"])
objects = {}
for i in range(cfg["count"]):
    size = int(math.exp(rnd.uniform(lo, hi)))
    body = ("%08d" % i).encode() + blob[: size - 8]
    objects["bench/%05d" % i] = (body, hashlib.md5(body).hexdigest())
bucket = cfg["bucket"]
for c in (a,):
    try:
        c.create_bucket(Bucket=bucket)
    except c.exceptions.BucketAlreadyOwnedByYou:
        pass
start = time.monotonic()
with cf.ThreadPoolExecutor(cfg["threads"]) as pool:
    list(pool.map(lambda kv: a.put_object(Bucket=bucket, Key=kv[0], Body=kv[1][0]), objects.items()))
put_done = time.monotonic()
missing = dict(objects)
def ok_at_b(item):
    key, (_, md5) = item
    try:
        return key, b.head_object(Bucket=bucket, Key=key)["ETag"].strip('"') == md5
    except Exception:
        return key, False
while missing and time.monotonic() - start < cfg["timeout"]:
    with cf.ThreadPoolExecutor(cfg["threads"]) as pool:
        for key, ok in pool.map(ok_at_b, list(missing.items())):
            if ok:
                missing.pop(key)
    if missing:
        time.sleep(0.5)
visible = time.monotonic()
listed = sum(len(p.get("Contents", [])) for p in b.get_paginator("list_objects_v2").paginate(Bucket=bucket))
print(json.dumps({"objects": len(objects), "bytes": sum(len(v[0]) for v in objects.values()),
                  "put_s": put_done - start, "visible_at_b_s": visible - start,
                  "missing_at_b": len(missing), "listed_at_b": listed}))
"""

# One rclone S3 remote per site, named a and b.
RCLONE_REMOTE = """[{name}]
type = s3
provider = Other
endpoint = http://{host}:{port}
access_key_id = {ak}
secret_access_key = {sk}
region = us-east-1
force_path_style = true
"""


def podman(container: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["podman", "exec", "-i", container, *args], input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        what = " ".join(args[:3])
        sys.exit(f"bench_object_storage: `{what}` in {container} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site-a", default="objstore-a")
    parser.add_argument("--site-b", default="objstore-b")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--access-key", default="infn:sync")
    parser.add_argument("--secret-key", default="s3cr3t-Molecule-Key")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--min-size", type=int, default=1024)
    parser.add_argument("--max-size", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--converge", action="store_true", help="also time an idempotent molecule converge")
    args = parser.parse_args()
    if not 8 < args.min_size <= args.max_size:
        parser.error("--min-size must be > 8 and <= --max-size")
    run = str(int(time.time()))
    cfg = {
        "site_a": args.site_a, "site_b": args.site_b, "port": args.port, "ak": args.access_key,
        "sk": args.secret_key, "count": args.count, "min_size": args.min_size, "max_size": args.max_size,
        "threads": args.threads, "timeout": args.timeout, "seed": 6, "bucket": f"bench-ring-{run}",
    }  # fmt: skip

    ring = json.loads(podman(args.site_a, "python3", "-c", WORKLOAD, json.dumps(cfg)))
    mb = ring["bytes"] / 1e6
    print(
        f"objects: {ring['objects']}, {mb:.1f} MB, sizes {args.min_size} B .. {args.max_size} B (log-uniform)"
    )
    visible_s = ring["visible_at_b_s"]
    print(f"ring: PUT at A done in {ring['put_s']:.1f} s; all readable at B after {visible_s:.1f} s")
    print(
        f"ring: {mb / visible_s:.1f} MB/s; missing at B: {ring['missing_at_b']}; "
        f"listed at B: {ring['listed_at_b']}"
    )

    # Baseline: the same objects copied by rclone from A's endpoint to B's endpoint.
    if podman(args.site_a, "sh", "-c", "command -v rclone || true").strip() == "":
        podman(
            args.site_a, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null"
        )
    conf = "\n".join(
        RCLONE_REMOTE.format(name=name, host=host, port=args.port, ak=args.access_key, sk=args.secret_key)
        for name, host in (("a", args.site_a), ("b", args.site_b))
    )
    podman(args.site_a, "sh", "-c", "umask 077 && cat > /root/bench-rclone.conf", stdin=conf)
    target = f"bench-rclone-{run}"
    start = time.monotonic()
    podman(
        args.site_a, "rclone", "--config", "/root/bench-rclone.conf", "copy", f"a:{cfg['bucket']}",
        f"b:{target}", "--transfers", str(args.threads), "--checkers", str(args.threads),
    )  # fmt: skip
    rclone_s = time.monotonic() - start
    copied = podman(
        args.site_a, "rclone", "--config", "/root/bench-rclone.conf", "size", "--json", f"b:{target}"
    )
    copied = json.loads(copied)
    print(f"rclone copy A->B: {rclone_s:.1f} s ({mb / rclone_s:.1f} MB/s); {copied['count']} objects at B")
    print(f"ratio ring replication / rclone copy: {visible_s / rclone_s:.2f}")

    if args.converge:
        start = time.monotonic()
        done = subprocess.run(["molecule", "converge"], cwd=ROLE_DIR, capture_output=True, text=True)
        took = time.monotonic() - start
        tail = [line for line in done.stdout.splitlines() if "changed=" in line]
        recap = " | ".join(t.strip() for t in tail)
        print(f"idempotent converge: {took:.1f} s (rc {done.returncode}) {recap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
