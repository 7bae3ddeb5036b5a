"""Argument checks shared by the whole package: each returns the clean value or raises
:class:`~aigc_course.errors.ConfigError` naming the argument, what it got and what it needs."""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real

from aigc_course.errors import ConfigError


def integer(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (booleans and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return int(value)


def positive_int(name: str, value: object) -> int:
    """``value`` as an int ``>= 1``."""
    return integer(name, value, 1)


def number_in(
    name: str, value: object, low: float, high: float, *, low_open: bool = False,
    high_open: bool = True,
) -> float:  # fmt: skip
    """``value`` as a float in the interval from ``low`` to ``high`` (``[low, high)`` by default)."""
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def one_of(name: str, value: object, choices: Iterable[object]) -> object:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(
            f"unknown {name} {value!r}; choose one of: {', '.join(str(c) for c in choices)}"
        )
    return value


__all__ = ["integer", "positive_int", "number_in", "one_of"]
