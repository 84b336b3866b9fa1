"""Presets: a stage's settings per profile, one shape for every stage.

A preset is a frozen dataclass on `Preset`. Each field's annotation gives its type and the
class's RULES its range or choices; every value is converted and checked on construction,
here and only here, so `Preset(...)`, `preset.with_(batch=0)`, `--set batch=0` and a
notebook's `**changes` are refused alike, with one sentence that names the setting, what it
wants and what it got. A stage keeps its presets in a `Table` ({profile: preset}).

Annotations understood: int, float, str, bool, tuple[int, ...], tuple[float, ...],
tuple[str, ...], dict[str, int], unions of these, and `| None`. Text (as
`--set` gives it) is parsed first: '5' -> 5, '1e-4' -> 0.0001, '1,2,4' -> (1, 2, 4),
'true' -> True, 'none' -> None.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from helpers.errors import SettingError


@dataclass(frozen=True)
class Rule:
    """What a setting accepts: a lower/upper bound (closed unless `open_lo`/`open_hi`) and/or
    a set of choices; for a tuple or dict, the rule holds for each item, `length` for the tuple."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    choices: tuple = ()
    length: int | None = None  # exact tuple length

    @property
    def bounded(self) -> bool:
        return self.lo is not None or self.hi is not None

    def describe(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.open_lo else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.open_hi else '<='} {self.hi:g}")
        text = " and ".join(parts)
        if self.choices:
            listed = ", ".join(map(str, self.choices))
            text = f"{text} or {listed}" if text else f"one of {listed}"
        return text or "any value"

    def ok(self, v) -> bool:
        if self.choices and v in self.choices:
            return True
        if isinstance(v, str):
            return not self.choices
        if self.choices and not self.bounded:
            return False
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
ANY = Rule()


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


_BAD = object()  # a value that cannot be read as the kind asked for


def _number(v, kind: str):
    """v as an int or float, or _BAD (bools are not numbers here)."""
    if isinstance(v, str):
        v = parse_text(v)
    if isinstance(v, bool):
        return _BAD
    if kind == "int":
        if isinstance(v, int):
            return v
        return int(v) if isinstance(v, float) and v.is_integer() else _BAD
    return float(v) if isinstance(v, (int, float)) else _BAD


def _tuple(item: str, value, rule: Rule):
    """tuple[item, ...] from a sequence or 'a,b' text, or _BAD."""
    if isinstance(value, str):
        value = [t.strip() for t in value.split(",") if t.strip()]
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if item == "str":
        v = items if all(isinstance(i, str) for i in items) else _BAD
    else:
        v = tuple(_number(i, item) for i in items)
        v = _BAD if any(n is _BAD for n in v) else v
    if v is _BAD or not v or (rule.length is not None and len(v) != rule.length):
        return _BAD
    return v if all(rule.ok(i) for i in v) else _BAD


def _counts(value, rule: Rule):
    """dict[str, int] from a mapping or 'a:1,b=2' text, or _BAD."""
    if isinstance(value, str):
        pairs = [p.replace(":", "=").partition("=") for p in value.split(",") if p.strip()]
        value = {k.strip(): n for k, sep, n in pairs} if all(sep for _, sep, _ in pairs) else None
    if not isinstance(value, Mapping) or not value:
        return _BAD
    v = {str(k): _number(n, "int") for k, n in value.items()}
    return v if all(n is not _BAD and rule.ok(n) for n in v.values()) else _BAD


def _read(kind: str, value, rule: Rule):
    """`value` as `kind` within `rule`, or _BAD."""
    if kind.startswith("tuple"):
        return _tuple(kind[6:-6] if kind.endswith(", ...]") else "float", value, rule)  # tuple[int, ...] -> int
    if kind.startswith("dict"):
        return _counts(value, rule)
    if kind in ("int", "float"):
        v = _number(value, kind)
    elif kind == "bool":
        v = parse_text(value) if isinstance(value, str) else value
        v = v if isinstance(v, bool) else _BAD
    elif kind == "str":
        v = value.strip() if isinstance(value, str) else _BAD
    else:
        return value
    return v if v is not _BAD and rule.ok(v) else _BAD


