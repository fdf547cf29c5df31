"""Where a request may send the browser next: back into this site, never elsewhere."""

from __future__ import annotations

from urllib.parse import urlsplit

# Browsers drop tabs and line breaks anywhere in a URL and read "\" as "/": "/\t/evil.example"
# and "/\\evil.example" both lead to another site. Normalise the same way before judging.
_DROPPED = str.maketrans("", "", "\t\r\n")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))  # what browsers strip at both ends


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site (``/...``), else ``fallback``."""
    if not target:
        return fallback
    cleaned = target.translate(_DROPPED).strip(_C0_OR_SPACE).replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return fallback
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in cleaned):
        return fallback
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return fallback
    return cleaned
