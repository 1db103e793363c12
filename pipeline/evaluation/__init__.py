"""Evaluation: a trained checkpoint on a split of a training config or on labelled videos (scripts/evaluate.py).

    evaluate.py      `evaluate(EvaluationOptions)`: Lightning's test loop of the checkpoint's module over the
                     videos, the metrics, per-class report, confusion matrix and mistakes written as files;
                     the data module built from the config's `data:` section alone (a split is training's)
    report_html.py   the same report as one self-contained HTML page, with frame strips of the worst mistakes
    event_metrics.py  scores of events in long videos: segment AP at temporal IoU (THUMOS14 / ActivityNet),
                     SoccerNet's spotting Average-mAP, P / R / F1 at an operating point (pure numpy)
    event_evaluation.py  `evaluate_events`: the checkpoint's timeline over long videos with an events list,
                     scored by event_metrics, written as metrics.json, CSVs and a self-contained report.html

It imports no training module: the module, the checkpoint loading, the decision rule and the metrics
come from pipeline.core, the data module and the frame strips from pipeline.data.
"""
