"""Hand an Ansible Vault password to ansible-playbook (through ansible-runner) without a clear file.

ansible-runner's ``passwords``/``envvars`` end up in ``env/`` files unless suppressed, and a
``--vault-password-file`` must exist on disk. Instead, while the run lasts:

* a private temporary directory (0700) holds a Unix socket and a tiny vault-id client script;
* a thread in this process answers each connection on the socket with the password, after
  checking with SO_PEERCRED that the peer runs as our own user;
* ansible-playbook gets ``--vault-id infn_cloud@<script>``; it runs the script, which connects
  to the socket and prints the password to ansible (stdout is a pipe, never a terminal or log).

Neither the password nor anything derived from it is written to disk, to a command line or to
an environment variable. Only the script path (not a secret) appears in the command line.
It works with ansible-runner's default pexpect runner (which closes inherited fds, ruling out
a pipe), not with process isolation/containers (the socket is not mounted there).

Usage::

    with VaultPasswordChannel(load_vault_password()) as channel:
        ansible_runner.run(private_data_dir=..., playbook=..., cmdline=channel.cmdline,
                           suppress_env_files=True, ...)
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import struct
import sys
import tempfile
import threading
from pathlib import Path

from infn_cloud.secrets.local_store import VAULT_ID

_CLIENT = """#!{python}
# infn-cloud vault-id client: prints the Ansible Vault password served by the infn-cloud
# process that started this run. Contains no secret. Exit 2 = unknown vault id (ansible's rule).
import socket, sys
args = sys.argv[1:]
if "--vault-id" in args and args[args.index("--vault-id") + 1] not in ({vault_id!r}, "default"):
    sys.exit(2)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({socket_path!r})
chunks = []
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    chunks.append(chunk)
if not chunks:
    sys.stderr.write("infn-cloud vault client: no password served (is the infn-cloud run still active?)\\n")
    sys.exit(1)
sys.stdout.write(b"".join(chunks).decode("utf-8") + "\\n")
"""


class VaultPasswordChannel:
    """Context manager serving ``password`` to ansible's vault-id client script.

    Attributes once entered: ``script`` (path), ``vault_id_arg`` ("infn_cloud@<script>"),
    ``cmdline`` (the ansible-playbook option string for ansible-runner's ``cmdline=``),
    ``served`` (how many times the password was handed out; useful in tests).
    """

    def __init__(self, password: str, vault_id: str = VAULT_ID):
        if not password:
            raise ValueError("VaultPasswordChannel needs a non-empty password")
        self._password = password.encode("utf-8")
        self.vault_id = vault_id
        self.served = 0
        self.refused = 0
        self._dir: str | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def __enter__(self) -> VaultPasswordChannel:
        self._dir = tempfile.mkdtemp(prefix="infn-cloud-vault-")  # mode 0700
        socket_path = os.path.join(self._dir, "s")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(socket_path)
        os.chmod(socket_path, 0o600)
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.script = Path(self._dir) / "infn-cloud-vault-client.py"
        self.script.write_text(
            _CLIENT.format(python=sys.executable, vault_id=self.vault_id, socket_path=socket_path),
            encoding="utf-8",
        )
        os.chmod(self.script, 0o700)
        self.vault_id_arg = f"{self.vault_id}@{self.script}"
        self.cmdline = f"--vault-id {shlex.quote(self.vault_id_arg)}"
        self._thread = threading.Thread(target=self._serve, name="infn-cloud-vault-password", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                _pid, uid, _gid = struct.unpack("3i", creds)
                if uid != os.getuid():
                    self.refused += 1
                    continue
                try:
                    conn.sendall(self._password)
                    self.served += 1
                except OSError:
                    continue

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
