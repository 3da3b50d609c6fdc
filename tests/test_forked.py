"""tests/forked.py, the fork server that runs the suite's command lines: each command behaves as
in its own `subprocess.run` (exit code, streams, environment, working directory, XLA flags read by
the command itself), compared with a plain subprocess running the same script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import forked

pytestmark = pytest.mark.skipif(bool(os.environ.get("LASER_JAX_TESTS_NO_FORK")),
                                reason="LASER_JAX_TESTS_NO_FORK: the suite runs plain subprocesses")

SCRIPT = """
import os, sys
print("out", os.environ.get("FORKED_PROBE"), os.getcwd())
print("err", sys.argv[1:], file=sys.stderr)
if sys.argv[1:] == ["raise"]:
    raise ValueError("boom")
sys.exit(int(sys.argv[1]) if sys.argv[1:] else 0)
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("args", [[], ["3"], ["raise"]])
def test_a_command_gives_what_a_plain_subprocess_gives(script, tmp_path, args):
    env = dict(os.environ, FORKED_PROBE="seen")
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, str(script), *args]
    got = forked.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=60)
    want = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=60)
    assert got.returncode == want.returncode == {(): 0, ("3",): 3, ("raise",): 1}[tuple(args)]
    assert got.stdout == want.stdout == f"out seen {work}\n"
    assert got.stderr.splitlines()[0] == want.stderr.splitlines()[0] == f"err {args}"
    if args == ["raise"]:
        assert got.stderr.splitlines()[-1] == want.stderr.splitlines()[-1] == "ValueError: boom"
    assert forked._server, "the command did not go through the fork server"  # noqa: SLF001


def test_a_module_runs_as_main_with_its_own_xla_flags(tmp_path):
    """`-m module` as `python -m`; XLA_FLAGS are the child's (the server never started a backend)."""
    (tmp_path / "probe_devices.py").write_text("import jax\nprint(jax.device_count())\n")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=3", PYTHONPATH=str(tmp_path))
    got = forked.run([sys.executable, "-m", "probe_devices"], capture_output=True, text=True, env=env,
                     cwd=tmp_path, timeout=120)
    assert (got.returncode, got.stdout) == (0, "3\n"), got.stderr[-2000:]


def test_a_command_past_its_timeout_is_killed(script, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        forked.run([sys.executable, str(slow)], capture_output=True, text=True, cwd=tmp_path, timeout=1)
    again = forked.run([sys.executable, str(script), "3"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert again.returncode == 3  # the server goes on serving


SLEEPER = """
import os, signal, sys, time
print("started", os.environ.get("JAX_PROCESS_ID"), flush=True)
print("to stderr", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]))
print("slept")
"""


def test_popen_gives_what_subprocess_popen_gives(tmp_path):
    """forked.Popen: a forked child whose pid is the command's (signals reach it), its streams
    through PIPE / a file / STDOUT, poll, wait with a timeout, and the exit codes of a plain
    subprocess.Popen; JAX_PROCESS_ID (read only by jax.distributed) does not stop the fork."""
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    env = dict(os.environ, JAX_PROCESS_ID="1")
    got = forked.Popen([sys.executable, str(script), "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, cwd=tmp_path)
    assert isinstance(got, forked.Popen)  # served by the fork server
    assert got.communicate(timeout=60) == ("started 1\nslept\n", "to stderr\n") and got.returncode == 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        procs = []
        for start in (forked.Popen, subprocess.Popen):
            proc = start([sys.executable, str(script), "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=tmp_path)
            assert proc.poll() is None
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
            procs.append(proc)
        for proc in procs:  # both have started (they printed) before the signal
            while "started" not in (Path(proc._pipes["stdout"]).read_text() if isinstance(proc, forked.Popen)
                                    else proc.stdout.readline()):
                pass
            proc.send_signal(sig)
        codes = [p.wait(timeout=60) for p in procs]
        assert codes[0] == codes[1] == -sig, (sig, codes)  # SIGINT too: Python re-raises it at exit
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        proc = forked.Popen([sys.executable, str(script), "0"], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        assert proc.wait(timeout=60) == 0
    assert sorted(log.read_text().splitlines()) == ["slept", "started 1", "to stderr"]
