"""Every shipped config parses into the model and data module it describes."""
from __future__ import annotations

from pathlib import Path

import pytest
from pytorch_lightning.cli import LightningArgumentParser

from pipeline.training.datamodule import VideoDataModule
from pipeline.training.module import ActionRecognizer

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_parses(config):
    parser = LightningArgumentParser()
    parser.add_lightning_class_args(ActionRecognizer, "model")
    parser.add_lightning_class_args(VideoDataModule, "data")
    parser.add_argument("--trainer", type=dict, default={})
    parser.add_argument("--seed_everything", type=int, default=0)
    cfg = parser.parse_path(str(config))
    assert cfg.model.backbone and cfg.data.clip_len >= 1
