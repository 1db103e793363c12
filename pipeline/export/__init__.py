"""Export: a trained checkpoint as one clip model, ONNX or TorchScript, checked against PyTorch (scripts/export.py).

    exporter.py   `export_checkpoint(checkpoint, fmt, out)`: uint8 frames in, class probabilities out
                  (normalisation, CNN, recurrent head and softmax inside), the JSON that says how to feed
                  it, and the check of the file's outputs against the PyTorch model's

The checkpoint is loaded as predict.py loads it (pipeline.inference.batch.load_model); no training module
is imported.
"""
