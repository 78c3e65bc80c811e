"""Nova compute driver for the dev OpenStack: Nova's FakeDriver plus test hooks.

Loaded by nova-compute (``compute_driver = infn_fake_virt.HookedFakeDriver``, this folder on
its PYTHONPATH). Servers still go through the real API, scheduler, placement, conductor,
Neutron port binding and Cinder attachments; only the hypervisor is fake. The hooks:

- console output: what cloud-init prints at first boot, with an SSH host key block whose
  ed25519 key is derived from the server's uuid (the driver pins it from there);
- a spawn that fails: if ``$INFN_FAKE_VIRT_STATE/fail-spawn`` exists and a line of it is
  contained in the server's name, spawn raises and Nova puts the server in ERROR;
- a slow spawn: ``$INFN_FAKE_VIRT_STATE/spawn-delay`` holds seconds to sleep in spawn (servers
  stay BUILD meanwhile: the window a test kills the client in).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from pathlib import Path

from nova import exception
from nova.virt import fake

STATE = Path(os.environ.get("INFN_FAKE_VIRT_STATE", "/nonexistent"))


def host_key(uuid: str) -> str:
    """A well-formed ``ssh-ed25519`` public key line, fixed per server uuid."""

    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    blob = field(b"ssh-ed25519") + field(hashlib.sha256(uuid.encode()).digest())
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


class HookedFakeDriver(fake.FakeDriver):
    def spawn(self, context, instance, *args, **kwargs):
        fail = STATE / "fail-spawn"
        if fail.exists():
            for word in fail.read_text().split():
                if word and word in (instance.display_name or ""):
                    raise exception.NovaException(f"infn_fake_virt: spawn of {instance.display_name} refused")
        delay = STATE / "spawn-delay"
        if delay.exists():
            time.sleep(float(delay.read_text().strip() or 0))
        return super().spawn(context, instance, *args, **kwargs)

    def get_console_output(self, context, instance):
        return (
            f"[    1.000000] Linux version 6.1.0 (fake)\n"
            f"ci-info: no authorized SSH keys fingerprints found for user debian.\n"
            f"<14>Dec  1 00:00:00 cloud-init: #############################################################\n"
            f"<14>Dec  1 00:00:00 cloud-init: -----BEGIN SSH HOST KEY KEYS-----\n"
            f"<14>Dec  1 00:00:00 cloud-init: {host_key(instance.uuid)} root@{instance.hostname}\n"
            f"<14>Dec  1 00:00:00 cloud-init: -----END SSH HOST KEY KEYS-----\n"
            f"<14>Dec  1 00:00:00 cloud-init: #############################################################\n"
        )
