"""Ports a compute node declares (TOSCA endpoint port specs in the plan), checked once.

The plan lists each node's ports as ``{port, protocol, remote_cidr}``; `make_plan` checks them
(exit 2 before anything is created) and the OpenStack driver turns the same parsed rules into
security group rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from infn_cloud.errors import ValidationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PortRule(NamedTuple):
    protocol: str
    low: int
    high: int
    network: Network


def network(cidr, where: str) -> Network:
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        raise ValidationError(
            f"{where}: remote_cidr {cidr!r} is not a network",
            details=["expected CIDR notation, e.g. 0.0.0.0/0 or 10.0.0.0/8"],
        ) from None


def port_rules(node: str, ports) -> list[PortRule]:
    """The parsed ports of one node; ValidationError naming the node and port for a bad one."""
    rules: list[PortRule] = []
    for i, port in enumerate(ports or []):
        where = f"node {node}: ports[{i}]"
        if not isinstance(port, dict):
            raise ValidationError(f"{where}: expected a port spec mapping, got {port!r}")
        text = str(port.get("port"))
        match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
        low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
        if not match or not 1 <= low <= high <= 65535:
            raise ValidationError(
                f"{where}: port {port.get('port')!r} is not a port",
                details=["expected a number 1-65535 or a range LOW-HIGH"],
            )
        protocol = str(port.get("protocol") or "tcp").lower()
        if protocol not in ("tcp", "udp"):
            raise ValidationError(f"{where}: protocol {protocol!r}", details=["expected tcp or udp"])
        rule = PortRule(protocol, low, high, network(port.get("remote_cidr") or "0.0.0.0/0", where))
        if rule not in rules:
            rules.append(rule)
    return rules


def check_plan_ports(plan: dict, template: str) -> None:
    """Every compute node's ports parse (make_plan: refused before any site is asked)."""
    for node, entry in (plan.get("compute") or {}).items():
        try:
            port_rules(node, entry.get("ports"))
        except ValidationError as exc:
            raise ValidationError(f"{template}: {exc.message}", details=exc.details) from None
