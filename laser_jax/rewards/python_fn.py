"""Reward models written as Python functions (what TRL calls ``reward_funcs``, Tunix ``reward_fns``).

A config entry ``dict(kind="python", function="my_package.rewards:brevity", max_words=50)`` makes
an arm of the bandit from

    def brevity(prompts: list[str], responses: list[str], golds: list[str | None], **kwargs)
            -> list[float | None]:
        return [1.0 if len(r.split()) <= kwargs["max_words"] else 0.0 for r in responses]

called once per batch with parallel lists (``golds[i]`` is None where the example has no gold
answer). Every field of the entry other than kind, name, function and the noise fields is passed
as a keyword argument. ``function`` is ``module.path:name`` (importable, e.g. on PYTHONPATH) or
``path/to/file.py:name`` (a script; a relative path is read from the working directory; a config
may build an absolute one from its own ``__file__``). The default name is the function's.

Scores: one number per response (a bool counts as 0 / 1); None, NaN or inf = "this RM does not
judge that response": a non-finite score, left out of that RM's pairs and rankings (as for every
RM). A function that cannot be imported, returns another number of scores or something that is not
a number, or raises, is a ConfigError naming the entry's RM and function (exit 2).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import numbers
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from laser_jax.errors import ConfigError
from laser_jax.rewards.base import check_inputs


def load_function(ref: Any, where: str) -> Callable:
    """The callable that ``ref`` ("module:name" or "file.py:name") names; ConfigError naming
    ``where`` (e.g. "rewards[2].function") and what went wrong."""
    if not isinstance(ref, str) or ref.count(":") < 1 or not all(ref.rpartition(":")[::2]):
        raise ConfigError(f"{where}={ref!r} must be 'package.module:function' or 'path/to/file.py:function'")
    target, _, attr = ref.rpartition(":")
    try:
        if target.endswith(".py"):
            path = Path(target).expanduser()
            if not path.is_file():
                raise ConfigError(f"{where}={ref!r}: no such file {path.absolute()}")
            key = "laser_jax_user_rm_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
            module = sys.modules.get(key)
            if module is None:
                spec = importlib.util.spec_from_file_location(key, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[key] = module
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises on import
        raise ConfigError(f"{where}={ref!r}: importing {target} failed: {type(e).__name__}: {e}") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{where}={ref!r}: {target} has no function {attr!r}")
    return fn


def check_signature(fn: Callable, kwargs: Mapping[str, Any], where: str) -> list[str]:
    """Whether ``fn(prompts, responses, golds, **kwargs)`` binds: [] or the problem, naming ``where``."""
    try:
        inspect.signature(fn).bind([], [], [], **kwargs)
    except TypeError as e:
        return [f"{where}: {getattr(fn, '__name__', fn)}(prompts, responses, golds, **{sorted(kwargs)}) "
                f"does not fit its signature {inspect.signature(fn)}: {e}"]
    except ValueError:  # a builtin without a signature: called as given
        pass
    return []


def _score(value: Any) -> float | None:
    """A number as float (None stays None); anything else None-marked as invalid by the caller."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


class PythonRM:
    """``score`` = the user's function on the batch, checked: one number (or None) per response."""

    kind = "python"

    def __init__(self, fn: Callable, name: str, function: str, kwargs: Mapping[str, Any] | None = None):
        self.fn, self.name, self.function = fn, name, function
        self.kwargs = dict(kwargs or {})

    def __repr__(self):
        return f"PythonRM(name={self.name!r}, function={self.function!r})"

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        golds = check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        who = f"reward model {self.name!r} (function {self.function})"
        try:
            out = self.fn(list(prompts), list(responses), golds, **self.kwargs)
        except Exception as e:  # noqa: BLE001 - the user's function: reported as theirs, not laser_jax's
            raise ConfigError(f"{who} raised {type(e).__name__}: {e}") from e
        if isinstance(out, (str, bytes, Mapping)) or not isinstance(out, (Sequence, np.ndarray)):
            raise ConfigError(f"{who} returned {type(out).__name__}; return a list of {len(responses)} numbers "
                              "(None for a response it does not judge)")
        if len(out) != len(responses):
            raise ConfigError(f"{who} returned {len(out)} scores for {len(responses)} responses; return one "
                              "per response (None for a response it does not judge)")
        scores = [_score(v) for v in np.asarray(out, dtype=object).tolist()]
        bad = [i for i, s in enumerate(scores) if s is None]
        if bad:
            raise ConfigError(f"{who} returned {out[bad[0]]!r} for response {bad[0]}; scores must be numbers "
                              "(or None for a response it does not judge)")
        with np.errstate(over="ignore"):
            return np.asarray(scores, np.float32)
