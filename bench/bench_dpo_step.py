"""One DPO + NLL training step with FULL fine-tuning: laser_jax.train_step vs a plain PyTorch step.

SmolLM2-135M-Instruct (the embedded GGUF in float32, the same weights on both sides). The batch:
B chat-formatted GSM8K prompts, left-padded / cut to Tp tokens, P pairs per prompt, chosen and
rejected responses of R real tokens each (fixed random ids): 2*B*P sequences of Tp + R tokens.
Default B=4, P=2, Tp=128, R=64: 8 pairs, 16 sequences of 192 tokens.

- laser_jax: `train_step` jitted as in `laser_jax.training.runtime` (params donated): the reference's
  log-probs (stop_gradient), the policy's forward + backward, AdamW after global-norm clipping.
  Each prompt runs ONCE into a KV cache shared by its 2P responses.
- peer: plain PyTorch on transformers' LlamaForCausalLM: the 2*B*P full rows (prompt + response)
  in one batch, reference log-probs under torch.no_grad from a frozen deepcopy, loss =
  mean_pairs[-logsigmoid(beta * margin) + alpha * NLL(chosen, token mean)], clip_grad_norm_(1.0),
  torch.optim.AdamW. `logits_to_keep=R+1`, so the LM head runs only where log-probs are read.

    python bench/bench_dpo_step.py                 # B=4, P=2, Tp=128, R=64
    python bench/bench_dpo_step.py --breakdown     # + laser_jax's step split into its parts
    python bench/bench_dpo_step.py --quick         # B=2, P=1, Tp=64, R=32

Seconds per step = median of the timed steps after one warm-up step (ours: its compile). The
loss, NLL and gradient norm of the first step (identical weights and data) are compared.
Achieved GFLOP/s counts what each side computes (see `step_flops`) against the machine's measured
float32 matmul peak (`common.matmul_peak`).
"""

from __future__ import annotations

import copy
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

BETA, ALPHA, LR = 0.1, 1.0, 5e-6


# --------------------------------------------------------------------------------------------- FLOPs


def matmul_params(cfg) -> tuple[int, int]:
    """(weights multiplied per token in the decoder layers, weights of the LM head)."""
    e, h, kv, d, f = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.intermediate_size
    per_layer = 2 * e * h * d + 2 * e * kv * d + 3 * e * f
    return per_layer * cfg.num_layers, cfg.vocab_size * e


def forward_flops(cfg, segments, head_positions) -> float:
    """Forward FLOPs: segments = [(rows, queries, keys)] run through the layers (2 flops per weight
    per token, plus QK^T and PV: 4 * queries * keys * heads * head_dim per row and layer, dense as
    computed), and the LM head at `head_positions` positions."""
    body, head = matmul_params(cfg)
    total = 0.0
    for rows, q, k in segments:
        total += 2.0 * body * rows * q + 4.0 * rows * q * k * cfg.num_heads * cfg.head_dim * cfg.num_layers
    return total + 2.0 * head * head_positions


def step_flops(cfg, *, ours: bool, b: int, p: int, tp: int, r: int) -> dict[str, float]:
    """Model FLOPs of one step as each side computes it: policy forward + backward = 3 x forward,
    reference = 1 x forward. Ours: B prompt rows (Tp x Tp) then 2BP response rows (R queries x
    Tp+R keys), LM head at 2BP*R positions. Peer: 2BP rows of Tp+R (full square attention), LM head
    at 2BP*(R+1) positions (logits_to_keep)."""
    rows = 2 * b * p
    if ours:
        fwd = forward_flops(cfg, [(b, tp, tp), (rows, r, tp + r)], rows * r)
        tokens = b * tp + rows * r
    else:
        fwd = forward_flops(cfg, [(rows, tp + r, tp + r)], rows * (r + 1))
        tokens = rows * (tp + r)
    body, head = matmul_params(cfg)
    simple = 8.0 * (body + head) * tokens  # 6 N (policy) + 2 N (reference) per token run
    return {"detailed": 4.0 * fwd, "simple_8N": simple, "tokens_per_model": tokens}


