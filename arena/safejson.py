"""JSON in and out at the edge: strict parsing of what clients send, safe encoding of
what the server answers.

Python's :func:`json.loads` accepts more than JSON: ``NaN``, ``Infinity`` and
``1e999`` (an infinite float), and any nesting depth until the interpreter's
recursion limit (a ``RecursionError``, not a ``ValueError``). A stored infinite
number later breaks every answer that includes it (Starlette encodes with
``allow_nan=False``), and a deep document costs a traceback. So every client
frame and API body goes through :func:`loads`, which refuses all of that as
malformed input, and every JSON answer goes through :class:`SafeJSONResponse`,
which writes a non-finite number already stored (by an older version) as
``null`` instead of failing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "STORED_LIMIT",
    "JSONInputError",
    "SafeJSONResponse",
    "ascii_int",
    "finite",
    "loads",
]

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted (protocol messages need 4)."""
MAX_INT = 2**63 - 1
"""Largest integer magnitude accepted (what a database integer column holds)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_ASCII_INT = re.compile(r"-?[0-9]+")


class JSONInputError(ValueError):
    """Input that is not strict JSON within the limits; the message says why."""


def _constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(f"number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 20:  # also spares int() the quadratic work on long digit strings
        raise JSONInputError(f"integer {text[:20]}... is out of range")
    value = int(text)
    if abs(value) > MAX_INT:
        raise JSONInputError(f"integer {text} is out of range (at most {MAX_INT})")
    return value


def _check_depth(text: str, limit: int) -> None:
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                raise JSONInputError(f"nested deeper than {limit} levels")
        else:
            depth -= 1


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, numbers: bool = True) -> Any:
    """Parse strict JSON: at most ``max_depth`` levels of nesting and, with
    ``numbers``, finite numbers only (integers within :data:`MAX_INT`); raises
    :class:`JSONInputError` otherwise.

    ``numbers=False`` leaves ``NaN``, ``Infinity``, ``1e999`` and big integers in
    (as Python floats and ints) for a typed model to refuse with the field's
    name, as :func:`arena.protocol.parse_client_frame` does.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"not UTF-8: {exc}") from None
    _check_depth(text, max_depth)
    hooks: dict[str, Any] = (
        {"parse_constant": _constant, "parse_float": _float, "parse_int": _int} if numbers else {}
    )
    try:
        return json.loads(text, **hooks)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("nested too deeply") from None
    except ValueError as exc:
        raise JSONInputError(f"not valid JSON: {exc}") from None


def finite(value: Any, limit: float = math.inf) -> Any:
    """``value`` with every float (at any depth) that is not finite, or whose
    magnitude exceeds ``limit``, replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= limit else None
    if isinstance(value, dict):
        return {k: finite(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v, limit) for v in value]
    return value


STORED_LIMIT = 1e12
"""Stored client figures beyond this magnitude (older versions accepted any) are
read as missing: no sum of them can overflow, no page shows them."""


def ascii_int(text: str | None, *, low: int, high: int) -> int | None:
    """``text`` as an integer in ``[low, high]`` written with ASCII digits only
    (``int()`` also takes ``'٣'``, ``' 3 '`` and ``'1_0'``); ``None`` otherwise."""
    if text is None or len(text) > 20 or not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


class SafeJSONResponse(JSONResponse):
    """A JSON answer that never fails on a non-finite number: it is written as ``null``."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:  # "Out of range float values are not JSON compliant"
            return super().render(finite(content))
