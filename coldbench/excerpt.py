"""Short, printable excerpts of untrusted text for one-line error messages."""

from __future__ import annotations

EXCERPT_CHARS = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``value`` quoted, with control and other unprintable characters escaped, cut to ``limit``.

    Bytes are decoded as latin-1. A cut value ends in ``…`` and says how long it was, so an error
    never echoes a whole line of whatever file (or environment) it was given.
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    text = str(value)
    shown = text[:limit]
    escaped = "".join(ch if ch.isprintable() else _escape(ch) for ch in shown)
    if len(text) <= limit:
        return f"'{escaped}'"
    return f"'{escaped}…' ({len(text):,} characters)"


def _escape(ch: str) -> str:
    """A character as a Python-style escape (``\\n``, ``\\x00``, ``\\u00b2``)."""
    return ch.encode("unicode_escape").decode("ascii")
