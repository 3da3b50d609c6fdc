"""Reward models served over HTTP, against real servers on loopback (nothing leaves the machine):
a healthy one, a slow one, one answering 500s, one answering garbage; retries, errors naming the
RM and URL, and a training run that stops cleanly when its server fails and resumes once it is back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from laser_jax.errors import RemoteError
from laser_jax.rewards import build_reward_models
from laser_jax.rewards.build import check_specs

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
    return subprocess.run([sys.executable, "-m", "laser_jax.main", f"--config={config}", f"--workdir={workdir}",
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
