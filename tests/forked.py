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

Commands that the tests signal (SIGKILL, SIGTERM, SIGINT) or run side by side start with `Popen`,
which takes `subprocess.Popen`'s arguments and gives its interface (pid, poll, wait, communicate,
send_signal, kill, returncode): the forked child is the command's process, so its pid is the one to
signal; stdout / stderr go to a file (PIPE: read back by `communicate`), DEVNULL, STDOUT, or an
open file. JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID may differ from the
server's: JAX reads them only when `jax.distributed.initialize` runs (laser_jax/cli/launch.py),
never at import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

PRELOAD = ("numpy", "jax", "jax.numpy", "flax.nnx", "optax", "orbax.checkpoint", "transformers",
           "ml_collections", "absl.app", "absl.flags", "matplotlib.pyplot",
           "laser_jax.cli.train", "laser_jax.cli.compare", "laser_jax.cli.best_of_n", "laser_jax.cli.judge",
           "laser_jax.cli.rm_pool", "laser_jax.cli.convert")

_server = None
_lock = threading.Lock()


RUNTIME_JAX_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")  # read after import


def _jax_env(env) -> dict:
    """The JAX_* variables JAX reads when it is imported (a child must see the server's)."""
    return {k: v for k, v in env.items() if k.startswith("JAX_") and k not in RUNTIME_JAX_ENV}


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
        return self.ask({"argv": argv, "env": env, "cwd": cwd, "timeout": timeout})

    def ask(self, request: dict) -> dict | None:
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
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
    plain = bool(kwargs) or not _servable(cmd)
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


def _servable(cmd) -> bool:
    return not (cmd[0] != sys.executable or len(cmd) < 2 or cmd[1] == "-c" or (cmd[1] == "-m" and len(cmd) < 3)
                or os.environ.get("LASER_JAX_TESTS_NO_FORK"))


class Popen:
    """`subprocess.Popen(cmd, stdout=..., stderr=..., text=True, env=..., cwd=...)` as a forked child of
    the server (module docstring); a plain `subprocess.Popen` when the server cannot serve it."""

    def __new__(cls, cmd, *, stdout=None, stderr=None, text=True, env=None, cwd=None):
        global _server
        env = dict(os.environ if env is None else env)
        cmd = [str(c) for c in cmd]
        plain = not text or not _servable(cmd)
        with _lock:
            server = None if plain else _get_server()
            if server is not None and _jax_env(env) == _jax_env(server.env):
                self = super().__new__(cls)
                self._server, self.args, self.returncode = server, cmd, None
                self._pipes = {}
                paths = {}
                for name, dest in (("stdout", stdout), ("stderr", stderr)):
                    if dest == subprocess.PIPE:
                        fd, path = tempfile.mkstemp(prefix=f"forked-{name}-")
                        os.close(fd)
                        self._pipes[name] = paths[name] = path
                    elif dest == subprocess.STDOUT and name == "stderr":
                        paths[name] = "STDOUT"
                    elif dest in (None, subprocess.DEVNULL):
                        paths[name] = os.devnull
                    else:  # an open file
                        dest.flush()
                        paths[name] = dest.name
                reply = server.ask({"op": "spawn", "argv": cmd[1:], "env": env, "cwd": str(cwd or os.getcwd()),
                                    "stdout": paths["stdout"], "stderr": paths["stderr"]})
                if reply is not None:
                    self.pid = reply["pid"]
                    return self
                _server = False
        return subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=text, env=env, cwd=cwd)

    def __init__(self, *args, **kwargs):  # __new__ did the work
        pass

    def _ask(self, op: str, timeout=None):
        with _lock:
            reply = self._server.ask({"op": op, "pid": self.pid, "timeout": timeout})
        if reply is None:
            raise RuntimeError("fork server exited while it held a child")
        if reply.get("timed_out"):
            raise subprocess.TimeoutExpired(self.args, timeout)
        if reply["returncode"] is not None:
            self.returncode = reply["returncode"]
        return self.returncode

    def poll(self):
        return self.returncode if self.returncode is not None else self._ask("poll")

    def wait(self, timeout=None):
        return self.returncode if self.returncode is not None else self._ask("wait", timeout)

    def communicate(self, timeout=None):
        self.wait(timeout)
        out = []
        for name in ("stdout", "stderr"):
            path = self._pipes.pop(name, None)
            if path is None:
                out.append(None)
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                out.append(f.read())
            os.unlink(path)
        return tuple(out)

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


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

    for name in PRELOAD:
        importlib.import_module(name)
    from jax._src import xla_bridge

    protocol = sys.stdout
    print("ready", file=protocol, flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op", "run")
        if op in ("poll", "wait"):  # a spawned child (Popen)
            print(json.dumps(_wait(req["pid"], None if op == "poll" else req["timeout"], block=op == "wait")),
                  file=protocol, flush=True)
            continue
        if xla_bridge._backends:  # noqa: SLF001 - never fork a process with XLA's threads
            raise SystemExit("fork server: an XLA backend was started; forking is no longer safe")
        if op == "spawn":
            protocol.flush()
            sys.stderr.flush()
            out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            err = out if req["stderr"] == "STDOUT" else os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            pid = os.fork()
            if pid == 0:
                _child(req["argv"], req["env"], req["cwd"], out, err)
            for fd in {out, err}:
                os.close(fd)
            print(json.dumps({"pid": pid}), file=protocol, flush=True)
            continue
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            protocol.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                # never returns: its SystemExit (or error) ends this forked copy as it would end
                # a fresh interpreter running the command
                _child(req["argv"], req["env"], req["cwd"], out.fileno(), err.fileno())
            done = _wait(pid, req["timeout"], block=True)
            code, timed_out = done["returncode"], done["timed_out"]
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read().decode("utf-8", "replace"))
        print(json.dumps({"returncode": code, "stdout": texts[0], "stderr": texts[1], "timed_out": timed_out}),
              file=protocol, flush=True)


def _wait(pid: int, timeout, *, block: bool) -> dict:
    """A child's exit code (None while it runs: poll, or wait past ``timeout``)."""

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": False}
        if not block:
            return {"returncode": None, "timed_out": False}
        if deadline is not None and time.monotonic() > deadline:
            return {"returncode": None, "timed_out": True}
        time.sleep(0.01)


if __name__ == "__main__":
    _serve()
