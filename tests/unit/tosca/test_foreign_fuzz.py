"""No input makes validate or plan raise: mutations of the foreign corpus, its type library and
our catalogue through hypothesis; every outcome is a report or a ValidationError, never a
traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tosca_testlib import REPO

from infn_cloud.errors import InfnCloudError
from infn_cloud.tosca import make_plan, validate

FOREIGN = Path(__file__).parent / "foreign_corpus"
CATALOGUE = REPO / "tosca_templates"
TEMPLATES = sorted(p.name for p in FOREIGN.glob("f*.yaml"))
SOURCES = [
    *(FOREIGN / n for n in TEMPLATES),
    *sorted(CATALOGUE.glob("*.yaml")),
    FOREIGN / "types" / "library.yaml",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["-1", "'2'", "UNBOUNDED", "yes", "tosca.nodes.Compute", "server", "", "1 GB", "[1, 1]"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    head, *rest = path
    value[head] = _replace(value[head], rest, new)
    return value


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(FOREIGN / "types", folder / "types")
    shutil.copy(CATALOGUE / "types" / "infn_cloud_types.yaml", folder / "types")
    return folder


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_templates_never_raise_anything_but_a_validation_error(workdir, data):
    source = data.draw(st.sampled_from(SOURCES))
    is_library = source.parent.name == "types"
    doc = yaml.safe_load(source.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = data.draw(st.sampled_from(paths[1:] or paths))
        doc = _replace(doc, list(path), data.draw(VALUES))
    target = workdir / ("types/library.yaml" if is_library else "t.yaml")
    try:
        target.write_text(yaml.safe_dump(doc, allow_unicode=True))
        template = workdir / (TEMPLATES[0] if is_library else "t.yaml")
        if is_library:
            shutil.copy(FOREIGN / TEMPLATES[0], template)
        report = validate(template)
        assert all(p.line >= 0 for p in report.errors + report.warnings)
        if report.valid:
            make_plan(template)
    except InfnCloudError:
        pass
    finally:
        shutil.copy(FOREIGN / "types" / "library.yaml", workdir / "types" / "library.yaml")
