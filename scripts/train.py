"""Train a CNN + RNN action classifier: `python scripts/train.py [--config configs/x.yaml] [--a.b value ...]`.

With no arguments it trains configs/demo.yaml. See `--help` for every option.
"""
from pipeline.training.cli import format_summary, train

if __name__ == "__main__":
    print(format_summary(train()))
