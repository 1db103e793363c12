"""Benchmarks: the measurements behind docs/benchmarks.md and docs/accuracy.md.

    rows.py           the one row type (`row`), the timing helpers (best_time, timings, spread, sync), the
                      generated test video, the defaults and the Markdown table
    runner.py         `run_benchmark`: speed side by side in one run (decoding, isolation, backbone, head,
                      memory), and the optional groups below (scripts/benchmark.py)
    inference.py      batch inference (predict.py's path against a tutorial loop) and the CNN in fp32 / bf16
    cache.py          filling the feature cache from phone-like clips and raw AVIs; a first training run end
                      to end, with the peak memory of its process tree
    backbones.py      each backbone's frames/s against EfficientNet-Lite0
    motion_window.py  what finding the motion window costs against reading one clip
    accuracy.py       k-fold cross-validated accuracy of each small-data technique, per head
                      (scripts/benchmark_accuracy.py)

runner.py imports the groups; none of them imports runner.py.
"""
