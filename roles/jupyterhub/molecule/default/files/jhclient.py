#!/usr/bin/env python3
"""Drive JupyterHub like a browser: OIDC login at the provider's form, spawn, contents API.

Runs on a container of the test network; prints one JSON document for the tests to check.
  jhclient.py login USER PASSWORD
  jhclient.py write USER PASSWORD PATH TEXT   (login, spawn, PUT a notebook, read it back)
  jhclient.py read USER PASSWORD PATH         (login, spawn, GET the notebook)
"""

import json
import re
import sys
import time
from urllib.parse import urljoin, urlparse

import requests

HUB = "https://jupyterhub-hub"
CA = "/etc/jupyterhub-test/hub.crt"


def login(session, user, password):
    """Return (response, visited hosts) after the whole authorization code flow."""
    form = session.get(f"{HUB}/hub/oauth_login", timeout=30)
    form.raise_for_status()
    action = re.search(r'<form method="post" action="([^"]+)"', form.text)
    if not action:
        raise SystemExit(f"no login form at {form.url}: {form.status_code} {form.text[:200]}")
    final = session.post(
        urljoin(form.url, action.group(1)),
        data={"username": user, "password": password},
        timeout=60,
    )
    hosts = [urlparse(r.url).netloc for r in final.history] + [urlparse(final.url).netloc]
    return final, hosts, urlparse(form.url).netloc


def spawn(session, user, timeout=150):
    """Start the user's server (if needed) and wait until its API answers."""
    started = time.monotonic()
    session.get(f"{HUB}/hub/spawn/{user}", timeout=60)
    deadline = started + timeout
    while time.monotonic() < deadline:
        # A page load goes through the hub's OAuth into the user's server (API calls would
        # get 403 without that cookie) and sets the server's _xsrf cookie, needed for writes.
        # While the server starts, the hub answers with its spawn-pending page instead.
        r = session.get(f"{HUB}/user/{user}/lab", timeout=30)
        if r.status_code == 200 and urlparse(r.url).path.startswith(f"/user/{user}/"):
            status = session.get(f"{HUB}/user/{user}/api/status", timeout=30)
            if status.status_code == 200:
                return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"server of {user} not ready after {timeout}s (last: {r.status_code} {r.url})")


def xsrf_headers(session, user):
    token = session.cookies.get("_xsrf", path=f"/user/{user}/") or session.cookies.get("_xsrf")
    return {"X-XSRFToken": token} if token else {}


def notebook(text):
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "persist",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": text,
            }
        ],
    }


def main(argv):
    command, user, password = argv[1:4]
    session = requests.Session()
    session.verify = CA
    final, hosts, idp = login(session, user, password)
    result = {"status": final.status_code, "url": final.url, "hosts": hosts, "idp": idp}
    if final.status_code == 200:
        result["admin_page"] = session.get(f"{HUB}/hub/admin", timeout=30).status_code
    if command == "login" or final.status_code != 200:
        print(json.dumps(result))
        return 0
    result["spawn_seconds"] = round(spawn(session, user), 1)
    url = f"{HUB}/user/{user}/api/contents/{argv[4]}"
    if command == "write":
        put = session.put(
            url,
            json={"type": "notebook", "format": "json", "content": notebook(argv[5])},
            headers=xsrf_headers(session, user),
            timeout=30,
        )
        result["put_status"] = put.status_code
    got = session.get(url, params={"content": "1"}, timeout=30)
    result["get_status"] = got.status_code
    if got.status_code == 200:
        result["source"] = got.json()["content"]["cells"][0]["source"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
