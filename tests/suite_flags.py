"""The XLA flags of the whole test suite: tests/conftest.py sets them before JAX starts its CPU
backend, and the files that build a command's environment or start JAX on their own read them
here, so there is one place to change them.

Tiny models compile far longer than they run, so compiling is made cheaper; the operations
computed are the same either way:
- ``OPT_LEVEL``: LLVM's backend optimisation turned down (-O0).
- ``EMITTERS``: XLA:CPU's older fusion emitters instead of its MLIR fusion emitters, which take
  about twice as long to compile (measured 2026-12-07, AMD EPYC, 2 cores, `JAX_LOG_COMPILES=1
  python tests/sharded_step.py 1x1x1`: configs/tiny.py's one LASeR step compiles in 4.5-5.4 s
  instead of 11.5 s, train_step 2.1-2.9 s instead of 6.0 s, the same loss to the last bit;
  tests/best_of_n/test_replay.py 53 s instead of 72 s).
Real-model commands (tests/runs.py's `real_model_env`) run with XLA's defaults: at -O2 the older
emitters compile SmolLM2's sampler slower (23.6-24.2 s against 16.3-17.0 s, the same 5.5 s a run:
`python bench/bench_sampling.py --skip-hf --prompts 4 --n 4 --new 32`), and so do the LinUCB
exactness runs of tests/bandit/test_linucb_large_d.py (there the older emitters saved 9 s of a
short run's 38 s, but the suite's three long runs took 396 s with them against 378 s without),
and the LM judge of tests/test_instruction_following.py (29.5 against 37.7 CPU-s with these flags).
The demo's and the front door's short runs take these flags instead: measured 2026-12-08 (AMD EPYC,
2 cores, a fresh compilation cache each, one command after the other), the demo's compare run of
tests/test_demo.py 140 CPU-s with them against 156 with XLA's defaults, the front door's run of
tests/best_of_n/test_front_door.py 99 against 109; configs/gemma_rm.py:smoke 135 against 138 (it
takes them too, to share SmolLM2's sampler program with the front door's test)."""

OPT_LEVEL = "--xla_backend_optimization_level=0"
EMITTERS = "--xla_cpu_use_fusion_emitters=false"
XLA_FLAGS = f"{OPT_LEVEL} {EMITTERS}"
