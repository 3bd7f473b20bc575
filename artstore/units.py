"""Byte counts for people: the one formatting the command line and the web view share."""


def human_bytes(n):
    """1536 -> '1.5 KiB' (binary units; whole bytes below 1 KiB)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
