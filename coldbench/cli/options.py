"""Parsing helpers shared by CLI commands."""

from __future__ import annotations

from coldbench.errors import ColdbenchError


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed pair names the option."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ColdbenchError(f"option {option} {pair!r}: expected key=value")
        parsed[key.strip()] = value.strip()
    return parsed


def parse_ratio(text: str, option: str) -> tuple[float, float, float]:
    """``"7:1:2"`` → ``(7.0, 1.0, 2.0)``."""
    parts = text.split(":")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ColdbenchError(f"option {option} {text!r}: expected three numbers such as 7:1:2") from None
    if len(values) != 3:
        raise ColdbenchError(f"option {option} {text!r}: expected three numbers such as 7:1:2")
    return values  # type: ignore[return-value]
