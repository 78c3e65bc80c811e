"""TOSCA's string functions (concat, join, token): one definition for both times they run.

The planner resolves them when their arguments are known at plan time (inputs, properties);
``infn_cloud.tosca.attributes`` resolves what is left once the resources exist (addresses).
Both call these functions, so a value renders the same text whichever time it is resolved:

- a string is itself; an integer or a float its decimal text; anything else (true/false,
  lists, maps) its JSON text;
- at plan time (``final=False``) a part that is still unknown (None, or an expression such as
  get_attribute) keeps the whole function as an expression, to be resolved later;
- after provisioning (``final=True``) a concat with an unknown part is None (the value cannot
  be built), and a join leaves an unknown item empty.
"""

from __future__ import annotations

import json
from typing import Any

from infn_cloud.tosca.values import contains_function


def text(value: Any) -> str:
    """How a value reads inside a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)


def known(value: Any) -> bool:
    """A value the functions can use now: not None, no expression left inside."""
    return value is not None and not contains_function(value)


def concat(parts: list, final: bool) -> Any:
    if all(known(p) for p in parts):
        return "".join(text(p) for p in parts)
    if not final:
        return {"concat": parts}
    if any(p is None for p in parts):
        return None
    return "".join(text(p) for p in parts)


def join(items: Any, delimiter: str | None, final: bool) -> Any:
    """TOSCA join: [items] or [items, delimiter]; ``delimiter`` None when it was not given."""
    values = items if isinstance(items, list) else [items]
    if known(items) and all(known(i) for i in values):
        return (delimiter or "").join(text(i) for i in values)
    if not final:
        return {"join": [items] if delimiter is None else [items, delimiter]}
    return (delimiter or "").join("" if i is None else text(i) for i in values)


def token(value: Any, delimiters: Any, index: Any) -> tuple[Any, str | None]:
    """TOSCA token: (the piece, None) or (the function kept as an expression, why)."""
    expression = {"token": [value, delimiters, index]}
    if not isinstance(value, str):
        return expression, None
    parts = [value]
    for delimiter in delimiters:
        parts = [piece for part in parts for piece in part.split(delimiter)]
    if not isinstance(index, int) or not 0 <= index < len(parts):
        return expression, f"index {index} out of range for '{value}'"
    return parts[index], None
