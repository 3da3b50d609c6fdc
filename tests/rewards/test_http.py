"""Reward models served over HTTP, against real servers on loopback (nothing leaves the machine):
a healthy one, a slow one, one answering 500s, one answering garbage; retries, errors naming the
RM and URL, and a training run that stops cleanly when its server fails and resumes once it is back."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from laser_jax.errors import RemoteError
from laser_jax.rewards import build_reward_models
from laser_jax.rewards.spec import check_specs
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.py"


class Server:
    """A scoring server on 127.0.0.1: score = number of words of the response (None for an empty
    one); ``plan`` lists what the next requests get ("ok", "500", "slow", "garbage", "short", "404"),
    then ``after`` for every later one."""

    def __init__(self, plan=(), after="ok", delay=1.0):
        self.plan, self.after, self.delay, self.requests = list(plan), after, delay, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                mode = outer.plan.pop(0) if outer.plan else outer.after
                if mode in ("500", "404"):
                    self.send_response(int(mode))
                    self.end_headers()
                    self.wfile.write(b"oops")
                    return
                if mode == "slow":
                    time.sleep(outer.delay)
                scores = [len(r.split()) or None for r in body["responses"]]
                reply = {"garbage": b"<html>not json</html>", "short": json.dumps({"scores": scores[:-1]}).encode()}.get(
                    mode, json.dumps({"scores": scores}).encode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/score"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def make(*args, **kw):
        servers.append(Server(*args, **kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def rm_for(server, **fields):
    [rm] = build_reward_models([dict(kind="http", url=server.url, name="served", backoff=0.01, **fields)])
    return rm


RESPONSES = ["one", "one two", "", "one two three", "a b c d", "x"]


def test_scores_come_back_in_order_chunked_and_concurrent(server_factory):
    server = server_factory()
    rm = rm_for(server, batch_size=4, concurrency=2)
    got = rm.score(["p"] * 6, RESPONSES, ["g"] * 6)
    np.testing.assert_array_equal(got, np.array([1, 2, np.nan, 3, 4, 1], np.float32))
    assert sorted(len(b["responses"]) for b in server.requests) == [2, 4]
    assert all(b["golds"] == ["g"] * len(b["responses"]) for b in server.requests)
    [default] = build_reward_models([dict(kind="http", url=server.url)])
    assert default.name == server.url.split("//")[1]


def test_500s_and_timeouts_are_retried_then_succeed(server_factory):
    server = server_factory(plan=["500", "500"])
    np.testing.assert_array_equal(rm_for(server, retries=2).score(["p"], ["a b"]), [2.0])
    assert len(server.requests) == 3
    slow = server_factory(plan=["slow"], delay=2.0)
    np.testing.assert_array_equal(rm_for(slow, timeout=0.5, retries=1).score(["p"], ["a b c"]), [3.0])


@pytest.mark.parametrize("plan,fields,message", [
    (["500"] * 3, {"retries": 2}, "failed 3 time(s), last: HTTP 500"),
    (["404"], {"retries": 5}, "answered HTTP 404"),
    (["garbage"], {}, "not JSON"),
    (["short"], {}, "answered 1 scores for 2 responses"),
])
def test_a_failing_server_is_an_error_naming_the_rm_and_url(server_factory, plan, fields, message):
    server = server_factory(plan=plan)
    with pytest.raises(RemoteError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        rm_for(server, **fields).score(["p", "p"], ["a", "b"])
    assert f"reward model 'served' ({server.url})" in str(e.value)
    if plan[0] == "404":
        assert len(server.requests) == 1  # a 4xx is not retried


def test_unreachable_server_and_bad_entries():
    [rm] = build_reward_models([dict(kind="http", url="http://127.0.0.1:9/none", retries=1, backoff=0.0,
                                     timeout=2.0)])
    with pytest.raises(RemoteError, match="failed 2 time"):
        rm.score(["p"], ["a"])
    problems = check_specs([dict(kind="http", url="ftp://x", timeout=0, retries=-1, headers={"a": 1})])
    assert [p.split("=")[0].split(" ")[0] for p in problems] == [
        "rewards[0].timeout", "rewards[0].retries", "rewards[0].url", "rewards[0].headers"], problems


def _config(tmp_path, url: str) -> Path:
    path = tmp_path / "served.py"
    path.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('tiny', {str(TINY)!r})\n"
        "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n\n\n"
        "def get_config():\n    c = tiny.get_config()\n"
        f"    c.rewards[1] = dict(name='served', kind='http', url={url!r}, retries=1, backoff=0.0)\n"
        "    return c\n")
    return path


def _train(tmp_path, config, workdir):
    env = dict(os.environ, LASER_JAX_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    return forked.run([sys.executable, "-m", "laser_jax.main", f"--config={config}", f"--workdir={workdir}",
                           "--config.logging.progress=False", "--config.training.iterations=1",
                           "--config.training.checkpoint_every=1", "--config.selector=fixed",
                           "--config.selector_args.arm=1", "--config.eval.before=False"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_a_run_whose_server_fails_stops_cleanly_and_resumes(tmp_path, server_factory):
    """The server answers the first step's request, then only 500s: the run stops with exit 2
    after step 1's checkpoint; with the server back, the same command resumes from it."""
    server = server_factory(plan=["ok"], after="500")
    config, workdir = _config(tmp_path, server.url), tmp_path / "run"
    first = _train(tmp_path, config, workdir)
    assert first.returncode == 2 and "Traceback" not in first.stderr, first.stderr[-3000:]
    assert f"reward model 'served' ({server.url}) failed 2 time(s)" in first.stderr
    before = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in before] == [1]
    server.after = "ok"
    again = _train(tmp_path, config, workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr
    after = (workdir / "metrics.jsonl").read_text().splitlines()
    assert after[0] == before[0] and len(after) > 1  # step 1 kept as written, the rest appended


# ---- the OpenAI-compatible completions form (api="openai_completions") ----------------------------

# what the emulated judge answers after each response: its first position's top-K {token: logprob}
TOP = {
    "right": {" Yes": -0.2, " No": -1.8, " yes": -3.0, " Maybe": -4.0},
    "split": {"Yes": -1.0, " Yes": -2.0, " No": -0.5, "\n": -5.0},  # yes as two tokens: summed
    "no_missing": {" Yes": -0.7, " Sure": -1.2, " OK": -3.5},  # no below the top K: at -3.5
    "yes_missing": {" No": -0.1, " Nope": -2.6},  # yes below the top K: at -2.6
    "neither": {" Maybe": -0.3, " Perhaps": -1.4},  # no opinion: NaN
}
WANT = {"right": -0.2 + 1.8, "split": float(np.logaddexp(-1.0, -2.0)) + 0.5, "no_missing": -0.7 + 3.5,
        "yes_missing": -2.6 + 0.1, "neither": np.nan}


class CompletionsServer:
    """A /v1/completions endpoint on 127.0.0.1: for each prompt text, the top logprobs `TOP` lists
    for the response between "[Response]\\n" and the next blank line; choices in reverse order (so
    only their index matches them to prompts). ``mode``: "ok", "garbage", "scores" (the plain
    form's reply), "gap" (a choice missing), "delay" (0.2 s per request, to count requests in flight)."""

    def __init__(self, mode="ok"):
        self.mode, self.requests, self.in_flight, self.most = mode, [], 0, 0
        lock, outer = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    outer.requests.append((self.path, dict(self.headers), body))
                    outer.in_flight += 1
                    outer.most = max(outer.most, outer.in_flight)
                if outer.mode == "delay":
                    time.sleep(0.2)
                choices = [{"index": i, "text": " Yes", "finish_reason": "length",
                            "logprobs": {"tokens": [" Yes"], "token_logprobs": [-0.2], "text_offset": [0],
                                         "top_logprobs": [TOP[text.split("[Response]\n")[1].split("\n\n")[0]]]}}
                           for i, text in enumerate(body["prompt"])][::-1]
                if outer.mode == "gap":
                    choices = choices[1:]
                reply = {"id": "cmpl-1", "object": "text_completion", "model": body["model"], "choices": choices}
                raw = {"garbage": b'{"object": "error", "message": "model not found"}',
                       "scores": json.dumps({"scores": [1.0] * len(body["prompt"])}).encode()}.get(
                    outer.mode, json.dumps(reply).encode())
                with lock:
                    outer.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/completions"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def completions():
    servers = []

    def make(mode="ok"):
        servers.append(CompletionsServer(mode))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def judge_for(server, default_task=None, **fields):
    entry = dict(kind="http", api="openai_completions", url=server.url, model="judge-7b", name="served_judge",
                 backoff=0.01, **fields)
    [rm] = build_reward_models([entry], default_task=default_task)
    return rm


def test_completions_scores_are_yes_minus_no_log_odds_matched_by_index(completions):
    from laser_jax.rewards.judge import FRAME, PLAIN_SUFFIX, QUESTIONS

    server = completions()
    rm = judge_for(server, headers={"Authorization": "Bearer k"})
    names = list(TOP)
    got = rm.score([f"q{i}" for i in range(5)], names, ["1"] * 5, tasks=["jsonl:numeric"] * 4 + ["wildchat"])
    np.testing.assert_allclose(got, np.array([WANT[k] for k in names], np.float32), rtol=1e-6)
    [(path, headers, body)] = server.requests
    assert path == "/v1/completions" and headers["Authorization"] == "Bearer k"
    assert {k: v for k, v in body.items() if k != "prompt"} == {"model": "judge-7b", "max_tokens": 1,
                                                                  "logprobs": 20, "temperature": 0}
    # the judge kind's text: its frame, the row's task's question, the plain-text suffix
    assert body["prompt"][0] == ("[Request]\nq0\n\n[Response]\nright\n\nIs the final answer of this response "
                                 "correct? Answer with a single word: Yes or No.\n\nAnswer:")
    assert body["prompt"][4] == FRAME.format(prompt="q4", response="neither", question=QUESTIONS["open"],
                                             yes="Yes", no="No") + PLAIN_SUFFIX
    # a question of the entry's own, other answers (the frame names them), top-K asked for
    other = judge_for(server, question="Is it right?", yes="Oui", no="Non", logprobs=5)
    assert np.isnan(other.score(["q"], ["right"])).all()  # neither answer among the top K
    body = server.requests[-1][2]
    assert body["logprobs"] == 5 and "Is it right? Answer with a single word: Oui or Non." in body["prompt"][0]


def test_completions_default_question_is_the_runs_task_and_a_template_is_filled(completions):
    server = completions()
    judge_for(server, default_task="jsonl:choice").score(["q"], ["right"])
    assert "Is the option this response chooses the correct one?" in server.requests[-1][2]["prompt"][0]
    judge_for(server, question="Q: {prompt}\n[Response]\n{response}\n\nGood?").score(["a {response} b"], ["split"])
    assert server.requests[-1][2]["prompt"] == ["Q: a {response} b\n[Response]\nsplit\n\nGood?\n\nAnswer:"]


def test_completions_are_batched_and_sent_concurrently(completions):
    server = completions("delay")
    rm = judge_for(server, batch_size=2, concurrency=3)
    names = list(TOP) + ["right", "split"]
    got = rm.score(["p"] * 7, names)
    np.testing.assert_allclose(got, np.array([WANT[k] for k in names], np.float32), rtol=1e-6)
    assert sorted(len(b["prompt"]) for _, _, b in server.requests) == [1, 2, 2, 2]
    assert server.most == 3  # three requests in flight at once (concurrency), never more


@pytest.mark.parametrize("mode,message", [
    ("garbage", "not a completions reply"),
    ("scores", "not a completions reply"),
    ("gap", r"answered choices \[0, 1\] for 3 prompts"),
])
def test_a_bad_completions_reply_is_an_error_naming_the_rm_and_url(completions, mode, message):
    server = completions(mode)
    with pytest.raises(RemoteError, match=message) as e:
        judge_for(server).score(["p"] * 3, ["right"] * 3)
    assert f"reward model 'served_judge' ({server.url})" in str(e.value)


def test_completions_entries_are_checked_by_field():
    base = dict(kind="http", url="http://127.0.0.1:9/v1/completions")
    cases = [
        (dict(api="openai_completions"), "rewards[0].model is missing"),
        (dict(api="chat"), "rewards[0].api='chat' is not one of"),
        (dict(model="m"), "rewards[0].model is set but api is 'scores'"),
        (dict(api="openai_completions", model="m", logprobs=0), "rewards[0].logprobs=0 must be an integer >= 1"),
        (dict(api="openai_completions", model="m", yes=" No"), "rewards[0].yes and .no are both 'No'"),
        (dict(api="openai_completions", model="m", yes=""), "rewards[0].yes='': the judge's answer must be"),
        (dict(api="openai_completions", model="m", question="{prompt}?"), "rewards[0].question: a template"),
    ]
    for fields, message in cases:
        problems = check_specs([{**base, **fields}])
        assert len(problems) == 1 and problems[0].startswith(message), (fields, problems)
    assert check_specs([{**base, "api": "openai_completions", "model": "m", "logprobs": 5, "yes": "Oui",
                         "no": "Non", "question": "Right?"}]) == []
