"""The comparison methods both settings name (compare.py in training, best_of_n/replay.py): each a
selector and the hparams it overrides. One spelling per method; ``ALIASES`` keeps old names working.

``fixed:<rm>`` is the fixed selector on that reward model (``method_selector`` resolves it);
``best``, ``oracle`` and ``random_response`` are not selectors and are handled by each setting.
``prior`` methods (best-of-n only) start the selector from its offline prior (``Selector.prior``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Method:
    selector: str
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    prior: bool = False  # start from the selector's offline prior (best-of-n replay only)


METHODS: Mapping[str, Method] = types.MappingProxyType({
    "laser": Method("laser"),
    "laser_per_query": Method("laser", types.MappingProxyType({"per_prompt": True})),
    "thompson": Method("thompson"),
    "laser_prior": Method("laser", prior=True),
    "thompson_prior": Method("thompson", prior=True),
    "random": Method("random"),
    "sequential": Method("sequential"),
    "ensemble": Method("ensemble"),
    "agreement": Method("agreement"),
    "online_ensemble": Method("online_ensemble"),
    "exp3": Method("exp3"),
})
ALIASES: Mapping[str, str] = types.MappingProxyType({"laser_per_prompt": "laser_per_query"})


def canonical(method: str) -> str:
    """The method's one spelling (an alias mapped to it; any other name unchanged)."""
    return ALIASES.get(method, method)


def is_method(method: str) -> bool:
    """A selector-backed method of the table (or its alias); ``fixed:<rm>`` is checked by the caller."""
    return canonical(method) in METHODS


def method_selector(method: str, rm_names: Sequence[str]) -> Method | None:
    """The method's selector and hparam overrides; ``fixed:<rm>`` -> fixed with that RM's index.
    None for a name the table does not hold (or a ``fixed:`` naming no RM): the caller reports it
    in its own terms."""
    if method.startswith("fixed:"):
        rm = method.split(":", 1)[1]
        names = list(rm_names)
        return Method("fixed", types.MappingProxyType({"arm": names.index(rm)})) if rm in names else None
    return METHODS.get(canonical(method))
