"""Generated secrets that satisfy the constraints of the template input they fill.

A secret input left empty is generated at deploy time (the plan's ``secrets_to_generate``).
Its TOSCA constraints still apply to the generated value: kubeadm's bootstrap token must match
``[a-z0-9]{6}\\.[a-z0-9]{16}``, a password may need 12+ characters. ``generate_for`` builds a
random value from the constraints:

- ``pattern``: generated from the regular expression when it is a simple one: literals, escaped
  characters, character classes (``[a-z0-9]``, ``\\d``, ``\\w``, ``.``), counted repeats
  (``{n}``, ``{n,m}``, ``{n,}``, ``?``, ``*``, ``+``), groups and alternatives (the alternative
  with the most randomness is used, so ``(|x{16})`` gives the 16 characters). Anchors are allowed.
  Negated classes (``[^\\s%#;]``) give the letters and digits they do not exclude. Anything
  else (look-arounds, back-references, Unicode categories) cannot be generated.
- ``length`` / ``min_length`` / ``max_length``: the length (32 characters when free).
- ``valid_values`` / ``equal``: a value from a fixed list is not a secret: refused.

Characters come from the OS CSPRNG; inside a class only letters and digits are used when the
class has any (generated secrets end up in configuration files with different quoting rules).
A generator that cannot give at least ``MIN_BITS`` bits of randomness refuses.
``CannotGenerate`` says why; the planner turns it into an exit-2 error naming the input.
"""

from __future__ import annotations

import math
import re
import secrets
import string

try:  # Python >= 3.11
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

from infn_cloud.secrets.base import DEFAULT_SECRET_LENGTH, SECRET_ALPHABET

MIN_BITS = 64
UNBOUNDED_REPEAT = DEFAULT_SECRET_LENGTH  # count used for `*`, `+`, `{n,}` when n is smaller
_PRINTABLE = "".join(c for c in string.printable if c not in "\t\n\r\x0b\x0c")
_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: string.digits,
    sre_constants.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_constants.CATEGORY_SPACE: " \t\n\r\x0b\x0c",
}
_NOT_CATEGORIES = {
    sre_constants.CATEGORY_NOT_DIGIT: sre_constants.CATEGORY_DIGIT,
    sre_constants.CATEGORY_NOT_WORD: sre_constants.CATEGORY_WORD,
    sre_constants.CATEGORY_NOT_SPACE: sre_constants.CATEGORY_SPACE,
}


class CannotGenerate(ValueError):
    """The constraints cannot be satisfied by a random secret; the message says why."""


def generate_for(constraints: list | None, default_length: int = DEFAULT_SECRET_LENGTH) -> str:
    """A random secret satisfying TOSCA ``constraints`` (a list of single-key maps), or CannotGenerate."""
    ops: dict = {}
    for item in constraints or []:
        if isinstance(item, dict) and len(item) == 1:
            op, arg = next(iter(item.items()))
            ops[op] = arg
    for op in ("valid_values", "equal"):
        if op in ops:
            raise CannotGenerate(
                f"its '{op}' constraint fixes the value: a generated secret cannot satisfy it"
            )
    low = ops.get("min_length", 0)
    high = ops.get("max_length")
    if "length" in ops:
        low = high = ops["length"]
    if not isinstance(low, int) or (high is not None and not isinstance(high, int)):
        raise CannotGenerate("its length constraints are not integers")
    if high is not None and high < low:
        raise CannotGenerate(f"its length constraints exclude every length ({low} > {high})")
    if "pattern" in ops:
        pattern = ops["pattern"]
        if not isinstance(pattern, str):
            raise CannotGenerate("its pattern is not a string")
        plan = _pattern_plan(pattern)
        value = "".join(_render(plan))
        if not low <= len(value) <= (high if high is not None else len(value)):
            raise CannotGenerate(
                f"a value of pattern {pattern!r} has {len(value)} characters, outside its length constraints"
            )
        if re.fullmatch(pattern, value) is None:  # never expected; refuse rather than hand it out
            raise CannotGenerate(f"the value generated for pattern {pattern!r} does not match it")
        bits = _bits(plan)
    else:
        length = max(low, min(default_length, high if high is not None else default_length))
        value = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))
        bits = length * math.log2(len(SECRET_ALPHABET))
    if bits < MIN_BITS:
        raise CannotGenerate(
            f"its constraints allow only {bits:.0f} bits of randomness (at least {MIN_BITS} needed)"
        )
    return value


