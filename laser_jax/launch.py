"""Process start-up shared by the command lines: multi-host initialisation and the compilation cache."""

from __future__ import annotations

import os


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
