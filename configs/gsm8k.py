"""The paper's GSM8K setting: Llama-3-8B policy, four 7B RewardBench RMs (implicit DPO rewards),
10 iterations, batch 16, lr 5e-6, 30 samples -> 10 pairs per prompt, temperature 0.8, LoRA."""

from laser_jax.config import base_config

# Paper RMs (RewardBench's DPO/KTO chat models), scored as beta * (log pi - log pi_ref).
PAPER_RMS = [
    dict(name="zephyr-7b-alpha", kind="implicit_dpo", path="HuggingFaceH4/zephyr-7b-alpha",
         ref_path="HuggingFaceH4/mistral-7b-sft-alpha", beta=0.1),
    dict(name="qwen1.5-7b-chat", kind="implicit_dpo", path="Qwen/Qwen1.5-7B-Chat", ref_path="Qwen/Qwen1.5-7B",
         beta=0.1),
    dict(name="eurus-7b-kto", kind="implicit_dpo", path="openbmb/Eurus-7b-kto", ref_path="openbmb/Eurus-7b-sft",
         beta=0.1),
    dict(name="olmo-7b-instruct", kind="implicit_dpo", path="allenai/OLMo-7B-Instruct-hf",
         ref_path="allenai/OLMo-7B-SFT-hf", beta=0.1),
]


def paper_setting(task: str):
    c = base_config()
    c.data.task = task
    c.selector = "laser"
    c.policy.path = "meta-llama/Meta-Llama-3-8B-Instruct"
    c.policy.dtype = "bfloat16"
    c.policy.lora_rank = 16
    c.policy.lora_alpha = 32.0
    c.policy.remat = True
    c.rewards = [dict(r) for r in PAPER_RMS]
    c.training.iterations = 10
    c.training.batch_size = 16
    c.training.learning_rate = 5e-6
    c.training.pairs_per_prompt = 10
    c.training.alpha_nll = 1.0
    c.training.micro_batches = 8
    c.sampling.n = 30
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 512
    c.eval.max_new_tokens = 512
    return c


def get_config():
    return paper_setting("gsm8k")
