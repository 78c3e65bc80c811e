"""Benchmark: `infn-cloud deploy` against the same playbook run with plain ansible-playbook.

1. overhead: `infn-cloud deploy` of a template (provision + configure + records) versus the
   local driver's create + `ansible-playbook playbooks/configure.yml` with the same deployment
   inventory on hosts provisioned the same way. Goal <= 1.1.
2. idempotence: a second configure run (nothing to change) versus the first. Goal <= 0.25.
Prints ratios; no asserts (timings depend on the machine). Needs podman and the local images.
The plain runs get the deployment's SSH key and secret role variables from the secret store.

    python tests/benchmarks/bench_cli.py [TEMPLATE] [--reruns N] [--skip-plain]
      (default tosca_templates/single_vm.yaml; --reruns: idempotent runs measured on the same
      deployment, each printed, then min/median/max; --skip-plain: no overhead measure)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _timed(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started, proc


def _deployment_secrets(deployment_id: str, document: Path, env: dict) -> tuple[str, str]:
    """The deployment's SSH private key and its secret role variables as JSON, as the CLI has them."""
    code = (
        "import json, sys\n"
        "from infn_cloud.secrets import open_store\n"
        "from infn_cloud.deploy.redaction import secret_role_vars, unredact\n"
        "store = open_store(); dep = sys.argv[1]; secrets = store.get_all(dep)\n"
        "plan = unredact(json.load(open(sys.argv[2]))['plan'], secrets)\n"
        "json.dump([store.ssh_private_key(dep), json.dumps(secret_role_vars(plan, secrets))], sys.stdout)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, deployment_id, str(document)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key, role_vars = json.loads(out)
    return key, role_vars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", nargs="?", default="tosca_templates/single_vm.yaml")
    parser.add_argument("--reruns", type=int, default=1, help="idempotent runs to measure (default 1)")
    parser.add_argument("--skip-plain", action="store_true", help="skip the overhead measure (1b)")
    args = parser.parse_args()
    template = args.template
    base = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = dict(os.environ, INFN_CLOUD_STATE_DIR=str(base / "state"), XDG_CONFIG_HOME=str(base / "config"))
    py = sys.executable

    # 1a. infn-cloud deploy
    load_deploy = os.getloadavg()[0]
    t_cli, proc = _timed([py, "-m", "infn_cloud", "deploy", template, "--json", "--quiet"], env)
    dep = json.loads(proc.stdout)["id"]
    inventory = base / "state" / "deployments" / dep / "infn_cloud.deployment.yml"
    ansible_env = dict(env, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible" / "collections"))

    # 2. second configure of the same hosts (idempotent) vs the configure phase of the deploy.
    # Local nodes are reached over SSH with the deployment's key; secret role variables (e.g.
    # the HTCondor pool secret) come as extra vars, as the CLI passes them. Both from the store.
    key, role_vars = _deployment_secrets(dep, inventory.parent / "deployment.json", env)
    key_file, vars_file = base / "deploy_key", base / "secret_vars.json"
    for path, text in ((key_file, key), (vars_file, role_vars)):
        path.touch(mode=0o600)
        path.write_text(text)
    t_first = float(json.loads(proc.stdout)["attempts"][-1]["timings"].get("configure_s") or 0)
    ansible_playbook = str(Path(py).parent / "ansible-playbook")
    playbook = [ansible_playbook, "-e", f"@{vars_file}", "--private-key", str(key_file)]
    seconds = []
    for run in range(max(1, args.reruns)):
        load = os.getloadavg()[0]
        took, proc2 = _timed([*playbook, "-i", str(inventory), "playbooks/configure.yml"], ansible_env)
        changed = [int(n) for n in re.findall(r"\bchanged=(\d+)", proc2.stdout)]
        if not changed or any(changed):
            print(f"warning: idempotent run {run + 1} is not idempotent: changed={changed}", file=sys.stderr)
        seconds.append(took)
        print(f"idempotent run {run + 1}: {took:.1f} s (load {load:.1f} at its start)", file=sys.stderr)
    _timed([py, "-m", "infn_cloud", "delete", dep, "--quiet"], env)
    if args.skip_plain:
        print(f"template: {template}")
        print(f"infn-cloud deploy:                         {t_cli:7.1f} s  (load {load_deploy:.1f} at start)")
        _print_rerun(t_first, seconds)
        return

    # 1b. plain: the driver's create + ansible-playbook configure.yml on fresh, equal hosts
    plain = base / "plain"
    plain.mkdir()
    script = (
        "import json,sys\n"
        "from infn_cloud.tosca import make_plan\n"
        "from infn_cloud.federation import load_registry, select_sites, get_driver\n"
        "from infn_cloud.tosca.attributes import resolve_attributes\n"
        "plan = make_plan(sys.argv[1]); reg = load_registry('inventories/local')\n"
        "key = open(sys.argv[3]).read()\n"
        "best = select_sites(plan, reg).best; d = get_driver(reg.sites[best.site], public_key=key)\n"
        "d.create('bench-plain', plan, best); res = d.wait('bench-plain')\n"
        "json.dump({'id': 'bench-plain', 'site': best.site, 'plan': resolve_attributes(plan, res),"
        " 'resources': res, 'status': 'CREATE_IN_PROGRESS'}, open(sys.argv[2], 'w'))\n"
    )
    (plain / "bench.deployment.yml").write_text(
        f"plugin: infn.cloud.deployment\ndeployment_file: {plain / 'deployment.json'}\n"
    )
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(plain / "key")], check=True)
    started = time.monotonic()
    _timed([py, "-c", script, template, str(plain / "deployment.json"), str(plain / "key.pub")], env)
    plain_playbook = [ansible_playbook, "-e", f"@{vars_file}", "--private-key", str(plain / "key")]
    plain_inventory = str(plain / "bench.deployment.yml")
    _timed([*plain_playbook, "-i", plain_inventory, "playbooks/configure.yml"], ansible_env)
    t_plain = time.monotonic() - started
    _timed(
        [
            py,
            "-m",
            "infn_cloud.deploy.provision",
            "delete",
            "--site",
            "LOCAL-BACKBONE",
            "--deployment-id",
            "bench-plain",
        ],
        env,
    )

    print(f"template: {template}")
    print(f"infn-cloud deploy:                         {t_cli:7.1f} s  (load {load_deploy:.1f} at start)")
    print(f"driver create + ansible-playbook configure: {t_plain:7.1f} s")
    print(f"overhead ratio (goal <= 1.1):               {t_cli / t_plain:7.2f}")
    _print_rerun(t_first, seconds)


def _print_rerun(t_first: float, seconds: list[float]) -> None:
    t_second = statistics.median(seconds)
    print(f"first configure (inside deploy):            {t_first:7.1f} s")
    print(
        f"idempotent configure, median of {len(seconds)}:       {t_second:7.1f} s"
        f"  (min {min(seconds):.1f}, max {max(seconds):.1f})"
    )
    if t_first:
        print(f"idempotent ratio (goal <= 0.25):            {t_second / t_first:7.2f}")


if __name__ == "__main__":
    main()
