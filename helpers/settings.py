"""Checking preset changes where they enter: `--set KEY=VALUE`, `--variant`, `**changes`.

A preset is a frozen dataclass; each field's annotation gives its type, and a small table of
rules beside the preset gives its range or choices. `check_changes` turns command-line text
into that type and refuses a value out of range with one sentence that names the setting,
what it wants and what it got, so `lr_g=fast` or `batch=0` never reaches the training loop.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from helpers.errors import SettingError


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: a lower/upper bound (closed unless `open_lo`/`open_hi`) or a
    set of choices; `items` bounds each element of a tuple."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    choices: tuple = ()
    length: int | None = None  # exact tuple length

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.open_lo else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.open_hi else '<='} {self.hi:g}")
        return " and ".join(parts) or "any value"

    def ok(self, v) -> bool:
        if self.choices:
            return v in self.choices
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.open_lo else v < self.lo):
            return False
        if self.hi is not None and (v >= self.hi if self.open_hi else v > self.hi):
            return False
        return True


POSITIVE_INT = Rule(lo=1)
NON_NEGATIVE = Rule(lo=0)
POSITIVE = Rule(lo=0, open_lo=True)
FRACTION = Rule(lo=0, hi=1, open_hi=True)  # [0, 1)


def parse_text(text: str):
    """'5' -> 5, '1e-4' -> 0.0001, 'true' -> True, '1,2,4' -> (1, 2, 4), 'none' -> None, else the text."""
    text = text.strip()
    if "," in text:
        return tuple(parse_text(t) for t in text.split(",") if t.strip())
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _number(v, kind: str):
    """v as an int or float, or None when it is not one (bools are not numbers here)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        v = parse_text(v)
    if kind == "int":
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def coerce(name: str, value, annotation: str, rule: Rule | None, what: str):
    """`value` as the field's type, checked against its rule; SettingError otherwise."""
    rule = rule or Rule()
    kinds = [k.strip() for k in str(annotation).split("|")]
    base = next(k for k in kinds if k != "None")
    said_none = isinstance(value, str) and value.strip().lower() in ("none", "null") and base != "str"
    if value is None or said_none:
        if "None" in kinds:
            return None
        raise SettingError(f"{what} setting {name} cannot be none; it wants {_wants(kinds, rule)}.")
    if base in ("int", "float"):
        v = _number(value, base)
        if v is None or not rule.ok(v):
            raise SettingError(f"{what} setting {name} wants {_wants(kinds, rule)}; got {value!r}.")
        return v
    if base == "bool":
        v = parse_text(value) if isinstance(value, str) else value
        if not isinstance(v, bool):
            raise SettingError(f"{what} setting {name} wants true or false; got {value!r}.")
        return v
    if base == "str":
        v = str(value).strip()
        if not rule.ok(v):
            raise SettingError(f"{what} setting {name} wants {rule.describe()}; got {value!r}.")
        return v
    if base == "tuple":
        items = parse_text(value) if isinstance(value, str) else value
        items = tuple(items) if isinstance(items, (tuple, list)) else (items,)
        items = tuple(parse_text(i) if isinstance(i, str) else i for i in items)
        nums = [_number(i, "float") for i in items]
        if not items or any(n is None or not rule.ok(n) for n in nums) or \
                (rule.length is not None and len(items) != rule.length):
            size = f"{rule.length} " if rule.length else ""
            raise SettingError(f"{what} setting {name} wants {size}comma-separated numbers, each "
                               f"{rule.describe()}; got {value!r}.")
        return tuple(i if isinstance(i, int) else n for n, i in zip(nums, items))
    return value


def _wants(kinds, rule: Rule) -> str:
    base = next(k for k in kinds if k != "None")
    noun = {"int": "a whole number", "float": "a number", "str": "a word", "tuple": "numbers"}.get(base, base)
    text = f"{noun} {rule.describe()}" if rule.describe() != "any value" else noun
    return text + (" (or none)" if "None" in kinds else "")


def check_changes(preset_cls, changes: dict, rules: dict[str, Rule], what: str, skip: tuple = ("kind",)) -> dict:
    """`changes` with every value converted to its field's type and checked; SettingError for
    an unknown name or a bad value."""
    fields = {f.name: f for f in dataclasses.fields(preset_cls) if f.name not in skip}
    out = {}
    for name, value in changes.items():
        if name not in fields:
            raise SettingError(f"{what} has no setting {name!r}; known: {', '.join(sorted(fields))}.")
        out[name] = coerce(name, value, fields[name].type, rules.get(name), what)
    return out
