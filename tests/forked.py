"""Command lines of the tests run in forked children of one Python process that has already imported
JAX, Flax, transformers and laser_jax: each command is still its own process (its own exit code,
stdout, stderr, environment, working directory and XLA backend), without the ~2 s of interpreter
start and imports that `subprocess.run([sys.executable, "-m", ...])` pays every time (the suite
runs about a hundred command lines).

    run(cmd, env=..., cwd=..., timeout=...) -> subprocess.CompletedProcess (text stdout / stderr)

`cmd` is `[sys.executable, "-m", module, *args]` or `[sys.executable, script.py, *args]`. A command
falls back to a plain subprocess when the server cannot serve it faithfully: another interpreter
or `-c`, an environment whose JAX_* variables (read when JAX is imported) differ from the server's,
or a server that could not start. The server never starts an XLA backend (checked before each fork),
so no child inherits XLA's threads; a child's XLA_FLAGS are read when the child starts its backend.

Commands that the tests signal (SIGKILL, SIGTERM, SIGINT) keep `subprocess.Popen`: their pid must
be the command's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading

PRELOAD = ("numpy", "jax", "jax.numpy", "flax.nnx", "optax", "orbax.checkpoint", "transformers",
           "ml_collections", "absl.app", "absl.flags", "matplotlib.pyplot",
           "laser_jax.cli.train", "laser_jax.cli.compare", "laser_jax.cli.best_of_n", "laser_jax.cli.judge",
           "laser_jax.cli.rm_pool", "laser_jax.cli.convert")

_server = None
_lock = threading.Lock()


def _jax_env(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith("JAX_")}


class _Server:
    def __init__(self):
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=self.env)
        ready = self.proc.stdout.readline()
        if ready.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"fork server did not start: {ready!r}")

    def run(self, argv, env, cwd, timeout) -> dict | None:
        """The command's reply, or None when the server has exited without running it (it refuses
        to fork once an XLA backend has started in it)."""
        try:
            self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd, "timeout": timeout}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None


def _get_server():
    global _server
    if _server is None or (_server and _server.proc.poll() is not None):
        try:
            _server = _Server()
        except Exception:  # noqa: BLE001 - a server that cannot start means plain subprocesses
            _server = False
    return _server or None


def run(cmd, *, capture_output=True, text=True, env=None, cwd=None, timeout=None,
        **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)`,
    in a forked child of the pre-imported server where it can be (see the module docstring)."""
    global _server
    if not (capture_output and text):
        raise ValueError("forked.run captures stdout and stderr as text; use subprocess.run otherwise")
    env = dict(os.environ if env is None else env)
    cmd = [str(c) for c in cmd]
    plain = (kwargs or cmd[0] != sys.executable or len(cmd) < 2 or cmd[1] == "-c"
             or (cmd[1] == "-m" and len(cmd) < 3) or os.environ.get("LASER_JAX_TESTS_NO_FORK"))
    with _lock:
        server = None if plain else _get_server()
        if server is None or _jax_env(env) != _jax_env(server.env):
            return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, **kwargs)
        reply = server.run(cmd[1:], env, str(cwd or os.getcwd()), timeout)
        if reply is None:  # nothing ran: plain subprocesses from now on
            _server = False
            return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if reply.get("timed_out"):
        raise subprocess.TimeoutExpired(cmd, timeout, reply["stdout"], reply["stderr"])
    return subprocess.CompletedProcess(cmd, reply["returncode"], reply["stdout"], reply["stderr"])


# ------------------------------------------------------------------------------------------ server


def _child(argv, env, cwd, out_fd, err_fd):
    """In the forked child: the command's environment, directory, streams and sys.argv, then the
    module or script as __main__. Whatever it raises leaves the interpreter as it would leave a
    fresh one (SystemExit's code, or a traceback and exit 1); atexit handlers and non-daemon
    threads are waited for as at any interpreter's end."""
    import runpy

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for p in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
        if p not in sys.path:
            sys.path.insert(0, p)
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path.insert(0, cwd)
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        script = os.path.join(cwd, argv[0])
        sys.argv = [script, *argv[1:]]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        runpy.run_path(script, run_name="__main__")
    sys.exit(0)


def _serve():
    import importlib
    import signal
    import time

    for name in PRELOAD:
        importlib.import_module(name)
    from jax._src import xla_bridge

    protocol = sys.stdout
    print("ready", file=protocol, flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if xla_bridge._backends:  # noqa: SLF001 - never fork a process with XLA's threads
            raise SystemExit("fork server: an XLA backend was started; forking is no longer safe")
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            protocol.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                # never returns: its SystemExit (or error) ends this forked copy as it would end
                # a fresh interpreter running the command
                _child(req["argv"], req["env"], req["cwd"], out.fileno(), err.fileno())
            deadline = None if req["timeout"] is None else time.monotonic() + req["timeout"]
            timed_out, status = False, None
            while status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
                elif deadline is not None and time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                    timed_out = True
                else:
                    time.sleep(0.01)
            code = os.waitstatus_to_exitcode(status)
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read().decode("utf-8", "replace"))
        print(json.dumps({"returncode": code, "stdout": texts[0], "stderr": texts[1], "timed_out": timed_out}),
              file=protocol, flush=True)


if __name__ == "__main__":
    _serve()
