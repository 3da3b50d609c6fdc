"""The paper's MMLU setting (see gsm8k.py). MMLU has no training split: 80 % of the test rows
(seeded, across subjects) train, the other 20 % are held out for evaluation."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gsm8k import paper_setting  # noqa: E402


def get_config():
    c = paper_setting("mmlu")
    c.data.train_split = "test"
    c.data.test_split = "test"
    c.data.holdout_fraction = 0.2
    c.sampling.max_new_tokens = 256
    c.eval.max_new_tokens = 256
    return c
