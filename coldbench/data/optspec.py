"""Declared option values: a type, a default and a range per option, checked before any work.

One mechanism serves source options (``-o key=value``, parsed from text) and the protocol's
options (already typed by the CLI): ``Spec.parse`` reads text strictly, ``Spec.check`` checks a
value's type, finiteness and range. Every failure is one ColdbenchError naming the option.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
_INT = re.compile(r"[+-]?[0-9]{1,19}")
MAX_TEXT = 64  # longest option text parsed as a number


@dataclass(frozen=True)
class Spec:
    """One option: ``kind`` (int, float, bool or str), its default, and its allowed range.

    ``low``/``high`` bound numbers (``open_low``/``open_high`` exclude the bound itself); a float
    must be finite. A ``str`` option with ``name=True`` must be a plain name (see paths.check_name).
    """

    kind: type
    default: object
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    name: bool = False
    help: str = ""

    def expected(self) -> str:
        """What a valid value looks like, for messages and docs."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a plain name" if self.name else "text"
        what = "an integer" if self.kind is int else "a finite number"
        if self.low is None and self.high is None:
            return what
        left = "(" if self.open_low else "["
        right = ")" if self.open_high else "]"
        low = "-inf" if self.low is None else self._number(self.low)
        high = "inf" if self.high is None else self._number(self.high)
        return f"{what} in {left}{low}, {high}{right}"

    def _number(self, value: float) -> str:
        return f"{value:,g}" if self.kind is float else f"{int(value):,}"

    def parse(self, option: str, text: str) -> object:
        """The value written as ``text``, checked; anything else is a ColdbenchError naming ``option``."""
        raw = text.strip()
        if self.kind is bool:
            lowered = raw.lower()
            if lowered not in TRUE + FALSE:
                raise self.error(option, text)
            return lowered in TRUE
        if self.kind is str:
            return self.check(option, raw)
        if len(raw) > MAX_TEXT:
            raise self.error(option, text)
        if self.kind is int:
            if not _INT.fullmatch(raw):
                raise self.error(option, text)
            return self.check(option, int(raw))
        try:
            value = float(raw)
        except ValueError:
            raise self.error(option, text) from None
        return self.check(option, value)

    def check(self, option: str, value: object) -> object:
        """``value`` if it has the right type and lies in the range, else a ColdbenchError."""
        if self.kind is str:
            if not isinstance(value, str) or not value or len(value) > 200:
                raise self.error(option, value)
            if self.name:
                from coldbench.paths import check_name

                check_name(value, option)
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self.error(option, value)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(option, value)
        if self.kind is int and not float(value).is_integer():
            raise self.error(option, value)
        if not math.isfinite(value):
            raise self.error(option, value)
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            raise self.error(option, value)
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            raise self.error(option, value)
        return int(value) if self.kind is int else float(value)

    def error(self, option: str, value: object) -> ColdbenchError:
        shown = excerpt(value) if isinstance(value, str) else repr(value)
        return ColdbenchError(f"option {option}={shown}: expected {self.expected()}")


def parse_options(specs: dict[str, Spec], given: dict[str, str], source: str) -> dict[str, object]:
    """Every declared option's value: the given text parsed and checked, or the default."""
    unknown = sorted(set(given) - set(specs))
    if unknown:
        known = ", ".join(specs) or "none"
        shown = excerpt(unknown[0])
        raise ColdbenchError(f"option --option {shown}: not known to {source!r} (known: {known})")
    return {key: spec.parse(key, given[key]) if key in given else spec.default for key, spec in specs.items()}
