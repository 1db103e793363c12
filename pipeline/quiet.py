"""Third-party messages that say nothing about a run, dropped in one place for every script.

`silence_third_party_noise()` drops exactly these messages and nothing else:
- warnings (NOISE_WARNINGS): torch's `LeafSpec` deprecation, raised inside Lightning on every batch,
  Lightning's generic "Found N module(s) in eval mode" (training's RunReport says what matters of it), and
  its "Couldn't infer the batch indices" of a timeline's streaming loader (nothing asks for them);
- Lightning's advertisements (LIGHTNING_TIPS): the LitLogger and litmodels tips;
- with `run_info=False`, the lines Lightning logs whenever a Trainer is built (RUN_INFO): "GPU available",
  "TPU available", "LOCAL_RANK: ... CUDA_VISIBLE_DEVICES" and "Seed set to N". A training run keeps them
  (where it trains, and its seed); a script that only evaluates, predicts or exports drops them.
Every other warning and log line still shows. pipeline.errors.run_script calls it for every script;
training (pipeline.training.progress) uses the same filters. This module imports only the standard
library, so inference, evaluation and export can use it without importing pipeline.training.
"""
from __future__ import annotations

import logging
import re
import warnings
from typing import Dict, Sequence, Tuple

# (message regex, category, module regex: where the warning is raised) of the third-party warnings that
# say nothing about the run.
NOISE_WARNINGS = (
    # torch deprecates LeafSpec; Lightning's own pytree helper still builds one on every batch.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"pytorch_lightning\.utilities\._pytree"),
    # Expected with a frozen backbone (BatchNorm kept in eval mode); RunReport checks the rest of the model.
    (r"Found \d+ module\(s\) in eval mode at the start of training", Warning, r"pytorch_lightning\.loops\.fit_loop"),
    # A timeline's loader streams chunks of frames (no batch sampler); nothing here asks for batch indices.
    # Said through lightning_utilities' WarningCache, so the module it is attributed to varies: any.
    (r"Couldn't infer the batch indices fetched from your dataloader", Warning, r""),
)
LITLOGGER_TIP = "Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]"
LITMODELS_TIP = "Tip: For seamless cloud uploads and versioning, try installing [litmodels]"
LIGHTNING_TIPS = (LITLOGGER_TIP, LITMODELS_TIP)
LIGHTNING_INFO_LOGGER = "pytorch_lightning.utilities.rank_zero"  # Lightning's rank_zero_info
# logger name -> the whole messages (regexes) it logs at INFO about the machine and the seed.
RUN_INFO: Dict[str, Tuple[str, ...]] = {
    LIGHTNING_INFO_LOGGER: (r"GPU available: \w+( \(\w+\))?, used: \w+",
                            r"TPU available: \w+, using: \d+ TPU cores"),
    "pytorch_lightning.accelerators.cuda": (r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: \[.*\]",),
    "lightning_fabric.utilities.seed": (r"(\[rank: \d+\] )?Seed set to \d+",),
}


class DropMessages(logging.Filter):
    """Drops the log records whose whole message matches one of `patterns` (regexes)."""

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = [re.compile(pattern) for pattern in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(pattern.fullmatch(message) for pattern in self.patterns)


# The tips begin with an emoji and run on past the fragment kept here: match the fragment anywhere.
_TIPS = DropMessages([f".*{re.escape(tip)}.*" for tip in LIGHTNING_TIPS])
_RUN_INFO = {name: DropMessages(patterns) for name, patterns in RUN_INFO.items()}


def _add_filter(logger_name: str, drop: logging.Filter) -> None:
    logger = logging.getLogger(logger_name)
    if drop not in logger.filters:
        logger.addFilter(drop)


def silence_third_party_noise(run_info: bool = True) -> None:
    """Drop the warnings in NOISE_WARNINGS and Lightning's tips; with `run_info=False` also Lightning's
    device and seed lines (RUN_INFO). Safe to call again; a later call never brings a line back."""
    for message, category, module in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    _add_filter(LIGHTNING_INFO_LOGGER, _TIPS)
    if not run_info:
        for name, drop in _RUN_INFO.items():
            _add_filter(name, drop)
