"""One wording for pydantic validation errors, whoever shows them: a JSON line, a Kafka message,
a YAML catalogue, an action plan, a routing file or an ``OPEL_*`` setting.

:func:`field_problems` turns a :class:`~pydantic.ValidationError` into one :class:`FieldProblem`
per error: where (``actions[7].level``) and what (``must be a whole number, got 'two'``). The
callers only choose how many to show and how to name the place; the wording is the same everywhere.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

# Wording for the type errors a hand-edited file or a hand-written message is likely to hit;
# pydantic's own ("Input should be a valid integer") names Python types, not what to write.
_PLAIN: Mapping[str, str] = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "string_type": "must be text (quote values that look like numbers)",
    "date_type": "must be a date written YYYY-MM-DD, unquoted",
    "bool_type": "must be true or false",
}

# pydantic marks a bad mapping key with this element; the key itself is the element before it.
_KEY_MARK = "[key]"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong: ``path`` is the place (``""`` for the input as a whole), ``problem`` what."""

    loc: tuple[int | str, ...]
    path: str
    problem: str
    type: str


Explain = Callable[[ErrorDetails], str | None]
"""A caller's own wording for some errors (``None``: use the common one)."""


def field_problems(
    exc: ValidationError,
    *,
    model: Any = None,
    data: Any = None,
    noun: str = "field",
    prefix: str = "",
    explain: Explain | None = None,
    show_input: bool = True,
) -> list[FieldProblem]:
    """Every error in ``exc``, in pydantic's order, worded for a person.

    ``model`` (the validated type) lets an unknown key list the known ones and keeps the tags of
    discriminated unions out of paths; ``data`` (the validated input) tells integer mapping keys
    from list indexes when there is no model. ``noun`` is what the input's keys are called
    (``field``, ``key``, ``setting``); ``prefix`` is the path of the validated part in a larger file.
    ``show_input=False`` leaves the offending values out, for answers that must not echo them.
    """
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path, allowed = _walk(model, data, loc, prefix)
        problem = explain(error) if explain is not None else None
        if problem is None:
            problem = _problem(error, noun, allowed, show_input)
        problems.append(FieldProblem(loc, path, problem, error["type"]))
    return problems


def first_problem(problems: Sequence[FieldProblem]) -> tuple[str, str]:
    """``(path, problem)`` of the first problem, saying how many more there are."""
    first = problems[0]
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return first.path, first.problem + suffix


def join_problems(problems: Sequence[FieldProblem], *, whole: str = "(line)") -> str:
    """All problems on one line, ``path: problem; ...``; ``whole`` names the input as a whole."""
    return "; ".join(f"{p.path or whole}: {p.problem}" for p in problems)


def _problem(error: ErrorDetails, noun: str, allowed: Sequence[str] | None, show_input: bool) -> str:
    kind = error["type"]
    given = error.get("input")
    scalar = show_input and not isinstance(given, dict | list | tuple)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        details = [f"value {given!r}"] if scalar else []
        if allowed:
            details.append(f"known: {', '.join(allowed)}")
        return f"is not a known {noun}" + (f" ({'; '.join(details)})" if details else "")
    message = _PLAIN.get(kind) or _sentence(str(error["msg"]).removeprefix("Value error, "))
    hint = ""
    if kind == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        message = pattern_problem(pattern)
        if scalar and isinstance(given, str):
            hint = _did_you_mean(pattern, given)
    if _KEY_MARK in error["loc"]:
        message = f"bad key: {message}"
    if "got" in message or not scalar:
        return message
    return f"{message}, got {given!r}{hint}"


# A scope key's pattern (opel.feeds.ScopeKey) is too rich to put in words generically.
_FORMS: Mapping[str, str] = {
    r"^(indicator/[a-z][a-z0-9_]*/|area/|county/|site/|system/)[a-z][a-z0-9_-]*$": (
        "must be a scope: indicator/<indicator>/<area>, area/<area>, county/<county>, site/<site> "
        "or system/<system>, in lower case (e.g. area/east_kent)"
    ),
}
_ID_PATTERN = re.compile(r"^\^\[([^\]]+)\]\[([^\]]+)\](\*|\+|\{0,(\d+)\})\$$")
_RANGES: Mapping[str, tuple[str, str]] = {
    "a-z": ("a lower-case letter", "lower-case letters"),
    "A-Z": ("a capital letter", "capital letters"),
    "A-Za-z": ("a letter", "letters"),
    "a-zA-Z": ("a letter", "letters"),
    "0-9": ("a digit", "digits"),
}


def pattern_problem(pattern: str) -> str:
    """What a string matching ``pattern`` looks like, in words: ``must follow the id pattern:
    a lower-case letter, then lower-case letters, digits or _ (no spaces or capitals)``.

    Handles the id patterns the models use (a first-character class, then a repeated class);
    any other pattern is quoted as it is.
    """
    if pattern in _FORMS:
        return _FORMS[pattern]
    match = _ID_PATTERN.match(pattern)
    parts = _id_classes(match)
    if match is None or parts is None:
        return f"must match the regular expression {pattern!r}"
    (first, _), (_, rest) = parts
    limit = f", at most {int(match.group(4)) + 1} characters" if match.group(4) else ""
    classes = match.group(1) + match.group(2)
    lower, upper = "a-z" in classes, "A-Z" in classes
    avoid = (
        "spaces or capitals"
        if lower and not upper
        else "spaces or lower case"
        if upper and not lower
        else "spaces"
    )
    return f"must follow the id pattern: {_either(first)}, then {_either(rest)}{limit} (no {avoid})"


