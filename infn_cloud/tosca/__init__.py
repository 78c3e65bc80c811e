"""The TOSCA engine: load, validate and plan TOSCA service templates, offline.

Public API (used by the CLI and the infn.cloud.tosca_plan module):

- load_template(path, import_map=None) -> Template
- validate(path, inputs=None, import_map=None, require_inputs=False) -> ValidationReport
- make_plan(path, inputs=None, import_map=None) -> dict (the plan contract of docs/tosca.md)
"""

from __future__ import annotations

from infn_cloud.tosca.api import load_template, make_plan, validate
from infn_cloud.tosca.model import Problem, ValidationReport

__all__ = ["Problem", "ValidationReport", "load_template", "make_plan", "validate"]
