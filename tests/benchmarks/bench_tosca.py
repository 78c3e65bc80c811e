"""Benchmark of the TOSCA engine (prints numbers and ratios; asserts nothing about timing).

1. validate + plan all 32 INFN templates (imports through an import map) vs bare tosca-parser
   parsing the same templates (imports rewritten to local files) on those it can parse;
2. validate + plan a generated 500-node template (target: under 5 s).

Run: python tests/benchmarks/bench_tosca.py  (INFN_CLOUD_REFERENCE_DIR overrides ../shared/reference)
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "unit" / "tosca"))

from catalogue_inputs import infn_user_inputs  # noqa: E402
from tosca_testlib import fill_required  # noqa: E402

from infn_cloud.errors import ValidationError  # noqa: E402
from infn_cloud.tosca import make_plan, validate  # noqa: E402

REFERENCE = Path(os.environ.get("INFN_CLOUD_REFERENCE_DIR") or REPO.parent / "shared" / "reference")
URL = re.compile(r"https://baltig\.infn\.it/infn-cloud/tosca-types/raw/[^/]+/")


def ours(templates, import_map):
    start = time.perf_counter()
    for path in templates:
        report = validate(path, import_map=import_map)
        # The inputs a user must supply: the unit tests' values (tests/unit/tosca/catalogue_inputs.py).
        inputs = {**fill_required(report.required_inputs), **infn_user_inputs(path, report.inputs)}
        make_plan(path, inputs, import_map=import_map)
    return time.perf_counter() - start


def localise(templates, workdir: Path) -> list[Path]:
    types_src = REFERENCE / "infn-tosca-types"
    types_dst = workdir / "types"
    for path in types_src.rglob("*.yaml"):
        target = types_dst / path.relative_to(types_src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(URL.sub(f"{types_dst}/", path.read_text()))
    result = []
    for index, path in enumerate(templates):
        target = workdir / f"{index:02d}_{path.name}"
        target.write_text(URL.sub(f"{types_dst}/", path.read_text()))
        result.append(target)
    return result


def bare_toscaparser(local_templates):
    from toscaparser.tosca_template import ToscaTemplate

    logging.disable(logging.CRITICAL)
    parsed, elapsed = [], 0.0
    for index, path in enumerate(local_templates):
        start = time.perf_counter()
        try:
            ToscaTemplate(str(path))
        except Exception:  # noqa: S112 - counting what tosca-parser cannot parse
            continue
        elapsed += time.perf_counter() - start
        parsed.append(index)
    return parsed, elapsed


def generated(n: int, workdir: Path) -> Path:
    # Absolute imports are refused (docs/tosca.md): the bundled types by their built-in URL.
    types = (
        "https://baltig.infn.it/infn-cloud/infn.cloud/raw/main/tosca_templates/types/infn_cloud_types.yaml"
    )
    lines = [
        "tosca_definitions_version: tosca_simple_yaml_1_0",
        f"imports: [{types}]",
        "topology_template:",
        "  inputs:",
        "    num_cpus: {type: integer, default: 1, constraints: [{in_range: [1, 64]}]}",
        "    mem_size: {type: scalar-unit.size, default: 1 GB, constraints: [{less_or_equal: 64 GB}]}",
        "  node_templates:",
    ]
    for i in range(n // 2):
        lines += [
            f"    vm{i}:",
            "      type: infn.cloud.nodes.Compute",
            "      capabilities:",
            "        host: {properties: {num_cpus: {get_input: num_cpus}, mem_size: {get_input: mem_size}}}",
            "        os: {properties: {distribution: debian, version: '13'}}",
            f"    app{i}:",
            "      type: infn.cloud.nodes.HTCondorExecute",
            "      properties:",
            "        central_manager: {get_attribute: [vm0, private_address, 0]}",
            "      requirements:",
            f"        - host: vm{i}",
        ]
        if i:  # app0 has one host only (two are an error: occurrences)
            lines.append(f"        - central_manager_node: app{i - 1}")
    path = workdir / f"generated_{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    templates = sorted((REFERENCE / "infn-tosca-templates").rglob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if templates:
            import_map = workdir / "map.yaml"
            import_map.write_text(
                f'imports:\n  "https://baltig.infn.it/infn-cloud/tosca-types/raw/*/": '
                f'"{REFERENCE / "infn-tosca-types"}/"\n'
            )
            ours(templates[:2], import_map)  # warm-up (normative types parsed once per process)
            local = localise(templates, workdir)
            parsed, bare = bare_toscaparser(local)
            ours_all = ours(templates, import_map)
            ours_same = ours([templates[i] for i in parsed], import_map) if parsed else 0.0
            print(f"INFN templates: {len(templates)}")
            print(f"  ours, validate+plan all {len(templates)}: {ours_all:.3f} s")
            print(f"  tosca-parser parsed {len(parsed)}/{len(templates)}: {bare:.3f} s")
            if parsed and bare:
                ratio = ours_same / bare
                print(f"  ours on those {len(parsed)}: {ours_same:.3f} s  ratio ours/bare = {ratio:.2f}")
        else:
            print(f"INFN reference templates not found under {REFERENCE}: skipped")
        for n in (100, 500):
            path = generated(n, workdir)
            start = time.perf_counter()
            report = validate(path)
            if report.errors:
                details = [p.format() for p in report.errors]
                raise ValidationError("generated template invalid", details=details)
            plan = make_plan(path)
            elapsed = time.perf_counter() - start
            print(
                f"generated {n}-node template: validate+plan {elapsed:.3f} s "
                f"({len(plan['waves'])} waves; target < 5 s: {elapsed / 5.0:.2f} of budget)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