def _id_classes(
    match: re.Match[str] | None,
) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]] | None:
    if match is None:
        return None
    first, rest = _class_words(match.group(1)), _class_words(match.group(2))
    return None if first is None or rest is None else (first, rest)


def _class_words(body: str) -> tuple[list[str], list[str]] | None:
    """``a-z0-9_`` -> (["a lower-case letter", "a digit", "_"], ["lower-case letters", "digits", "_"])."""
    one: list[str] = []
    many: list[str] = []
    for whole in ("A-Za-z", "a-zA-Z"):
        if whole in body:
            body = body.replace(whole, "")
            one.append(_RANGES[whole][0])
            many.append(_RANGES[whole][1])
    while body:
        if len(body) >= 3 and body[1] == "-":
            names = _RANGES.get(body[:3])
            if names is None:
                return None
            one.append(names[0])
            many.append(names[1])
            body = body[3:]
        elif body[0] in "_-.":
            one.append(body[0])
            many.append(body[0])
            body = body[1:]
        else:
            return None
    return one, many


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _did_you_mean(pattern: str, given: str) -> str:
    """`` (did you mean 'east_kent'?)`` when an obvious rewriting of ``given`` fits ``pattern``."""
    match = _ID_PATTERN.match(pattern)
    parts = _id_classes(match)
    if match is None or parts is None:
        return ""
    allowed = parts[1][1]
    joiner = "_" if "_" in allowed else "-" if "-" in allowed else ""
    text = given.strip()
    text = text.lower() if "a-z" in match.group(1) + match.group(2) else text.upper()
    candidate = re.sub(r"[^0-9A-Za-z]+", joiner, text).strip(joiner) if joiner else text
    fits = re.fullmatch(pattern, candidate) is not None
    return f" (did you mean {candidate!r}?)" if fits and candidate != given else ""


def _sentence(message: str) -> str:
    """Lower-case the first word so the message reads on after ``path: ``, unless it is a name."""
    if message[:1].isupper() and message[1:2].islower():
        return message[:1].lower() + message[1:]
    return message


def _walk(
    model: Any, data: Any, loc: tuple[int | str, ...], prefix: str
) -> tuple[str, tuple[str, ...] | None]:
    """The printable path of ``loc`` and, if it ends at an unknown key, the keys the model knows."""
    path = prefix
    kind: Any = model
    node: Any = data
    parent: Any = model
    for item in loc:
        if item == _KEY_MARK:
            continue
        members = _models_of(kind)
        if isinstance(item, str) and len(members) > 1 and any(_tag_of(m) == item for m in members):
            # pydantic names the union member it tried; the member's tag field already says which.
            kind = next(m for m in members if _tag_of(m) == item)
            continue
        # An integer is a list index unless the type (or, lacking one, the data) is a mapping.
        index = _is_list(kind) if kind is not None else not isinstance(node, dict)
        if isinstance(item, int) and index:
            path += f"[{item}]"
        else:
            path += f".{item}" if path else str(item)
        parent = kind
        kind = _child_type(kind, item)
        node = _child_data(node, item)
    allowed = _fields_of(parent) if loc else _fields_of(model)
    return path, allowed


def _strip(kind: Any) -> Any:
    while get_origin(kind) is Annotated:
        kind = get_args(kind)[0]
    return kind


def _members(kind: Any) -> tuple[Any, ...]:
    kind = _strip(kind)
    if get_origin(kind) in (Union, types.UnionType):
        return tuple(m for m in (_strip(a) for a in get_args(kind)) if m is not type(None))
    return (kind,)


def _models_of(kind: Any) -> list[type[BaseModel]]:
    return [m for m in _members(kind) if isinstance(m, type) and issubclass(m, BaseModel)]


def _tag_of(model: type[BaseModel]) -> str | None:
    """The value of a model's single-valued ``Literal`` field: its tag in a discriminated union."""
    for info in model.model_fields.values():
        annotation = _strip(info.annotation)
        if get_origin(annotation) is Literal and len(get_args(annotation)) == 1:
            return str(get_args(annotation)[0])
    return None


def _is_list(kind: Any) -> bool:
    return any(get_origin(m) in (list, tuple, Sequence) or m in (list, tuple) for m in _members(kind))


def _child_type(kind: Any, item: int | str) -> Any:
    if kind is None:
        return None
    for member in _members(kind):
        if isinstance(member, type) and issubclass(member, BaseModel):
            info = member.model_fields.get(str(item))
            if info is not None:
                return info.annotation
            continue
        origin, args = get_origin(member), get_args(member)
        if origin in (dict, Mapping) and len(args) == 2:
            return args[1]
        if origin in (list, Sequence) and args:
            return args[0]
        if origin is tuple and args:
            index = item if isinstance(item, int) else 0
            return args[0] if len(args) == 2 and args[1] is Ellipsis else args[min(index, len(args) - 1)]
    return None


def _child_data(node: Any, item: int | str) -> Any:
    if isinstance(node, list) and isinstance(item, int):
        return node[item] if 0 <= item < len(node) else None
    if isinstance(node, dict):
        return node.get(item, node.get(str(item)))
    return None


def _fields_of(kind: Any) -> tuple[str, ...] | None:
    models = _models_of(kind) if kind is not None else []
    if len(models) != 1:
        return None
    return tuple(models[0].model_fields)