_NOUNS = {"int": "a whole number", "float": "a number", "str": "a word", "bool": "true or false",
          "dict": "name:count pairs"}


def _wants(kinds: list[str], rule: Rule, or_none: bool) -> str:
    base = kinds[0]
    if base.startswith("tuple"):
        size = f"{rule.length} " if rule.length else ""
        noun = f"{size}comma-separated {'words' if base == 'tuple[str, ...]' else 'numbers'}"
        text = f"{noun}, each {rule.describe()}" if rule.bounded or rule.choices else noun
    elif rule.choices and not rule.bounded:
        text = rule.describe()
    else:
        noun = _NOUNS.get(base.split("[")[0], base)
        text = f"{noun} {rule.describe()}" if rule.bounded or rule.choices else noun
    return text + (" (or none)" if or_none else "")


def coerce(name: str, value, annotation, rule: Rule | None, what: str):
    """`value` as the field's type, checked against its rule; SettingError otherwise."""
    rule = rule or ANY
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = [k.strip() for k in text.split("|")]
    real = [k for k in kinds if k != "None"]
    said_none = isinstance(value, str) and value.strip().lower() in ("none", "null") and \
        ("None" in kinds or "str" not in real)  # a plain word field keeps "none" as a word
    if value is None or said_none:
        if "None" in kinds:
            return None
        raise SettingError(f"{what} setting {name} cannot be none; it wants {_wants(real, rule, False)}.")
    for kind in real:
        v = _read(kind, value, rule)
        if v is not _BAD:
            return v
    raise SettingError(f"{what} setting {name} wants {_wants(real, rule, 'None' in kinds)}; got {value!r}.")


@dataclass(frozen=True)
class Preset:
    """Base of every stage's preset: fields checked on construction (`RULES`, `check`)."""

    RULES: ClassVar[dict[str, Rule]] = {}
    STAGE: ClassVar[str] = "The preset"  # how errors name the stage: "The DDPM setting T wants ..."
    FIXED: ClassVar[tuple] = ()  # fields that name the preset rather than set it (a GAN's kind)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            v = coerce(f.name, value, f.type, self.RULES.get(f.name), self.what)
            if v is not value:
                object.__setattr__(self, f.name, v)
        self.check()

    @property
    def what(self) -> str:
        return self.STAGE

    def check(self) -> None:
        """Rules across fields (SettingError), after each field passed its own."""

    @classmethod
    def settings(cls) -> list[str]:
        """The names `with_` and `--set` accept."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in cls.FIXED]

    def with_(self, **changes) -> Preset:
        """A copy with `changes`, each converted to its field's type and checked (SettingError)."""
        known = self.settings()
        for name in changes:
            if name not in known:
                raise SettingError(f"{self.what} has no setting {name!r}; known: {', '.join(sorted(known))}.")
        return dataclasses.replace(self, **changes) if changes else self

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Table(dict):
    """One stage's presets, {profile: preset}, with its named variants ({name: changes})."""

    def __init__(self, stage: str, presets: dict[str, Preset], variants: dict[str, dict] | None = None):
        super().__init__(presets)
        self.stage, self.variants = stage, dict(variants or {})

    def of(self, profile: str, variant: str | None = None, **changes) -> Preset:
        """The profile's preset, with a named variant and `changes` (None values: not given)."""
        if profile not in self:
            raise SettingError(f"Unknown profile {profile!r} for {self.stage}; choose one of {', '.join(self)}.")
        p = self[profile]
        if variant:
            if variant not in self.variants:
                raise SettingError(f"{p.what} has no variant {variant!r}; known: {', '.join(self.variants) or 'none'}.")
            p = p.with_(**self.variants[variant])
        return p.with_(**{k: v for k, v in changes.items() if v is not None})
