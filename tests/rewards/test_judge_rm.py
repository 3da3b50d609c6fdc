"""The judge reward model (kind "judge"): log p(yes) - log p(no) of an LM asked about each
response, against PyTorch's logits of the same ids; prompt-once against whole rows; the question
per task; bad entries; a training run with a judge in the pool through the command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from laser_jax.errors import ConfigError
from laser_jax.models.cache import ModelCache
from laser_jax.rewards.batching import prompt_groups
from laser_jax.rewards.build import build_reward_model
from laser_jax.rewards.spec import check_spec
from laser_jax.rewards.judge import FRAME, PLAIN_SUFFIX, QUESTIONS, JudgeRM, default_question
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.py"
PROMPTS = ["What is 9 * 2?"] * 3 + ["Is the sky blue?"] * 2 + ["Pick one: (A) red (B) blue"]
RESPONSES = ["18", "It is 17.", "9 * 2 = 18. Final answer: 18", "Yes.", "No, it is green.", "(B)"]


def _torch_log_odds(model: torch.nn.Module, ids, yes: int, no: int) -> float:
    """log softmax of the torch model's logits after `ids` (numpy, float64), yes minus no."""
    with torch.no_grad():
        logits = model(torch.tensor([list(ids)])).logits[0, -1].double().numpy()
    top = logits.max()
    logp = logits - top - np.log(np.exp(logits - top).sum())
    return float(logp[yes] - logp[no])


@pytest.mark.parametrize("chat", [True, False])
def test_score_is_the_log_odds_of_the_answer_tokens_under_the_full_vocabulary(lm_dirs, jax_lms, tok_a, tok_plain,
                                                                            chat):
    tok = tok_a if chat else tok_plain
    rm = JudgeRM(jax_lms[0], tok, "j", task="gsm8k", batch_size=4)
    got = rm.score(PROMPTS, RESPONSES)
    # the ids by hand: the frame, the chat template (or the plain suffix), the tokenizer's BOS
    yes, no = (tok.convert_tokens_to_ids(t) for t in ("Y", "N"))  # char-level: "Yes" starts with "Y"
    assert (rm.yes_id, rm.no_id) == (yes, no)
    want = []
    for prompt, response, ids in zip(PROMPTS, RESPONSES, rm.encode(PROMPTS, RESPONSES)):
        text = FRAME.format(prompt=prompt, response=response, question=QUESTIONS["math"], yes="Yes", no="No")
        text = (tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
                if chat else text + PLAIN_SUFFIX)
        assert list(ids.ids) == tok(text)["input_ids"]
        want.append(_torch_log_odds(lm_dirs[0][1], ids.ids, yes, no))
    assert got.shape == (len(PROMPTS),) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_prompt_once_gives_the_whole_rows_scores(jax_lms, tok_a):
    shared = JudgeRM(jax_lms[1], tok_a, "j", task="gsm8k", batch_size=4)
    whole = JudgeRM(jax_lms[1], tok_a, "j", task="gsm8k", batch_size=4, share_prompt=False)
    rows = shared.encode(PROMPTS, RESPONSES)
    groups, alone = prompt_groups(rows)
    assert sorted(map(len, groups)) == [1, 2, 3] and not alone  # the 3 + 2 + 1 responses of three prompts
    assert rows == whole.encode(PROMPTS, RESPONSES)  # the same ids either way
    # the shared part ends where the response starts
    head = tok_a.decode(rows[0].ids[:rows[0].n_prompt])
    assert head.endswith("[Response]\n") and "What is 9 * 2?" in head
    np.testing.assert_allclose(shared.score(PROMPTS, RESPONSES), whole.score(PROMPTS, RESPONSES), atol=1e-5, rtol=0)


def test_a_template_with_the_response_first_shares_only_the_frame_and_scores_the_same(jax_lms, tok_a):
    q = "Response: {response}\nRequest: {prompt}\nIs the response right?"
    shared = JudgeRM(jax_lms[0], tok_a, "j", question=q)
    whole = JudgeRM(jax_lms[0], tok_a, "j", question=q, share_prompt=False)
    rows = shared.encode(PROMPTS, RESPONSES)
    assert len(prompt_groups(rows)[0]) == 1  # every row shares the same prefix: the header and "Response: "
    np.testing.assert_allclose(shared.score(PROMPTS, RESPONSES), whole.score(PROMPTS, RESPONSES), atol=1e-5, rtol=0)


