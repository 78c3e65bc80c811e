"""Every plugin's documentation blocks are YAML that ansible-doc can read.

A ``: `` inside a plain list item makes DOCUMENTATION unparsable; ansible-doc and
validate-modules then refuse the module. This catches it in the unit run, seconds after
the edit, instead of in ansible-test sanity at the end of CI.
"""

import ast
from pathlib import Path

import pytest
import yaml

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
PLUGIN_FILES = sorted(
    path
    for kind in ("modules", "inventory", "lookup", "filter", "doc_fragments")
    for path in (PLUGINS / kind).glob("*.py")
    if path.name != "__init__.py"
)


def _documentation_blocks(path):
    """The string constants named DOCUMENTATION/EXAMPLES/RETURN, at module or class level."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in BLOCKS:
                    yield target.id, node.value.value


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documentation_blocks_are_yaml(path):
    blocks = list(_documentation_blocks(path))
    if path.parent.name == "modules":
        assert {name for name, _ in blocks} >= set(BLOCKS), f"{path.name} lacks a doc block"
    for name, text in blocks:
        try:
            # EXAMPLES may hold several documents (an inventory plugin shows several files).
            list(yaml.safe_load_all(text)) if name == "EXAMPLES" else yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{path.relative_to(PLUGINS.parent)}: {name} is not valid YAML: {exc}")
