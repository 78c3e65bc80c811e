"""Deployment lifecycle (deploy, retry, delete) used by the CLI; see lifecycle.py."""

from __future__ import annotations

from infn_cloud.deploy.lifecycle import DeployRequest, Lifecycle, Timeouts, deployment_dir

__all__ = ["DeployRequest", "Lifecycle", "Timeouts", "deployment_dir"]
