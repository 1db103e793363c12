"""Export a trained checkpoint as one clip model: ONNX or TorchScript, with a JSON beside it.

    python scripts/export.py --ckpt runs/demo/version_0/checkpoints/best.ckpt --format onnx
    python scripts/export.py --ckpt best.ckpt --format torchscript --output model.pt

The model takes uint8 RGB frames [B,T,c,c,3], already resized and cropped to the preprocessing's
crop_size (the resize stays outside), and gives class probabilities [B,C]; normalisation is inside,
B and T are dynamic, and it runs in fp32. <output>.json beside it holds the class names, the
preprocessing, the clip length, the sampler, the input layout and the precision. The file is loaded
back and checked against the PyTorch model before the command ends (pipeline/export.py says how).
ONNX needs `pip install -e ".[export]"`.

Exit status: 0 written and checked; 1 the file's outputs differ from the PyTorch model's; 2 a
wrong option (or the export extra missing); 4 an unusable checkpoint; 5 the output cannot be written.
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from pipeline.errors import EXIT_OK, run_script
from pipeline.export.exporter import FORMATS, TOLERANCE, export_checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by scripts/train.py")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", "--out", dest="output", default=None,
                        help="the file to write (default: beside the checkpoint, best.ckpt -> best.onnx or "
                             "best.pt; --out: its old name, accepted in this release)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a checkpoint that holds more than plain data (this can run code from it: "
                             "only for checkpoints you made or trust)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Export and check; prints what was written and the largest probability difference."""
    args = build_parser().parse_args(argv)
    result = export_checkpoint(args.ckpt, args.format, args.output, trust_checkpoint=args.trust_checkpoint)
    print(f"{result.path}\n{result.metadata_path}")
    if result.max_abs_diff is None:
        print("not checked: onnxruntime is not installed (pip install -e \".[export]\")")
    else:
        print(f"largest probability difference from the PyTorch model: {result.max_abs_diff:.2g} "
              f"(tolerance {TOLERANCE:g})")
    return EXIT_OK


if __name__ == "__main__":
    run_script(main)
