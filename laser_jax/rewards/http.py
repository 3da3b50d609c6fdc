"""Reward models served over HTTP (a large RM behind its own inference engine, as TRL recommends).

    dict(kind="http", url="http://rm-host:8000/score", name="big_rm", batch_size=32, concurrency=4,
         timeout=60, retries=3, backoff=1.0, headers={"Authorization": "Bearer ..."})

Each call POSTs JSON (``Content-Type: application/json``) for up to ``batch_size`` responses

    {"prompts": [str, ...], "responses": [str, ...], "golds": [str | null, ...]}

and expects ``{"scores": [number | null, ...]}``, one per response, in order (null: not judged,
a non-finite score left out of that RM's pairs). A batch larger than ``batch_size`` is split and
sent ``concurrency`` requests at a time. A request that fails to connect, times out or gets a 5xx
(or 429) is retried up to ``retries`` times, waiting ``backoff * 2**attempt`` seconds; a 4xx, or a
reply that is not that JSON, is not retried. What cannot be scored is a `RemoteError` naming the
RM, the URL and what came back (exit 2: the run stops before the step is trained or saved, the
last checkpoint stands, and rerunning the command resumes once the server answers).
"""

from __future__ import annotations

import json
import math
import numbers
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from laser_jax.errors import RemoteError
from laser_jax.rewards.base import check_inputs

RETRY_STATUS = (429, 500, 502, 503, 504)


class _Retry(Exception):
    """A failure worth another try (connection, timeout, 5xx)."""


class HttpRM:
    """``score`` = the server's scores, fetched in chunks of ``batch_size``, ``concurrency`` at a time."""

    kind = "http"

    def __init__(self, url: str, name: str, *, batch_size: int = 32, concurrency: int = 4, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, headers: Mapping[str, str] | None = None):
        self.url, self.name = url, name
        self.batch_size, self.concurrency = batch_size, concurrency
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}

    def __repr__(self):
        return f"HttpRM(name={self.name!r}, url={self.url!r})"

    def _post(self, body: dict) -> list:
        """One request, retried; the reply's scores (checked: as many as responses, numbers or null)."""
        data = json.dumps(body).encode()
        who = f"reward model {self.name!r} ({self.url})"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    raw = reply.read()
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code} {e.reason}"
                if e.code in RETRY_STATUS:
                    continue
                raise RemoteError(f"{who} answered {last}: {e.read()[:200]!r}; check the url and the server's "
                                  "log") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
                continue
            return self._scores(raw, len(body["responses"]), who)
        raise RemoteError(f"{who} failed {self.retries + 1} time(s), last: {last}; is the server up? (rerun "
                          "the command to resume from the last checkpoint once it is)")

    @staticmethod
    def _scores(raw: bytes, n: int, who: str) -> list[float]:
        try:
            scores = json.loads(raw)["scores"]
        except (ValueError, KeyError, TypeError):
            raise RemoteError(f"{who} answered {raw[:200]!r}, not JSON {{\"scores\": [...]}}") from None
        if not isinstance(scores, list) or len(scores) != n:
            got = len(scores) if isinstance(scores, list) else type(scores).__name__
            raise RemoteError(f"{who} answered {got} scores for {n} responses; it must return one per response")
        out = []
        for i, s in enumerate(scores):
            if s is None:
                out.append(math.nan)
            elif isinstance(s, numbers.Real) and not isinstance(s, bool):
                out.append(float(s))
            else:
                raise RemoteError(f"{who} answered {s!r} for response {i}; scores must be numbers or null")
        return out

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        golds = check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        b = self.batch_size
        bodies = [{"prompts": list(prompts[i:i + b]), "responses": list(responses[i:i + b]), "golds": golds[i:i + b]}
                  for i in range(0, len(responses), b)]
        if len(bodies) <= 1 or self.concurrency <= 1:
            chunks = [self._post(body) for body in bodies]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                chunks = list(pool.map(self._post, bodies))
        with np.errstate(over="ignore"):
            return np.asarray([s for chunk in chunks for s in chunk], np.float32)