# -- patterns ----------------------------------------------------------------------------
# A plan is a list of pieces: ("chars", alphabet, count) or ("literal", text).
def _pattern_plan(pattern: str) -> list:
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise CannotGenerate(f"its pattern {pattern!r} is not a valid regular expression ({exc})") from None
    return _plan_of(parsed, pattern)


def _plan_of(items, pattern: str) -> list:
    plan: list = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            plan.append(("literal", chr(arg)))
        elif op is sre_constants.ANY:
            plan.append(("chars", SECRET_ALPHABET, 1))
        elif op is sre_constants.IN:
            plan.append(("chars", _class(arg, pattern), 1))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, body = arg
            inner = _plan_of(body, pattern)
            if high is sre_constants.MAXREPEAT:
                count = max(low, UNBOUNDED_REPEAT if _bits(inner) > 0 else low)
            else:
                count = max(low, min(high, UNBOUNDED_REPEAT))
            plan.extend(_repeat(inner, count))
        elif op is sre_constants.SUBPATTERN:
            plan.extend(_plan_of(arg[-1], pattern))
        elif op is sre_constants.BRANCH:
            branches = [_plan_of(b, pattern) for b in arg[1]]
            plan.extend(max(branches, key=_bits))
        elif op is sre_constants.AT and arg in (
            sre_constants.AT_BEGINNING,
            sre_constants.AT_BEGINNING_STRING,
            sre_constants.AT_END,
            sre_constants.AT_END_STRING,
        ):
            continue
        else:
            raise CannotGenerate(
                f"its pattern {pattern!r} is not simple enough to generate a value from "
                "(supported: literals, character classes, counted repeats, groups, alternatives)"
            )
    return plan


def _repeat(inner: list, count: int) -> list:
    if len(inner) == 1 and inner[0][0] == "chars":
        return [("chars", inner[0][1], inner[0][2] * count)]
    return inner * count


def _class(items, pattern: str) -> str:
    chars: set = set()
    negate = False
    for op, arg in items:
        if op is sre_constants.NEGATE:
            negate = True
        elif op is sre_constants.LITERAL:
            chars.add(chr(arg))
        elif op is sre_constants.RANGE:
            chars.update(chr(c) for c in range(arg[0], arg[1] + 1) if chr(c) in _PRINTABLE)
        elif op is sre_constants.CATEGORY and arg in _CATEGORIES:
            chars.update(_CATEGORIES[arg])
        elif op is sre_constants.CATEGORY and arg in _NOT_CATEGORIES:
            chars.update(c for c in _PRINTABLE if c not in _CATEGORIES[_NOT_CATEGORIES[arg]])
        else:
            raise CannotGenerate(
                f"its pattern {pattern!r} has a character class that cannot be generated from "
                "(Unicode categories are not supported)"
            )
    if negate:  # [^...]: letters and digits not excluded
        return "".join(c for c in SECRET_ALPHABET if c not in chars) or _empty(pattern)
    safe = sorted(c for c in chars if c in SECRET_ALPHABET)
    alphabet = "".join(safe or sorted(chars))
    if not alphabet:
        raise CannotGenerate(f"its pattern {pattern!r} has an empty character class")
    return alphabet


def _empty(pattern: str) -> str:
    raise CannotGenerate(f"its pattern {pattern!r} has a character class without letters or digits")


def _bits(plan: list) -> float:
    return sum(piece[2] * math.log2(len(piece[1])) for piece in plan if piece[0] == "chars")


def _render(plan: list):
    for piece in plan:
        if piece[0] == "literal":
            yield piece[1]
        else:
            _kind, alphabet, count = piece
            yield "".join(secrets.choice(alphabet) for _ in range(count))
