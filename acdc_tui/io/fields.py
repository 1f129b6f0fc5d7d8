"""Typed fields of a parsed JSON document, checked one by one.

Each reader names the place of a bad value (`edges[3].delta`) and what it must be; the file
readers turn a FieldError into one UserError line that also names the file and the fix.
"""

from __future__ import annotations

import math
from typing import Any, Iterable


class FieldError(Exception):
    """A value of the wrong type or range at `where` (internal: readers re-raise it as a UserError)."""

    def __init__(self, where: str, expected: str, value: Any = None, *, missing: bool = False) -> None:
        self.where, self.expected = where, expected
        super().__init__(f"{where} is missing" if missing else f"{where} must be {expected}, not {describe(value)}")


def describe(value: Any) -> str:
    """A short description of a JSON value: never a cut repr, whatever the value's size."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"a string of {len(value)} characters"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


def field(doc: dict, key: str, where: str) -> Any:
    """doc[key], or a FieldError naming the missing key."""
    if key not in doc:
        raise FieldError(f"{where}.{key}" if where else key, "present", missing=True)
    return doc[key]


def need_dict(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise FieldError(where, "an object", value)
    return value


def need_list(value: Any, where: str, non_empty: bool = False) -> list:
    if not isinstance(value, list):
        raise FieldError(where, "a list", value)
    if non_empty and not value:
        raise FieldError(where, "a non-empty list", value)
    return value


def need_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(where, "true or false", value)
    return value


def need_int(value: Any, where: str, minimum: int = 0, optional: bool = False) -> int | None:
    """An integer (not a boolean, not 2.0) of at least `minimum`; null too when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer of at least {minimum}" + (" or null" if optional else "")
        raise FieldError(where, kind, value)
    return value


def need_number(value: Any, where: str, optional: bool = True, minimum: float | None = None) -> float | None:
    """A finite number (an int counts, a boolean or a string does not); null too when `optional`."""
    if value is None and optional:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" of at least {minimum:g}"
        raise FieldError(where, f"a finite number{bound}" + (" or null" if optional else ""), value)
    return value


def need_str(value: Any, where: str, optional: bool = True, choices: Iterable[str] | None = None) -> str | None:
    if value is None and optional:
        return None
    allowed = None if choices is None else tuple(choices)
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        kind = "a string" if allowed is None else "one of " + ", ".join(repr(c) for c in allowed)
        raise FieldError(where, kind + (" or null" if optional else ""), value)
    return value


def check_optional(doc: dict, where: str, checks: dict) -> None:
    """Apply `checks[key](value, where.key)` to each key of `doc` that is present."""
    for key, check in checks.items():
        if key in doc:
            check(doc[key], f"{where}.{key}" if where else key)
