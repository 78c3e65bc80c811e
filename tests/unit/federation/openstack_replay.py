"""Replay OpenStack API exchanges on 127.0.0.1 (fast; the real cloud: tests/integration/openstack).

The exchanges in tests/fixtures/openstack/ are written by hand from the OpenStack API reference,
not recorded from a live cloud (see the README there). A scenario file holds ``exchanges``: each
a request (method, path, optional query subset and JSON body subset) and the response to send.
Requests are matched against the unconsumed exchanges in order, the scenario's before
``common.json``'s (so a scenario can override a version document); exchanges with ``"repeat":
true`` (Keystone token, version discovery) answer any number of times. ``{{base}}`` in a response
is replaced with the server's URL, so the Keystone catalog points back at it. Unmatched requests
get HTTP 599 and are recorded, so a test can assert the driver made exactly the listed calls.
An exchange with ``"kill_client": true`` calls ``Replay.on_kill`` instead of answering (a test
kills the client process there: the cloud did the work, the client never saw the answer).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openstack"


def _subset(want, have) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _subset(v, have[k]) for k, v in want.items())
    return want == have


class Replay:
    def __init__(self, *scenario_names: str):
        self.exchanges: list[dict] = []
        for name in (*scenario_names, "common"):
            data = json.loads((FIXTURES / f"{name}.json").read_text())
            self.exchanges.extend(data["exchanges"])
        self.used = [False] * len(self.exchanges)
        self.log: list[dict] = []
        self.unmatched: list[dict] = []
        self.lock = threading.Lock()
        self.on_kill = None  # callable run when an exchange marked kill_client is matched
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Replay:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def pending(self) -> list[str]:
        """Recorded (non-repeat) exchanges the driver never made."""
        return [
            f"{e['request']['method']} {e['request']['path']}"
            for e, used in zip(self.exchanges, self.used, strict=True)
            if not used and not e.get("repeat") and not e.get("optional")
        ]

    def calls(self, method: str | None = None) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.log if method is None or r["method"] == method]

    def _match(self, method: str, path: str, query: dict, body) -> dict | None:
        """The first unconsumed exchange matching the request (marked used), or None."""
        with self.lock:
            for i, ex in enumerate(self.exchanges):
                req = ex["request"]
                if self.used[i] and not ex.get("repeat"):
                    continue
                if req["method"] != method or req["path"].rstrip("/") != path.rstrip("/"):
                    continue
                if any(query.get(k) != [v] for k, v in (req.get("query") or {}).items()):
                    continue
                if "json" in req and not _subset(req["json"], body):
                    continue
                self.used[i] = True
                return ex
        return None

    def _handler(self):
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                query = parse_qs(url.query)
                entry = {
                    "method": self.command,
                    "path": url.path,
                    "query": query,
                    "json": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                replay.log.append(entry)
                exchange = replay._match(self.command, url.path, query, body)
                if exchange is not None and exchange.get("kill_client") and replay.on_kill:
                    replay.on_kill()
                    self.close_connection = True
                    return
                resp = exchange["response"] if exchange is not None else None
                if resp is None:
                    replay.unmatched.append(entry)
                    resp = {
                        "status": 599,
                        "json": {"error": f"no recorded exchange for {self.command} {self.path}"},
                    }
                payload = b""
                if "json" in resp:
                    payload = json.dumps(resp["json"]).replace("{{base}}", replay.base).encode()
                self.send_response(resp.get("status", 200))
                headers = {"Content-Type": "application/json", **(resp.get("headers") or {})}
                for key, value in headers.items():
                    self.send_header(key, value.replace("{{base}}", replay.base))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        return Handler


def clouds_yaml(tmp_path: Path, base: str, name: str = "replay") -> Path:
    """A clouds.yaml pointing at the replay server (password auth; the token is canned)."""
    path = tmp_path / "clouds.yaml"
    path.write_text(
        json.dumps(
            {
                "clouds": {
                    name: {
                        "auth_type": "v3password",
                        "auth": {
                            "auth_url": f"{base}/identity/v3",
                            "username": "demo",
                            "password": "demo-password",
                            "project_name": "INFN-CLOUD",
                            "user_domain_name": "Default",
                            "project_domain_name": "Default",
                        },
                        "region_name": "RegionOne",
                        "identity_api_version": "3",
                    }
                }
            }
        )
    )
    return path
