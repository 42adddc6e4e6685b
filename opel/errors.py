"""Errors the core raises. Each one names what was wrong so a person can fix the input."""

from __future__ import annotations


class OpelError(Exception):
    """Base class for every error the core raises on purpose."""


class CatalogueError(OpelError):
    """A trigger catalogue or action plan that cannot be used.

    ``source`` is the file (or catalogue name), ``path`` the place inside it, e.g.
    ``indicators.referrals.bands.dgs[3]``, and ``problem`` what is wrong there.
    """

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class InputError(OpelError):
    """A reading or submission that cannot be assessed; ``field`` names the offending field.

    ``reason`` is a short code for the dead-letter topic when the field alone does not say it
    (``future_timestamp``, ``too_old``).
    """

    def __init__(self, field: str, problem: str, reason: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.reason = reason
        super().__init__(f"{field}: {problem}")
