"""Process start-up shared by the command lines: flag parsing that fails with a message (never a
traceback), config files, multi-host initialisation and the compilation cache."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


def configure_logging() -> None:
    """INFO lines with a time stamp for laser_jax; absl, orbax and jax internals at WARNING."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("absl", "orbax", "jax._src"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input (config, data, model, checkpoint): `error:` + exit 2."""
    from laser_jax.config import ConfigError
    from laser_jax.data.example import DataError
    from laser_jax.models.config import CheckpointError

    return ConfigError, DataError, CheckpointError, ValueError


def enable_compilation_cache() -> None:
    """Keep compiled programs on disk (JAX's persistent cache) so a rerun or resume starts fast:
    $JAX_COMPILATION_CACHE_DIR if set, else <laser_jax cache>/xla."""
    import jax

    from laser_jax.models.embedded import cache_dir

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))


def maybe_initialize_distributed() -> None:
    """Multi-host launches: jax.distributed.initialize() when the environment says so (TPU pod
    workers, or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID for GPU clusters)."""
    import jax

    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                                   num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["JAX_PROCESS_ID"]))
    elif os.environ.get("TPU_WORKER_HOSTNAMES") and "," in os.environ["TPU_WORKER_HOSTNAMES"]:
        jax.distributed.initialize()


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
    `error: ...` line on stderr and exit code 2 (absl and ml_collections would print tracebacks)."""
    from absl import app, flags

    define_flags()

    def parse(argv):
        try:
            rest = flags.FLAGS(argv)
            config = getattr(flags.FLAGS, "config", None) if "config" in flags.FLAGS else None
            error = getattr(config, "_error", None)  # ml_collections keeps a load failure for later
            if isinstance(error, BaseException):
                raise error.__cause__ or error.__context__ or error
            return rest
        except Exception as e:  # noqa: BLE001 - absl flag errors and whatever loading the config raises
            print(f"error: {describe_config_error(e, argv)}", file=sys.stderr)
            sys.exit(2)

    app.run(lambda argv: sys.exit(run(argv)), flags_parser=parse)


def load_config_file(path: str):
    """get_config() of a configs/*.py file; ValueError with a clear message for a missing file, a
    syntax error or a file without get_config (for command lines that do not parse --config with absl)."""
    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location("run_config", path)
        if spec is None:
            raise FileNotFoundError(2, "not a Python file", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.get_config()
    except Exception as e:  # noqa: BLE001
        raise ValueError(describe_config_error(e, ["--config", path])) from None
