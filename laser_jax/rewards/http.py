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

The OpenAI-compatible completions form (``api="openai_completions"``): a judge served by vLLM,
SGLang, llama.cpp's server, TGI or any other ``/v1/completions`` endpoint, asked a yes/no question
about each (prompt, response) as kind ``judge`` asks a local LM:

    dict(kind="http", api="openai_completions", url="http://judge-host:8000/v1/completions",
         model="Qwen/Qwen2.5-7B-Instruct", question=None, yes="Yes", no="No", logprobs=20,
         headers={"Authorization": "Bearer ..."})

Each row's text is the judge's plain-text input: `laser_jax.rewards.judge.judge_message` (the
question, default the row's task's, in ``FRAME``; or a whole template with {prompt} and
{response}) followed by ``PLAIN_SUFFIX`` ("\n\nAnswer:"); no chat template is applied (the
completions API takes raw text). Each request, for up to ``batch_size`` rows, is

    {"model": model, "prompt": [text, ...], "max_tokens": 1, "logprobs": logprobs,
     "temperature": 0}

and the reply is read as ``{"choices": [{"index": i, "logprobs": {"top_logprobs": [{token:
logprob, ...}, ...]}}, ...]}``: choice ``index`` i answers ``prompt[i]`` (the order of the list is
not relied on; every index 0..len-1 must be there once), and its first position's top-K dict
(K = ``logprobs``) gives

    score = logprob(yes) - logprob(no)

where logprob(yes) is the log of the summed probability of the top-K tokens that are ``yes`` once
surrounding whitespace is stripped ("Yes" and " Yes" both count; case matters), likewise for no.
An answer none of whose tokens is in the top K: its logprob is taken as the smallest logprob
returned (the true one is at most that, so the score is pulled toward 0, never pushed past its
true value: a lower bound when no is missing, an upper bound when yes is); neither answer in the
top K: NaN (the judge answered something else; that response is left out of the RM's pairs).
OpenAI's own hosted completions endpoint returns at most 5 top logprobs (set ``logprobs=5``);
vLLM serves up to its ``--max-logprobs`` (default 20). Requests, retries, time-outs, concurrency
and errors are the plain form's (one code path); a reply without those fields is a RemoteError
naming the RM and the URL.
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
from laser_jax.rewards.judge import PLAIN_SUFFIX, judge_message

RETRY_STATUS = (429, 500, 502, 503, 504)
APIS = ("scores", "openai_completions")  # the plain form, the OpenAI-compatible completions form


class _Retry(Exception):
    """A failure worth another try (connection, timeout, 5xx)."""


class HttpRM:
    """``score`` = the server's scores, fetched in chunks of ``batch_size``, ``concurrency`` at a
    time; with ``api="openai_completions"`` the log-odds of a served judge (module doc).

    task: the judge question's task when the rows carry none (the builder's data.task)."""

    kind = "http"

    def __init__(self, url: str, name: str, *, batch_size: int = 32, concurrency: int = 4, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, headers: Mapping[str, str] | None = None,
                 api: str = "scores", model: str | None = None, question: str | None = None, yes: str = "Yes",
                 no: str = "No", logprobs: int = 20, task: str | None = None):
        if api not in APIS:
            raise ValueError(f"api={api!r} is not one of {APIS}")
        self.url, self.name = url, name
        self.batch_size, self.concurrency = batch_size, concurrency
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.api, self.model, self.question, self.task = api, model, question, task
        self.yes, self.no, self.logprobs = yes, no, int(logprobs)

    def __repr__(self):
        return f"HttpRM(name={self.name!r}, url={self.url!r})"

    def _post(self, body: dict) -> list:
        """One request, retried; the reply read by the api's reader (checked: one number or NaN per row)."""
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
            if self.api == "openai_completions":
                return self._judged(raw, len(body["prompt"]), who)
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

    def _judged(self, raw: bytes, n: int, who: str) -> list[float]:
        """logprob(yes) - logprob(no) per choice of a completions reply, by its index (module doc)."""
        fix = ('not a completions reply {"choices": [{"index": i, "logprobs": {"top_logprobs": [{token: '
               'logprob, ...}]}}, ...]}')
        try:
            choices = json.loads(raw)["choices"]
            tops = {}
            for c in choices:
                i, top = c["index"], c["logprobs"]["top_logprobs"][0]
                if isinstance(i, bool) or not isinstance(i, int) or not isinstance(top, Mapping) or not top:
                    raise TypeError
                if i in tops:
                    raise RemoteError(f"{who} answered choice index {i} twice; each prompt needs one choice")
                tops[i] = top
        except (ValueError, KeyError, TypeError, IndexError):
            raise RemoteError(f"{who} answered {raw[:200]!r}, {fix}") from None
        if sorted(tops) != list(range(n)):
            raise RemoteError(f"{who} answered choices {sorted(tops)[:10]} for {n} prompts; it must return one "
                              f"choice per prompt, indices 0..{n - 1} (max_tokens=1, no n / best_of)")
        out = []
        for i in range(n):
            top = tops[i]
            if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in top.values()):
                raise RemoteError(f"{who} answered top_logprobs {dict(list(top.items())[:5])!r} for prompt {i}; "
                                  "logprobs must be numbers")
            out.append(answer_log_odds(top, self.yes, self.no))
        return out

    def texts(self, prompts: Sequence[str], responses: Sequence[str], golds: Sequence[str | None],
              tasks: Sequence[str] | None = None) -> list[str]:
        """The judge's plain-text input per row (the completions form's ``prompt`` list)."""
        return [judge_message(p, r, self.question, (tasks[i] if tasks is not None else None) or self.task, golds[i],
                              self.yes, self.no) + PLAIN_SUFFIX for i, (p, r) in enumerate(zip(prompts, responses))]

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        golds = check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        b = self.batch_size
        if self.api == "openai_completions":
            texts = self.texts(prompts, responses, golds, tasks)
            bodies = [{"model": self.model, "prompt": texts[i:i + b], "max_tokens": 1, "logprobs": self.logprobs,
                       "temperature": 0} for i in range(0, len(texts), b)]
        else:
            bodies = [{"prompts": list(prompts[i:i + b]), "responses": list(responses[i:i + b]),
                       "golds": golds[i:i + b]} for i in range(0, len(responses), b)]
        if len(bodies) <= 1 or self.concurrency <= 1:
            chunks = [self._post(body) for body in bodies]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                chunks = list(pool.map(self._post, bodies))
        with np.errstate(over="ignore"):
            return np.asarray([s for chunk in chunks for s in chunk], np.float32)


def answer_log_odds(top: Mapping[str, float], yes: str, no: str) -> float:
    """logprob(yes) - logprob(no) from one position's top-K {token: logprob} (module doc): each
    answer's matching tokens (equal to it once whitespace is stripped) summed in probability; a
    missing answer at the smallest logprob returned; both missing: NaN."""
    floor = min(float(v) for v in top.values())
    found = []
    for answer in (yes.strip(), no.strip()):
        hits = [float(v) for k, v in top.items() if k.strip() == answer]
        found.append(float(np.logaddexp.reduce(hits)) if hits else None)
    if found[0] is None and found[1] is None:
        return math.nan
    return (floor if found[0] is None else found[0]) - (floor if found[1] is None else found[1])
