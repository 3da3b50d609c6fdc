"""The paper's StrategyQA setting (see gsm8k.py). With local files
(--config.data.path=../shared/data/strategyqa) train.json/dev.json are the train/test splits."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gsm8k import paper_setting  # noqa: E402


def get_config():
    c = paper_setting("strategyqa")
    c.sampling.max_new_tokens = 256
    c.eval.max_new_tokens = 256
    return c
