"""Sizes for people: one formatter for the CLI's tables and progress lines."""
from __future__ import annotations

DECIMAL = ("B", "kB", "MB", "GB")


def size(n: float, fmt: str = "{:.3g} {}", base: int = 1000, units: tuple = DECIMAL) -> str:
    """N bytes in the largest of UNITS (powers of BASE) below which it stays, the last unit at most;
    FMT formats the number and the unit (`docker images` shows "{:.3g} {}"); whole bytes are
    shown as an integer with the first unit."""
    for unit in units:
        if abs(n) < base or unit == units[-1]:
            if unit == units[0]:
                return f"{int(n)}{' ' if ' ' in fmt else ''}{unit}"
            return fmt.format(n, unit)
        n /= base
    return fmt.format(n, units[-1])
