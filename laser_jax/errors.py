"""What laser_jax reports to its user, and the one place that says what a valid number is.

`LaserError` is the base of every error the user can fix (a config field, a file, a checkpoint,
data): the command lines print ``error: <message>`` and exit 2. Anything else that escapes a
command is a bug in laser_jax: exit 1, its traceback written to the workdir's log
(`laser_jax.cli.launch.run_command`). Raise a subclass, never a bare ValueError, for bad input.
`CommandFailed` is neither: a run that cannot go on (e.g. diverged), ``error:`` and exit 1.

`is_int` / `is_number` are the checks every config section, selector argument and reward-model
entry uses: a bool is not a number, a float is checked in the dtype it will be used in (a value
finite in float64 but not in float32 would turn every score into inf).
"""

from __future__ import annotations

import math
import numbers

import numpy as np


class LaserError(Exception):
    """Bad input the user can fix; the message says what, where (file, key, config field) and what to do."""


class CommandFailed(Exception):
    """A failure that is not bad input and not a bug (e.g. a training run that diverged): the
    command prints ``error: <message>`` and exits with ``exit_code``."""

    exit_code = 1


class ConfigError(LaserError, ValueError):
    """A config field (or a combination of fields) is invalid."""


class DataError(LaserError, ValueError):
    """A data file, split or record is missing or malformed."""


class RemoteError(LaserError):
    """A service laser_jax calls (a reward model served over HTTP) failed or answered something unusable."""


class CheckpointError(LaserError, ValueError):
    """A model or training checkpoint cannot be read or does not fit the config."""


def is_int(value, low: int | None = None, high: int | None = None) -> bool:
    """An integer (Python or numpy, not a bool) in [low, high] (None: unbounded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def is_number(value, low: float | None = None, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False, dtype=np.float32) -> bool:
    """A real number (not a bool) finite in `dtype` (float32 unless said) within the bounds;
    `low_open` / `high_open` exclude the bound itself."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    if not math.isfinite(float(value)):
        return False
    with np.errstate(over="ignore"):
        if not np.isfinite(np.asarray(value, dtype=dtype)):
            return False
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        return False
    return high is None or (value < high if high_open else value <= high)


def need_int(field: str, value, low: int | None = None, high: int | None = None, note: str = "") -> list[str]:
    """[] if `value` is an integer in [low, high], else one problem naming `field`."""
    if is_int(value, low, high):
        return []
    bound = (f" between {low} and {high}" if low is not None and high is not None
             else f" >= {low}" if low is not None else f" <= {high}" if high is not None else "")
    return [f"{field}={value!r} must be an integer{bound}{f' ({note})' if note else ''}"]


def need_number(field: str, value, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, note: str = "") -> list[str]:
    """[] if `value` is a number finite in float32 within the bounds, else one problem naming `field`."""
    if is_number(value, low, high, low_open=low_open, high_open=high_open):
        return []
    parts = ([f"{'>' if low_open else '>='} {low:g}"] if low is not None else []) + \
            ([f"{'<' if high_open else '<='} {high:g}"] if high is not None else [])
    return [f"{field}={value!r} must be a finite number{' ' + ' and '.join(parts) if parts else ''}"
            f"{f' ({note})' if note else ''}"]
