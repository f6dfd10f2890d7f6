"""exo v1's REST API (default port 52415), standard library only.

GET /state, GET /models, GET /instance/placement (exo's dry run), POST /instance. exo
answers errors as {"error": {"message", "type", "code"}}; those become ExoRefused with
exo's message, a connection failure ApiUnreachable.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from ..errors import InputError, RunFailed

DEFAULT_TIMEOUT = 10.0


class ApiUnreachable(RunFailed):
    """No exo API answers at that URL."""


class ExoRefused(RunFailed):
    """exo answered with an error status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def check_url(url: str) -> str:
    u = urllib.parse.urlsplit(url or "")
    if u.scheme not in ("http", "https") or not u.netloc:
        raise InputError(f"--api {url!r}: expected exo's API base URL, like http://127.0.0.1:52415")
    return url.rstrip("/")


def _message(body: bytes) -> str:
    try:
        d = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(d, dict):
        e = d.get("error")
        if isinstance(e, dict) and e.get("message"):
            return str(e["message"])
        if d.get("detail"):
            return str(d["detail"])
    return json.dumps(d)[:300]


class ExoApi:
    def __init__(self, base: str, timeout: float = DEFAULT_TIMEOUT):
        self.base = check_url(base)
        self.timeout = timeout

    def _call(self, method: str, path: str, query: dict | None = None, body: Any = None) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise ExoRefused(f"exo refused {method} {path}: {e.code} {_message(e.read())}", e.code) from None
        except (urllib.error.URLError, OSError) as e:
            why = getattr(e, "reason", e)
            raise ApiUnreachable(f"exo's API at {self.base} is unreachable ({why})") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ExoRefused(f"exo's {method} {path} answered something that is not JSON", 200) from None

    def state(self) -> dict:
        s = self._call("GET", "/state")
        if not isinstance(s, dict) or "topology" not in s:
            raise ExoRefused(f"{self.base}/state is not exo v1's state (no topology)", 200)
        return s

    def model_ids(self) -> list[str]:
        d = self._call("GET", "/models")
        return [str(m.get("id")) for m in (d.get("data") or []) if isinstance(m, dict)] if isinstance(d, dict) else []

    def placement(self, model_id: str, min_nodes: int, sharding: str = "Pipeline",
                  instance_meta: str = "MlxRing") -> dict:
        return self._call("GET", "/instance/placement", {"model_id": model_id, "sharding": sharding,
                                                          "instance_meta": instance_meta, "min_nodes": min_nodes})

    def create_instance(self, instance: dict) -> dict:
        return self._call("POST", "/instance", body={"instance": instance})

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float, interval: float = 0.2) -> dict:
        """Poll /state until predicate(state); RunFailed after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if predicate(s):
                return s
            if time.monotonic() >= deadline:
                raise RunFailed(f"exo accepted the instance but its state did not hold it within {timeout:g} s")
            time.sleep(interval)
