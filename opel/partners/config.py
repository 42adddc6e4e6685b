"""The partners file: each partner's webhook, its secret's variable, what it wants, how to retry.

Checked whole at load: an unknown key, a bad URL, an unset or malformed secret or a scope that
is neither a kind nor a scope key is a :class:`PartnersError` naming the key, so a typo never
leaves a partner silently without its events. The file holds no secret, only the name of the
environment variable that does (as config/api.example.yaml does for tokens).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from opel.contracts.base import LevelNumber, ScopeKindName
from opel.errors import CatalogueError
from opel.validation_errors import field_problems
from opel.yaml_files import read_yaml_file

SECRET_PREFIX: Final = "whsec_"
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
"""The Standard Webhooks specification's bounds for a signing key."""
SCOPE_KINDS: Final[frozenset[str]] = frozenset(get_args(ScopeKindName))

PartnerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Mode = Literal["binary", "structured"]


class PartnersError(CatalogueError):
    """A partners file that cannot be used: ``source`` is the file, ``path`` the key in it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retry(_Strict):
    """Attempts in all (the first included) and the doubling wait between them, capped."""

    attempts: int = Field(default=6, ge=1, le=20)
    first_delay_seconds: float = Field(default=1.0, gt=0, le=3600)
    max_delay_seconds: float = Field(default=60.0, gt=0, le=3600)

    def delay(self, failed_attempts: int) -> timedelta:
        """The wait after the ``failed_attempts``-th failure (1-based): 1 s, 2 s, 4 s ... capped."""
        seconds = self.first_delay_seconds * 2 ** (failed_attempts - 1)
        return timedelta(seconds=min(seconds, self.max_delay_seconds))


class PartnerEntry(_Strict):
    """One partner as written in the file (``secret_env`` names the variable, not the secret)."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    mode: Mode = "structured"
    secret_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    scopes: tuple[str, ...] = ()
    min_level: LevelNumber = 1
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry: Retry = Retry()

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        for scope in scopes:
            kind, slash, rest = scope.partition("/")
            if kind not in SCOPE_KINDS or (slash and not rest):
                raise ValueError(
                    f"{scope!r} is neither a kind of scope ({', '.join(sorted(SCOPE_KINDS))}) "
                    "nor a scope key such as area/east_kent"
                )
        return scopes


class PartnersFile(_Strict):
    partners: dict[PartnerName, PartnerEntry] = Field(default_factory=dict)


class Partner(BaseModel):
    """A partner ready to deliver to: the file's entry with its signing key read and decoded."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    mode: Mode
    key: bytes = Field(repr=False)
    scopes: tuple[str, ...]
    min_level: int
    timeout_seconds: float
    retry: Retry

    def __repr__(self) -> str:  # never print the key
        return f"Partner(name={self.name!r}, url={self.url!r}, mode={self.mode!r})"


def decode_secret(secret: str) -> bytes:
    """The signing key of a ``whsec_<base64>`` secret; ValueError says what is wrong, not the value."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} (a Standard Webhooks secret)")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not base64 after {SECRET_PREFIX!r}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"decodes to {len(key)} bytes; {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} are needed")
    return key


def build_partners(
    data: Mapping[str, Any], source: str, *, env: Mapping[str, str] | None = None
) -> tuple[Partner, ...]:
    """Validate a parsed partners file and read each partner's secret from ``env`` (default os.environ)."""
    environ = os.environ if env is None else env
    try:
        parsed = PartnersFile.model_validate(data)
    except ValidationError as exc:
        first, *rest = field_problems(exc, model=PartnersFile, noun="key")
        # Every problem at once: a typo often shows as both an unknown key and a missing one.
        more = "".join(f"; {p.path}: {p.problem}" for p in rest)
        raise PartnersError(source, first.path, first.problem + more) from None
    partners = []
    for name, entry in parsed.partners.items():
        where = f"partners.{name}.secret_env"
        secret = environ.get(entry.secret_env)
        if not secret:
            raise PartnersError(source, where, f"environment variable {entry.secret_env} is not set")
        try:
            key = decode_secret(secret)
        except ValueError as exc:
            raise PartnersError(source, where, f"{entry.secret_env} {exc}") from None
        partners.append(
            Partner(
                name=name,
                url=entry.url,
                mode=entry.mode,
                key=key,
                scopes=entry.scopes,
                min_level=entry.min_level,
                timeout_seconds=entry.timeout_seconds,
                retry=entry.retry,
            )
        )
    return tuple(partners)


def load_partners(path: str | Path, *, env: Mapping[str, str] | None = None) -> tuple[Partner, ...]:
    """Read and check a partners file; any problem is a :class:`PartnersError` naming the key."""
    try:
        data = read_yaml_file(path, error=PartnersError)
    except PartnersError as exc:
        # The YAML error quotes the offending line, which could be a pasted secret.
        raise PartnersError(exc.source, exc.path, exc.problem) from None
    return build_partners(data, str(path), env=env)
