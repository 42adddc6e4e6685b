"""A small HTTP client of the exercise API, for ``opel exercise start|stop|status``.

Standard library only (the CLI stays light), talking to one opel server. Any answer that is not
a success is an :class:`ApiError` whose message is one line: the server's problem ``detail``
(which names the field at fault), or why the server could not be reached.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Final

from opel.contracts.exercise_state import ExerciseState

DEFAULT_URL: Final = "http://127.0.0.1:8080"
"""Where ``opel run`` serves the API by default (``OPEL_WEB_PORT`` 8080, streams/settings.py)."""
TOKEN_ENV: Final = "OPEL_API_TOKEN_ESCALATION_GROUP"
"""The escalation group's token variable in config/api.example.yaml: the server's and the CLI's."""
TIMEOUT_SECONDS: Final = 60.0


class ApiError(Exception):
    """``status`` is the HTTP status, or None when the server could not be reached."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


class ExerciseClient:
    def __init__(self, url: str = DEFAULT_URL, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    @classmethod
    def from_env(cls, url: str, token_env: str = TOKEN_ENV) -> ExerciseClient:
        return cls(url, os.environ.get(token_env) or None)

    def start(self, scenario_text: str, speed: float) -> ExerciseState:
        return ExerciseState.model_validate(
            self._call("POST", "/exercise", {"scenario": scenario_text, "speed": speed})
        )

    def stop(self) -> ExerciseState:
        return ExerciseState.model_validate(self._call("POST", "/exercise/stop"))

    def status(self) -> ExerciseState:
        return ExerciseState.model_validate(self._call("GET", "/exercise"))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _problem(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(None, f"cannot reach the opel API at {self.url}: {reason}") from None


def _problem(exc: urllib.error.HTTPError) -> str:
    """The problem's ``detail`` (RFC 9457), else the status line."""
    try:
        body = json.loads(exc.read())
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"{exc.code}: {detail}" if isinstance(detail, str) else f"{exc.code} {exc.reason}"
