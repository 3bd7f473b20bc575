"""Showing text from a store safely: HTML-escaped, and with the characters that can
disguise text (bidi overrides, zero-width characters, other invisible format and control
characters) shown as visible code points instead of acting on the page around them."""

import unicodedata
from html import escape


def _hidden(c):
    # Cc: control characters; Cf: format characters (U+202E RIGHT-TO-LEFT OVERRIDE,
    # U+200B ZERO WIDTH SPACE, U+2066 LEFT-TO-RIGHT ISOLATE, U+FEFF, ...).
    return unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t"


def visible(value):
    """``value`` as plain text with every hidden character written as <U+XXXX>."""
    text = str(value)
    if not any(_hidden(c) for c in text):
        return text
    return "".join(f"<U+{ord(c):04X}>" if _hidden(c) else c for c in text)


def html(value):
    """``value`` as escaped HTML in which each hidden character is a marked-up <U+XXXX>."""
    text = str(value)
    if not any(_hidden(c) for c in text):
        return escape(text)
    return "".join(f'<span class="hidden-char">U+{ord(c):04X}</span>' if _hidden(c) else escape(c)
                   for c in text)


def shorten(text, width):
    return text if len(text) <= width else text[:width - 1] + "\u2026"