def test_the_default_question_follows_each_rows_task(jax_lms, tok_a):
    assert default_question("gsm8k") == QUESTIONS["math"]
    assert default_question("strategyqa") == QUESTIONS["yes_no"]
    assert default_question("mmlu") == QUESTIONS["choice"]
    assert default_question("ifeval_like") == QUESTIONS["instructions"]
    assert default_question("wildchat") == default_question(None) == QUESTIONS["open"]
    assert default_question("demo", "no") == QUESTIONS["yes_no"]  # a mixed task's row: its gold's format
    assert default_question("demo", "C") == QUESTIONS["choice"]
    rm = JudgeRM(jax_lms[0], tok_a, "j", task="gsm8k")
    tasks = ["gsm8k", "gsm8k", "gsm8k", "strategyqa", "strategyqa", "mmlu"]
    texts = [tok_a.decode(r.ids) for r in rm.encode(PROMPTS, RESPONSES, tasks=tasks)]
    assert [QUESTIONS["math"] in t for t in texts] == [True] * 3 + [False] * 3
    assert QUESTIONS["yes_no"] in texts[3] and QUESTIONS["choice"] in texts[5]
    # the rows' questions reach the scores: a judge fixed to the yes/no question scores those rows alike
    fixed = JudgeRM(jax_lms[0], tok_a, "j", question=QUESTIONS["yes_no"])
    np.testing.assert_allclose(rm.score(PROMPTS, RESPONSES, tasks=tasks)[3:5], fixed.score(PROMPTS[3:5], RESPONSES[3:5]),
                               atol=1e-6)
    # without per-row tasks: the builder's task; question= overrides every task
    assert QUESTIONS["math"] in tok_a.decode(rm.encode(PROMPTS[:1], RESPONSES[:1])[0].ids)
    asked = JudgeRM(jax_lms[0], tok_a, "j", task="gsm8k", question="Is it short?", yes="Y", no="N")
    text = tok_a.decode(asked.encode(PROMPTS[:1], RESPONSES[:1], tasks=["mmlu"])[0].ids)
    assert "Is it short? Answer with a single word: Y or N." in text and QUESTIONS["choice"] not in text
    whole = JudgeRM(jax_lms[0], tok_a, "j", question="R: {response}\nP: {prompt}")
    assert whole.message("say {response}", "ok") == "R: ok\nP: say {response}"  # placeholders filled once


@pytest.mark.parametrize("extra, match", [
    (dict(yes="Yes", no="Yellow"), r"rewards\[0\]\.yes='Yes' and \.no='Yellow': rewards\[0\] \(reward model 'j'\)"
                                   r"'s tokenizer starts both with the same token 'Y'"),
    (dict(yes=" Yes", no=" No"), r"rewards\[0\]\.yes=' Yes' and \.no=' No': .*reward model 'j'.* same token"),
    (dict(yes=""), r"rewards\[0\]\.yes='': reward model 'j''s answer must be a non-empty string"),
    (dict(no=3), r"rewards\[0\]\.no=3: reward model 'j''s answer must be a non-empty string"),
    (dict(yes="Yes", no="Yes"), r"rewards\[0\]\.yes and \.no are both 'Yes': reward model 'j' needs two"),
    (dict(temperature=0.5), r"rewards\[0\]: unknown field\(s\) \['temperature'\] for kind 'judge'"),
    (dict(question="About {prompt}?"), r"rewards\[0\]\.question: a template with \{prompt\} must also hold"),
    (dict(question=""), r"rewards\[0\]\.question='' must be a non-empty string"),
    (dict(share_prompt="yes"), r"rewards\[0\]\.share_prompt='yes' must be true or false"),
])
def test_bad_entries_are_config_errors_naming_the_rm_and_field(lm_dirs, extra, match):
    entry = dict(name="j", kind="judge", path=str(lm_dirs[0][0]), **extra)
    with pytest.raises(ConfigError, match=match):
        build_reward_model(entry, index=0, cache=ModelCache())


def test_entry_builds_through_the_cache_sharing_the_policys_weights(lm_dirs):
    cache = ModelCache()
    policy = cache.model(str(lm_dirs[0][0]), "float32", None, "policy.path")
    assert check_spec(dict(kind="judge", path=str(lm_dirs[0][0]))) == []
    rm = build_reward_model(dict(kind="judge", path=str(lm_dirs[0][0]), batch_size=2, share_prompt=False,
                                 question="Is it right?"), cache=cache, default_task="mmlu")
    assert isinstance(rm, JudgeRM) and rm.model is policy and rm.name == lm_dirs[0][0].name
    assert (rm.batch_size, rm.share_prompt, rm.question, rm.task) == (2, False, "Is it right?", "mmlu")


def _config_with_judge(tmp_path) -> Path:
    """configs/tiny.py with its likelihood RM replaced by a judge on the policy's own checkpoint."""
    path = tmp_path / "with_judge_rm.py"
    path.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('tiny', {str(TINY)!r})\n"
        "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n\n\n"
        "def get_config():\n    c = tiny.get_config()\n"
        "    c.rewards[1] = dict(name='judge', kind='judge', path=c.policy.path, batch_size=4)\n"
        "    return c\n")
    return path


def test_training_with_a_judge_rm_through_the_command_line(tmp_path):
    env = dict(os.environ, LASER_JAX_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    run = forked.run([sys.executable, "-m", "laser_jax.main", f"--config={_config_with_judge(tmp_path)}",
                          f"--workdir={tmp_path / 'run'}", "--config.logging.progress=False",
                          "--config.training.iterations=1", "--config.selector=fixed", "--config.selector_args.arm=1",
                          "--config.eval.before=False", "--config.eval.after=False"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r["arm"] == 1 for r in records)  # the judge ranked every batch
