"""Evaluation: a trained checkpoint on a split of a training config or on labelled videos (scripts/evaluate.py).

    evaluate.py      `evaluate(EvaluationOptions)`: Lightning's test loop of the checkpoint's module over the
                     videos, the metrics, per-class report, confusion matrix and mistakes written as files;
                     the data module built from the config's `data:` section alone (a split is training's)
    report_html.py   the same report as one self-contained HTML page, with frame strips of the worst mistakes

It imports no training module: the module, the checkpoint loading, the decision rule and the metrics
come from pipeline.core, the data module and the frame strips from pipeline.data.
"""
