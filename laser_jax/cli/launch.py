"""Process start-up shared by the command lines: flag parsing that fails with a message (never a
traceback), `--help` that exits 0, config files, multi-host initialisation, the compilation cache,
and `run_command`: the one error ladder every command line runs its body in."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
from absl import app, flags

from laser_jax.errors import CommandFailed, ConfigError, LaserError
from laser_jax.models.embedded import cache_dir

HELP_FLAGS = ("--help", "-help", "-h", "--helpshort", "-helpshort", "--helpfull", "-helpfull", "-?")


def configure_logging() -> None:
    """INFO lines with a time stamp for laser_jax; absl, orbax and jax internals at WARNING."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("absl", "orbax", "jax._src"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input: LaserError and its subclasses (kept for old callers;
    `run_command` is the ladder)."""
    return (LaserError,)


def _traceback_file(workdir: str | os.PathLike | None) -> Path:
    """Where a bug's traceback goes: <workdir>/error.log when the workdir is a directory that
    takes it, else a new temporary file."""
    if workdir is not None and Path(workdir).is_dir():
        path = Path(workdir) / "error.log"
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(traceback.format_exc() + "\n")
            return path
        except OSError:
            pass
    fd, name = tempfile.mkstemp(prefix="laser_jax-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(traceback.format_exc() + "\n")
    return Path(name)


def run_command(body: Callable[[], int], *, workdir: str | os.PathLike | None = None,
                interrupted: str = "interrupted", io_hint: str = "choose a writable --workdir") -> int:
    """Runs a command's ``body`` and turns what escapes it into an exit code (the ladder every
    command line shares):

    - LaserError (bad input the user can fix): ``error: <message>`` on stderr, 2;
    - OSError (a workdir that cannot be made or written, a full disk): ``error: cannot write
      <file>: <reason>; <io_hint>``, 2;
    - CommandFailed (e.g. TrainingDiverged): ``error: <message>``, its ``exit_code`` (1);
    - KeyboardInterrupt: the ``interrupted`` line, 130;
    - anything else is a bug in laser_jax: its traceback goes to <workdir>/error.log (a temporary
      file when there is no workdir directory to take it), one line on stderr points there, 1.
    """
    try:
        return body()
    except LaserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {e.filename or workdir}: {e.strerror or e}; {io_hint}", file=sys.stderr)
        return 2
    except CommandFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - whatever else escapes is a bug: reported, with its traceback kept
        path = _traceback_file(workdir)
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        print(f"internal error ({type(e).__name__}: {first}): a bug in laser_jax; traceback in {path}; "
              "please report it", file=sys.stderr)
        return 1


def enable_compilation_cache() -> None:
    """Keep compiled programs on disk (JAX's persistent cache) so a rerun or resume starts fast:
    $JAX_COMPILATION_CACHE_DIR if set, else <laser_jax cache>/xla."""
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))


def maybe_initialize_distributed() -> None:
    """Multi-host launches: jax.distributed.initialize() when the environment says so (TPU pod
    workers, or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID for GPU clusters)."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                                   num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["JAX_PROCESS_ID"]))
    elif os.environ.get("TPU_WORKER_HOSTNAMES") and "," in os.environ["TPU_WORKER_HOSTNAMES"]:
        jax.distributed.initialize()


def refuse_file_as_directory(flag: str, path: str | os.PathLike | None) -> None:
    """ConfigError when ``path`` (given as ``flag``, a directory to write into) is an existing file."""
    if path and Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{flag}={path} is a file, not a directory; give a directory (it is made if missing)")


def describe_config_error(e: BaseException, argv: Sequence[str]) -> str:
    """One line for a problem met while parsing the flags or loading the --config file: it names
    the file, flag or field and what to do."""
    config = next((a.split("=", 1)[1] if "=" in a else (argv[i + 1] if i + 1 < len(argv) else "")
                   for i, a in enumerate(argv) if a in ("--config", "-config") or a.startswith("--config=")),
                  "the --config file")
    if isinstance(e, SyntaxError):
        return (f"--config {e.filename or config} line {e.lineno}: {e.msg}; fix the Python syntax of the "
                "config file")
    if isinstance(e, OSError):
        reason = e.strerror or str(e).strip().splitlines()[-1].strip().split("] ")[-1].split(":")[0]
        return f"--config {getattr(e, 'filename', None) or config}: {reason}; give a configs/*.py file"
    text = str(e).strip().strip('"').strip("'")
    if isinstance(e, AttributeError) and "get_config" in text:
        return f"--config {config}: the file defines no get_config(); a config file returns its ConfigDict from it"
    if isinstance(e, (AttributeError, KeyError)):
        name = text.strip("'\"")
        overrides = [a for a in argv if a.startswith("--config.")]
        culprit = next((a for a in overrides if f".{name}=" in a or a.split("=", 1)[0].endswith(f".{name}")), None)
        where = culprit or (", ".join(overrides) or "an override")
        return f"{where}: the config has no field {name!r}; check the name against {config}"
    line = " ".join(text.replace("FATAL Flags parsing error:", "").split())
    if "Could not parse" in line or "flag --config" in line:
        return f"{line}; an override is --config.<section>.<field>=<value> with a value of the field's type"
    return f"{type(e).__name__}: {line}" if not line.startswith("flag ") else line


def run_app(define_flags: Callable[[], None], run: Callable[[list[str]], int]) -> None:
    """absl's app.run with a flag parser that turns every flag / config-file problem into one
    `error: ...` line on stderr and exit code 2 (absl and ml_collections would print tracebacks),
    and `--help` (absl: usage on stdout, exit 1) into exit 0. `define_flags` lives in the command's
    module (cli/<command>.py); `python -m laser_jax.<name>` runs a thin entry module, so --help is
    told to show that command module's docstring and flags (absl shows those of ``__main__``)."""
    define_flags()
    command = sys.modules[define_flags.__module__]
    main = sys.modules.get("__main__")
    if main is not None and main is not command:
        main.__doc__ = command.__doc__
        for flag in flags.FLAGS.get_flags_for_module(command.__name__):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

    def parse(argv):
        try:
            rest = flags.FLAGS(argv)
            config = getattr(flags.FLAGS, "config", None) if "config" in flags.FLAGS else None
            error = getattr(config, "_error", None)  # ml_collections keeps a load failure for later
            if isinstance(error, BaseException):
                raise error.__cause__ or error.__context__ or error
            return rest
        except SystemExit:  # absl's --help / --helpfull printed the usage and exits 1
            if any(a.split("=", 1)[0] in HELP_FLAGS for a in argv[1:]):
                sys.stdout.flush()
                sys.exit(0)
            raise
        except Exception as e:  # noqa: BLE001 - absl flag errors and whatever loading the config raises
            print(f"error: {describe_config_error(e, argv)}", file=sys.stderr)
            sys.exit(2)

    app.run(lambda argv: sys.exit(run(argv)), flags_parser=parse)


def load_config_file(path: str):
    """get_config() of a configs/*.py file; ConfigError with a clear message for a missing file, a
    syntax error or a file without get_config (for command lines that do not parse --config with absl)."""
    try:
        spec = importlib.util.spec_from_file_location("run_config", path)
        if spec is None:
            raise FileNotFoundError(2, "not a Python file", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.get_config()
    except Exception as e:  # noqa: BLE001 - whatever loading a user's Python file raises is the user's to fix
        raise ConfigError(describe_config_error(e, ["--config", path])) from None
