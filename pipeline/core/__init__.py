"""What training, evaluation, inference and export share, owned by none of them.

    module.py       VideoClassifierModule, the LightningModule: a models.VideoClassifier (backbone + temporal
                    head) with its loss, optimiser, metrics, test confusion, threshold choice and what a
                    checkpoint stores
    checkpoints.py  load_checkpoint (a checkpoint read as plain data, never running code) and
                    load_classifier_module (the trained module from a checkpoint alone)
    decision.py     the decision rule (the operating threshold of two classes, else the most probable class)
                    and how the threshold is chosen on validation
    metrics.py      confusion matrix, per-class scores, the most confident mistakes, ROC / AUC, the positive
                    class of a two-class task
    figures.py      the confusion matrix and ROC figures, the per-class table, frame strips

It imports models/, pipeline.data and the small shared helpers at the root of pipeline/, never
training, inference, evaluation, export or benchmarks.
"""
