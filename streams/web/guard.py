"""Bearer-token checks for one request: 401 without a valid token, 403 without the permission."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from streams.web.auth import Permission, Principal
from streams.web.context import context
from streams.web.problems import ProblemError

_REALM: Final = 'Bearer realm="opel"'


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; 401 for any other kind of credential."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    # A token is printable ASCII (RFC 6750). Bytes that are not UTF-8 reach us as surrogates,
    # which no comparison may see: refused here like any other malformed credential.
    if not (header.isascii() and header.isprintable()):
        raise ProblemError(
            401,
            "unauthorized",
            "the Authorization header must be printable ASCII: 'Bearer <token>'",
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_request"'},
        )
    if scheme.lower() != "bearer" or not token:
        raise ProblemError(
            401,
            "unauthorized",
            "use an Authorization header of the form 'Bearer <token>'",
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_request"'},
        )
    return token


def require(request: web.Request, permission: Permission) -> Principal | None:
    """The caller, after checking it may do ``permission``. None: an anonymous read that is allowed."""
    auth = context(request).auth
    token = bearer_token(request)
    if token is None:
        if permission is Permission.READ and not auth.reads_require_token:
            return None
        raise ProblemError(
            401, "unauthorized", "this needs a bearer token", headers={"WWW-Authenticate": _REALM}
        )
    principal = auth.authenticate(token)
    if principal is None:
        raise ProblemError(
            401,
            "unauthorized",
            "the bearer token is not valid",
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )
    if not principal.may(permission):
        roles = ", ".join(sorted(principal.roles))
        raise ProblemError(
            403,
            "forbidden",
            f"{principal.name} ({roles}) may not {permission.value}: {_WHO_MAY[permission]} may",
        )
    return principal


def require_principal(request: web.Request, permission: Permission) -> Principal:
    principal = require(request, permission)
    if principal is None:  # pragma: no cover  (only reads are ever anonymous)
        raise ProblemError(
            401, "unauthorized", "this needs a bearer token", headers={"WWW-Authenticate": _REALM}
        )
    return principal


_WHO_MAY: Final = {
    Permission.READ: "any configured principal",
    Permission.OVERRIDE: "the escalation_group role",
    Permission.EXERCISE: "the escalation_group role",
    Permission.ACK: "the duty_manager role",
    Permission.MARK_ITEMS: "the plan role that owns an action item",
    Permission.CONFIRM_KEAH: "the keah_locality_organisers role",
    Permission.RECORD_PLACEMENTS: "the placement_coordinator role",
    Permission.SUBMIT_READINGS: "the area_submitter role",
}