# --------------------------------------------------------------------------------------------- data


def make_batch(tok, b: int, p: int, tp: int, r: int, seed: int = 0):
    """numpy (prompt_ids [B,Tp], prompt_mask, ids [B,2,P,R], mask, weights [B,P])."""
    import numpy as np

    from laser_jax.batch import PromptBatch

    examples = common.gsm8k_examples(b)
    pad = common.pad_id(tok)
    batch = PromptBatch.encode(tok, examples, max_tokens=tp, pad_id=pad, bucket=tp)
    prompt_ids, prompt_mask = batch.ids, batch.mask
    assert prompt_ids.shape == (b, tp), prompt_ids.shape
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, tok.vocab_size - 10, size=(b, 2, p, r)).astype(np.int32)
    mask = np.ones((b, 2, p, r), np.int32)
    weights = np.ones((b, p), np.float32)
    return prompt_ids, prompt_mask, ids, mask, weights


# --------------------------------------------------------------------------------------------- peer


class TorchDPO:
    """The plain PyTorch step (see the module doc)."""

    def __init__(self, model, batch, threads_note: str, device: str = "cpu"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.policy = model.to(self.device).train()
        self.ref = copy.deepcopy(model).eval()
        for q in self.ref.parameters():
            q.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.0)
        prompt_ids, prompt_mask, ids, mask, weights = batch
        b, _, p, r = ids.shape
        tp = prompt_ids.shape[1]
        # rows: chosen (b, p) in order, then rejected (b, p): [2*B*P, Tp+R]
        rows_ids, rows_mask, resp_mask = [], [], []
        for side in range(2):
            for i in range(b):
                for j in range(p):
                    rows_ids.append(list(prompt_ids[i]) + list(ids[i, side, j]))
                    rows_mask.append(list(prompt_mask[i]) + list(mask[i, side, j]))
                    resp_mask.append(list(mask[i, side, j]))
        dev = self.device
        self.input_ids = torch.tensor(rows_ids, dtype=torch.long, device=dev)
        self.attn = torch.tensor(rows_mask, dtype=torch.long, device=dev)
        self.position_ids = (self.attn.cumsum(1) - 1).clamp(min=0)  # left padding: count real tokens
        self.targets = self.input_ids[:, tp:]  # [rows, R]
        self.resp_mask = torch.tensor(resp_mask, dtype=torch.float32, device=dev)
        self.weights = torch.tensor(weights.reshape(-1), dtype=torch.float32, device=dev)
        self.r, self.n_pairs = r, b * p
        self.parts: dict[str, list[float]] = {"ref_forward": [], "policy_fwd_bwd": [], "optimizer": []}

    def logps(self, model):
        """Summed response log-probs [rows]: logits at positions Tp-1 .. Tp+R-2 predict the R response
        tokens (logits_to_keep=R+1 computes the last R+1 positions only)."""
        torch = self.torch
        out = model(input_ids=self.input_ids, attention_mask=self.attn, position_ids=self.position_ids,
                    logits_to_keep=self.r + 1, use_cache=False)
        logits = out.logits[:, :-1].float()  # [rows, R, V]
        lp = torch.log_softmax(logits, dim=-1).gather(-1, self.targets[..., None])[..., 0]
        return (lp * self.resp_mask).sum(-1)

    def step(self):
        torch = self.torch
        t0 = time.perf_counter()
        with torch.no_grad():
            ref = self.logps(self.ref)
        t1 = time.perf_counter()
        pol = self.logps(self.policy)
        n = self.n_pairs
        c, rj, rc, rr = pol[:n], pol[n:], ref[:n], ref[n:]
        margin = (c - rc) - (rj - rr)
        dpo = -torch.nn.functional.logsigmoid(BETA * margin)
        nll = -c / self.resp_mask[:n].sum(-1).clamp(min=1.0)
        w = self.weights
        loss = (w * (dpo + ALPHA * nll)).sum() / w.sum().clamp(min=1.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        gnorm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
        self.opt.step()
        t3 = time.perf_counter()
        for k, v in zip(self.parts, (t1 - t0, t2 - t1, t3 - t2)):
            self.parts[k].append(v)
        with torch.no_grad():
            return {"loss": loss.item(), "nll": ((w * nll).sum() / w.sum()).item(),
                    "dpo": ((w * dpo).sum() / w.sum()).item(), "grad_norm": gnorm.item()}


# --------------------------------------------------------------------------------------------- ours


class JaxDPO:
    """laser_jax's step, built as `laser_jax.training.runtime` builds it (full fine-tuning, one device)."""

    def __init__(self, model, batch):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from laser_jax.models.lora import frozen_filter, trainable_filter
        from laser_jax.sharding import mesh_of
        from laser_jax.training.runtime import compile_step
        from laser_jax.training.update import PairBatch, StepConfig, make_optimizer

        self.jax = jax
        self.graphdef, self.params, self.frozen = nnx.split(model, trainable_filter(False), frozen_filter(False))
        self.optimizer = make_optimizer(learning_rate=LR, total_steps=1000, weight_decay=0.0, max_grad_norm=1.0)
        self.hp = StepConfig(beta=BETA, alpha_nll=ALPHA)
        self.ref = jax.tree.map(jnp.copy, self.params)
        # the loop's own jitted step and optimizer placement (runtime.compile_step): an optimizer state
        # from a plain jax.jit(init) has an unplaced step count, so the step would compile twice
        _, opt_sh, self.step_fn, _ = compile_step(self.graphdef, mesh_of(self.params), self.params, self.frozen,
                                                  self.optimizer, self.hp)
        self.opt_state = jax.jit(self.optimizer.init, out_shardings=opt_sh)(self.params)
        self.batch = PairBatch(*(jnp.asarray(x) for x in batch))

    def step(self):
        self.params, self.opt_state, metrics = self.step_fn(self.params, self.frozen, self.ref, self.opt_state,
                                                            self.batch)
        return metrics

    def breakdown(self, repeat: int) -> dict[str, dict]:
        """The step's parts, each jitted alone: the reference forward, the policy's loss forward,
        forward + backward (no optimizer), the optimizer update alone, the whole step."""
        import jax
        import optax
        from flax import nnx

        from laser_jax.training import losses
        from laser_jax.training.update import _pair_logps

        graphdef, frozen, batch, hp = self.graphdef, self.frozen, self.batch, self.hp

        @jax.jit
        def ref_forward(ref):
            return _pair_logps(nnx.merge(graphdef, ref, frozen), batch)

        rc, rr, _ = ref_forward(self.ref)

        def loss(p):
            c, r, n = _pair_logps(nnx.merge(graphdef, p, frozen), batch)
            lp = losses.PairLogps(c, r, rc, rr, n)
            return losses.preference_loss_sums(lp, batch.weights.reshape(-1), beta=hp.beta, alpha_nll=hp.alpha_nll
                                               )["loss"]

        grad = jax.jit(jax.grad(loss))
        fwd = jax.jit(loss)
        grads = grad(self.params)

        @jax.jit
        def update(params, opt_state, grads):
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        parts = {"ref_forward": lambda: ref_forward(self.ref), "policy_forward": lambda: fwd(self.params),
                 "policy_fwd_bwd": lambda: grad(self.params),
                 "optimizer": lambda: update(self.params, self.opt_state, grads)}
        return {k: common.timeit(f, warmup=1, repeat=repeat) for k, f in parts.items()}


# --------------------------------------------------------------------------------------------- main


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--prompts", type=int, default=4, help="B")
    p.add_argument("--pairs", type=int, default=2, help="P, pairs per prompt")
    p.add_argument("--prompt-len", type=int, default=128, help="Tp")
    p.add_argument("--response-len", type=int, default=64, help="R")
    p.add_argument("--breakdown", action="store_true", help="also time laser_jax's step in parts, and the same "
                   "full-row forward in both frameworks")
    p.add_argument("--peak-n", type=int, default=2048, help="matmul size for the peak measurement")
    p.add_argument("--skip-torch", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.prompts, args.pairs, args.prompt_len, args.response_len = 2, 1, 64, 32
    repeat = args.repeat or (1 if args.quick else 3)
    b, pp, tp, r = args.prompts, args.pairs, args.prompt_len, args.response_len

    import logging

    import numpy as np

    logging.getLogger("laser_jax").setLevel(logging.ERROR)  # "keeping the last Tp tokens" of long prompts
    threads = common.set_torch_threads(args.threads)
    info = common.print_machine()
    path = common.smollm2_path()
    tok = common.load_tokenizer(path)
    batch = make_batch(tok, b, pp, tp, r)
    print(f"# SmolLM2-135M-Instruct float32, full fine-tuning; {b} prompts x {pp} pairs = {b * pp} pairs; prompts "
          f"left-padded to {tp} ({int(batch[1].sum(1).min())}..{int(batch[1].sum(1).max())} real tokens), "
          f"responses {r} tokens: {2 * b * pp} sequences of {tp + r}; beta {BETA}, alpha_nll {ALPHA}, AdamW lr {LR}, "
          f"clip 1.0; torch threads {threads}; {repeat} timed steps per side, alternating, after 1 warm-up")

    model = common.load_jax(path)
    cfg = model.cfg
    ours = JaxDPO(model, batch)
    fns = {"ours": ours.step}
    first = {}
    if not args.skip_torch:
        peer = TorchDPO(common.load_torch(path), batch, str(threads))
        fns["peer"] = peer.step
    # the warm-up step of each side starts from the same weights: compare its loss terms
    t0 = time.perf_counter()
    m = common.block(ours.step())
    compile_s = time.perf_counter() - t0
    first["ours"] = {k: float(m[k]) for k in ("loss", "nll", "dpo", "grad_norm")}
    if not args.skip_torch:
        t0 = time.perf_counter()
        first["peer"] = peer.step()
        peer_first = time.perf_counter() - t0
    times = common.timeit_pair(fns, warmup=0, repeat=repeat)
    t_ours = times["ours"]["median"]
    fl_ours = step_flops(cfg, ours=True, b=b, p=pp, tp=tp, r=r)
    peak = common.matmul_peak(args.peak_n)
    common.print_peak(peak, args.peak_n)
    g_ours = fl_ours["detailed"] / t_ours / 1e9
    print(f"# first step (same weights, same batch): ours {first['ours']}")
    print(f"laser_jax train_step: {t_ours:.3f} s/step  runs {common.fmt_runs(times['ours'])}; first step "
          f"{compile_s:.1f} s (compile ~{compile_s - t_ours:.1f} s)")
    print(f"  ours computes {fl_ours['tokens_per_model']} tokens per model (B*Tp + 2BP*R): "
          f"{fl_ours['detailed'] / 1e9:.0f} GFLOP (matmuls + attention, 3x fwd policy + 1x fwd reference) -> "
          f"{g_ours:.1f} GFLOP/s = {100 * g_ours / peak['peak']:.0f}% of the {peak['peak']:.0f} GFLOP/s peak; "
          f"8*N*tokens formula (N={sum(matmul_params(cfg)) / 1e6:.1f}M): {fl_ours['simple_8N'] / 1e9:.0f} GFLOP -> "
          f"{fl_ours['simple_8N'] / t_ours / 1e9:.1f} GFLOP/s")
    figures = {"config": dict(prompts=b, pairs=pp, prompt_len=tp, response_len=r, torch_threads=threads,
                              repeat=repeat),
               "ours_s": t_ours, "ours_runs": times["ours"]["runs"], "ours_cpu_s": times["ours"]["cpu"], "ours_compile_s": compile_s - t_ours,
               "ours_flops": fl_ours, "ours_gflops": g_ours, "peak": peak, "ours_frac_peak": g_ours / peak["peak"],
               "first_step": first}
    if not args.skip_torch:
        t_peer = times["peer"]["median"]
        fl_peer = step_flops(cfg, ours=False, b=b, p=pp, tp=tp, r=r)
        g_peer = fl_peer["detailed"] / t_peer / 1e9
        ratio = t_peer / t_ours
        parts = {k: float(np.median(v[1:])) for k, v in peer.parts.items()}
        print(f"# first step: peer {first['peer']}")
        print(f"PyTorch step        : {t_peer:.3f} s/step  runs {common.fmt_runs(times['peer'])}; first step "
              f"{peer_first:.1f} s; parts (median) " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
        print(f"  peer computes {fl_peer['tokens_per_model']} tokens per model (2BP*(Tp+R)): "
              f"{fl_peer['detailed'] / 1e9:.0f} GFLOP -> {g_peer:.1f} GFLOP/s = {100 * g_peer / peak['peak']:.0f}% "
              f"of peak")
        diff = {k: abs(first["ours"][k] - first["peer"][k]) for k in first["ours"]}
        print("# check: |ours - peer| on the first step: " + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
        print(f"RESULT dpo_step: laser_jax {t_ours:.2f} s vs PyTorch {t_peer:.2f} s -> {ratio:.2f}x faster "
              f"(target >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'}); ours {g_ours:.1f} GFLOP/s = "
              f"{100 * g_ours / peak['peak']:.0f}% of measured peak {peak['peak']:.0f}")
        figures.update(peer_s=t_peer, peer_runs=times["peer"]["runs"], peer_cpu_s=times["peer"]["cpu"], peer_parts=parts, peer_flops=fl_peer,
                       peer_gflops=g_peer, ratio=ratio, first_step_abs_diff=diff, target=1.5, target_met=ratio >= 1.5)
    if args.breakdown:
        parts = ours.breakdown(repeat)
        print("# laser_jax step in parts (each jitted alone, median): " +
              ", ".join(f"{k} {v['median']:.2f} s (cpu {v['cpu']:.2f})" for k, v in parts.items()))
        figures["ours_parts"] = {k: v["median"] for k, v in parts.items()}
        full_forward(ours, peer if not args.skip_torch else None, batch, repeat, figures)
    common.report("dpo_step", figures, info, args.json)


def full_forward(ours, peer, batch, repeat, figures):
    """The same work in both frameworks: a forward of the 2BP full rows (no cache sharing), logits
    at the last R+1 positions, and the same forward + backward of the mean response log-prob."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    prompt_ids, prompt_mask, ids, mask, _ = batch
    b, _, p, r = ids.shape
    rows = jnp.concatenate([jnp.repeat(jnp.asarray(prompt_ids)[:, None, None], 2 * p, 1).reshape(b, 2, p, -1),
                            jnp.asarray(ids)], -1).transpose(1, 0, 2, 3).reshape(2 * b * p, -1)
    rmask = jnp.concatenate([jnp.repeat(jnp.asarray(prompt_mask)[:, None, None], 2 * p, 1).reshape(b, 2, p, -1),
                             jnp.asarray(mask)], -1).transpose(1, 0, 2, 3).reshape(2 * b * p, -1)
    graphdef, frozen = ours.graphdef, ours.frozen

    def logp(params):
        m = nnx.merge(graphdef, params, frozen)
        h, _ = m.hidden(rows, rmask)
        logits = m.logits(h[:, -r - 1:-1])
        tgt = rows[:, -r:]
        return jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), tgt[..., None], -1))

    fwd, grad = jax.jit(logp), jax.jit(jax.grad(logp))
    fns = {"jax_forward": lambda: fwd(ours.params), "jax_fwd_bwd": lambda: grad(ours.params)}
    if peer is not None:
        torch = peer.torch

        def t_fwd():
            with torch.no_grad():
                return peer.logps(peer.ref)

        def t_fwd_bwd():
            peer.policy.zero_grad(set_to_none=True)
            loss = peer.logps(peer.policy).mean()
            loss.backward()
            return loss

        fns.update(torch_forward=t_fwd, torch_fwd_bwd=t_fwd_bwd)
    res = common.timeit_pair(fns, warmup=1, repeat=repeat)
    print(f"# same work, {rows.shape[0]} full rows of {rows.shape[1]} (median): " +
          ", ".join(f"{k} {v['median']:.2f} s (cpu {v['cpu']:.2f})" for k, v in res.items()))
    figures["same_work"] = {k: v["median"] for k, v in res.items()}


if __name__ == "__main__":
    main()
