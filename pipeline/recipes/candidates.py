"""The short list of recipes the search tries, in the order of what they are expected to give.

A candidate is a few options changed on the user's own config (dotted keys, as train.py's flags
name them), so whatever the config says and the candidate does not change (backbone, input size,
schedule, data options) stays as the user set it. The list covers what decides the score on real
footage: how a frame becomes the CNN's input (the config's fit, the spotlight), the head (GRU or
LSTM, one way or both, its size, its readout), clip length, regularisation, and a motion stream (the
CNN on frame differences beside the RGB features, `model.rgb_diff`); mean pooling and a single frame
are the references that show what reading the order adds. Candidates that share a backbone and fit
share one feature cache, so the list needs few of them.

Last come the candidates that fine-tune the CNN's top stages (`model.trainable_stages`) beside the head:
frozen features bound every other candidate, and these can move past that bound. They train on cached maps
of the frozen stages (one more cache per cut point, made once like the others) and cost more a trial than
a head alone; the search measures that on their first fold like any candidate's, so they run where the
budget allows them, and a backbone without defined stages leaves them out (chooser.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

SMALL_HEAD: Dict[str, Any] = {  # a head for a few hundred clips: small, read both ways, regularised
    "model.cell": "gru", "model.hidden_size": 128, "model.num_layers": 1, "model.bidirectional": True,
    "model.readout": "last", "model.dropout": 0.5, "model.weight_decay": 0.01,
}


@dataclass(frozen=True)
class Candidate:
    """A named change to the user's config: `overrides` maps train.py's dotted option names to values."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    what: str = ""

    def with_overrides(self, **more: Any) -> Candidate:
        return Candidate(self.name, {**self.overrides, **more}, self.what)


def _head(**changes: Any) -> Dict[str, Any]:
    return {**SMALL_HEAD, **{f"model.{k}": v for k, v in changes.items()}}


STAGES_KEY = "model.trainable_stages"


CANDIDATES: List[Candidate] = [
    Candidate("config", {}, "the config as given"),
    Candidate("bigru", _head(), "bidirectional GRU 128, dropout 0.5, weight decay 0.01"),
    Candidate("rgbdiff-bigru", _head(rgb_diff=True), "bigru, with the CNN's features of frame differences beside"),
    Candidate("spotlight-bigru", {**_head(), "model.frame_fit": "spotlight"}, "bigru on the spotlight fit"),
    Candidate("spotlight-rgbdiff-bigru", {**_head(rgb_diff=True), "model.frame_fit": "spotlight"},
              "bigru on the spotlight fit, with frame differences"),
    Candidate("mean-pool", {"model.cell": "none", "model.dropout": 0.5, "model.weight_decay": 0.01},
              "mean pooling of the frames' features (order-blind reference)"),
    Candidate("one-frame", {"model.cell": "none", "model.dropout": 0.5, "model.weight_decay": 0.01,
                            "data.clip_len": 1}, "a single frame per clip (reference)"),
    Candidate("rgbdiff-mean-pool", {"model.cell": "none", "model.dropout": 0.5, "model.weight_decay": 0.01,
                                    "model.rgb_diff": True}, "mean pooling, with frame differences"),
    Candidate("bigru-mean-readout", _head(readout="mean"), "bigru read out by the mean of its states"),
    Candidate("bilstm", _head(cell="lstm"), "bidirectional LSTM 128, regularised"),
    Candidate("gru256", _head(hidden_size=256, bidirectional=False), "one-way GRU 256, regularised"),
    Candidate("bigru-clip8", {**_head(), "data.clip_len": 8}, "bigru on 8-frame clips"),
    Candidate("bigru-light-reg", _head(dropout=0.2, weight_decay=1e-4), "bigru with light regularisation"),
    Candidate("motion-bigru", {**_head(), "model.frame_fit": "motion"}, "bigru on the motion window"),
    Candidate("top1-bigru", {**_head(), "model.trainable_stages": 1, "model.rgb_diff": False},
              "bigru, with the CNN's last stage fine-tuned on cached maps"),
    Candidate("top2-bigru", {**_head(), "model.trainable_stages": 2, "model.rgb_diff": False},
              "bigru, with the CNN's last two stages fine-tuned on cached maps"),
    Candidate("top3-bigru", {**_head(), "model.trainable_stages": 3, "model.rgb_diff": False},
              "bigru, with the CNN's last three stages fine-tuned on cached maps"),
]
# Every candidate but `config` and the top ones reads frozen features, whatever the user's config trains: a
# head candidate that quietly fine-tuned stages would cost ten times a head and stop being what it says.
CANDIDATES = [c if c.name == "config" or STAGES_KEY in c.overrides else c.with_overrides(**{STAGES_KEY: 0})
              for c in CANDIDATES]

FIT_KEY = "model.frame_fit"


def candidate_names() -> List[str]:
    return [c.name for c in CANDIDATES]


def select_candidates(names: Optional[Sequence[str]] = None) -> List[Candidate]:
    """The candidates named (in the list's order), or all; a ValueError names an unknown one."""
    if not names:
        return list(CANDIDATES)
    known = {c.name: c for c in CANDIDATES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown candidate {', '.join(map(repr, unknown))}; choose among {', '.join(known)}")
    return [c for c in CANDIDATES if c.name in set(names)]
