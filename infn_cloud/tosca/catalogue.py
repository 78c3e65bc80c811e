"""The service catalogue: the templates shipped in tosca_templates/."""

from __future__ import annotations

from pathlib import Path

from infn_cloud.errors import NotFoundError
from infn_cloud.paths import collection_root
from infn_cloud.tosca.yamlio import YamlSyntaxError, load_file


def catalogue_dir() -> Path:
    return collection_root() / "tosca_templates"


def resolve(template) -> Path:
    """A path to a template, or a catalogue name (`htcondor_cluster`) -> its file."""
    path = Path(template)
    if path.is_file():
        return path
    name = str(template)
    if "/" not in name and "\\" not in name:
        for candidate in (
            catalogue_dir() / name,
            catalogue_dir() / f"{name}.yaml",
            catalogue_dir() / f"{name}.yml",
        ):
            if candidate.is_file():
                return candidate
    names = ", ".join(entry["name"] for entry in entries()) or "none"
    raise NotFoundError(f"template {template} not found: not a file, nor a catalogue name ({names})")


def entries() -> list[dict]:
    """[{name, file, display_name, description, category, version}] for every catalogue template."""
    result = []
    directory = catalogue_dir()
    if not directory.is_dir():
        return result
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = load_file(path)
        except YamlSyntaxError:
            continue
        if not isinstance(doc, dict) or "tosca_definitions_version" not in doc:
            continue
        metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        description = doc.get("description") if isinstance(doc.get("description"), str) else ""
        result.append(
            {
                "name": path.stem,
                "file": str(path),
                "display_name": metadata.get("display_name") or path.stem,
                "description": " ".join(description.split()),
                "category": metadata.get("category") or "other",
                "version": str(metadata.get("template_version") or ""),
            }
        )
    return result
