"""Sizes as people read them in a CI log."""


def format_size(size: int) -> str:
    """Decimal units, one decimal place: 1834000 -> '1.8 MB'."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
