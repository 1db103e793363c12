"""Export a trained checkpoint as one clip model (ONNX or TorchScript), with a JSON that says how to feed it.

The exported model is the whole video classifier: uint8 RGB frames [B,T,c,c,3] in, class probabilities
[B,C] (float32) out; normalisation (the preprocessing's mean and std), the CNN, the recurrent head
and the softmax are inside. The batch B and the clip length T are dynamic (the model was trained at
the JSON's clip_len; use it). Resizing and cropping stay outside: frames must already be the
preprocessing's `crop_size` square, made as pipeline.data.transforms.resize_crop makes them
(shorter side to `resize_size`, centre crop; or the whole frame padded or stretched; or, for the
"motion" and "spotlight" fits, the video's window from pipeline.data.motion_box.motion_box, whose
focus map the spotlight dims the still scene by; by `fit`), and
sampled as the JSON's sampler says; average the probabilities of a video's clips as predict.py does.

It runs the steps of VideoClassifierModule.forward (what training and predict.py run) with the CNN
pinned to fp32: the file is fp32 whatever the checkpoint's backbone_precision. After
writing, the file is loaded back (onnxruntime for ONNX, when installed; torch.jit.load for
TorchScript) and its probabilities compared with the PyTorch model's at another batch size and
clip length; a difference above `TOLERANCE` fails the export.

ONNX uses torch's dynamo-based exporter (torch.export + onnxscript; no network): `pip install -e
".[export]"` installs onnx, onnxscript and onnxruntime.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn

from models.preprocessing import Preprocessing
from pipeline.atomic_io import atomic_path, check_writable, write_text_atomic
from pipeline.data.transforms import normalize
from pipeline.errors import EXIT_CRASH, UsageError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4  # the largest |probability difference| from the PyTorch model an export may have
INPUT_NAME, OUTPUT_NAME = "frames", "probabilities"
ONNX_PACKAGES = ("onnx", "onnxscript")


class ExportError(RuntimeError):
    """An exported file whose outputs differ from the PyTorch model's by more than the tolerance."""

    exit_code = EXIT_CRASH  # scripts/export.py ends in one line naming the file, with status 1


class ClipProbabilities(nn.Module):
    """uint8 frames [B,T,c,c,3] (resized and cropped, RGB) -> class probabilities [B,C], all inside.

    The steps of VideoClassifierModule.forward (what training and predict.py run), on its plain-PyTorch
    parts: pipeline.data.transforms.normalize, then the VideoClassifier (CNN per frame, recurrent head).
    """

    def __init__(self, classifier: nn.Module, preprocessing: Preprocessing):
        super().__init__()
        self.classifier, self.preprocessing = classifier, preprocessing

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.classifier(normalize(frames, self.preprocessing)).float().softmax(dim=-1)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote, and how far its outputs are from the PyTorch model's."""

    path: str
    metadata_path: str
    max_abs_diff: Optional[float]  # None: not checked (onnxruntime is not installed)


def default_output(checkpoint: os.PathLike, fmt: str) -> Path:
    """best.ckpt -> best.onnx (ONNX) or best.pt (TorchScript), beside the checkpoint."""
    return Path(checkpoint).with_suffix(SUFFIXES[fmt])


def export_checkpoint(checkpoint: os.PathLike, fmt: str, out: Optional[os.PathLike] = None,
                      trust_checkpoint: bool = False) -> ExportResult:
    """Export the checkpoint's classifier to `out` (default: beside it) with `<out>.json` beside that,
    and check the file against the PyTorch model. Raises UsageError (a wrong format, the export extra
    missing), InputError (an unusable checkpoint), ExportError (outputs beyond TOLERANCE)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        missing = [p for p in ONNX_PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            raise UsageError(f"ONNX export needs {' and '.join(missing)}: pip install -e \".[export]\"")
    from pipeline.inference.batch import load_model, reading_for
    from pipeline.inference.options import PredictOptions

    out = Path(out) if out is not None else default_output(checkpoint, fmt)
    if out.resolve() == Path(checkpoint).resolve():
        raise UsageError(f"--output {out}: that is the checkpoint itself")
    options = PredictOptions(str(checkpoint), (), "", trust_checkpoint=trust_checkpoint, backbone_precision="fp32")
    module = load_model(options).cpu().eval()
    if module.preprocessing.rgb_diff:
        raise UsageError(f"{checkpoint}: a model with the motion stream (model.rgb_diff) reads each frame with the "
                         "frame before it, which the exported single-input graph does not take; it is not exported")
    sampler, _ = reading_for(options, module)
    check_writable(out)
    check_writable(metadata_path(out))
    wrapper = ClipProbabilities(module.model, module.preprocessing).eval()
    crop = module.preprocessing.crop_size
    example = _frames(2, sampler.clip_len, crop, seed=0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes: the check decides
        (_export_onnx if fmt == "onnx" else _export_torchscript)(wrapper, example, out)
        diff = check_export(out, fmt, wrapper, sampler.clip_len, crop)
    metadata = export_metadata(module, fmt, out, checkpoint, sampler.to_config(), diff)
    write_text_atomic(metadata_path(out), json.dumps(metadata, indent=2) + "\n")
    return ExportResult(str(out), str(metadata_path(out)), diff)


def metadata_path(out: os.PathLike) -> Path:
    """The JSON beside an exported file: <file>.json (model.onnx -> model.onnx.json)."""
    return Path(f"{out}.json")


def _frames(batch: int, length: int, crop: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, length, crop, crop, 3), dtype=torch.uint8, generator=generator)


def _export_onnx(wrapper: nn.Module, example: torch.Tensor, out: Path) -> None:
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("time")}
    program = torch.onnx.export(wrapper, (example,), dynamo=True, input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], dynamic_shapes={INPUT_NAME: dims}, verbose=False)
    with atomic_path(out) as tmp:
        program.save(str(tmp), external_data=False)


def _export_torchscript(wrapper: nn.Module, example: torch.Tensor, out: Path) -> None:
    traced = torch.jit.trace(wrapper, (example,), check_trace=False)
    with atomic_path(out) as tmp:
        torch.jit.save(traced, str(tmp))


def load_exported(path: os.PathLike, fmt: str) -> Any:
    """A callable: uint8 frames [B,T,c,c,3] (numpy or torch) -> probabilities numpy [B,C], from the file."""
    if fmt == "torchscript":
        model = torch.jit.load(str(path), map_location="cpu").eval()

        def run_torchscript(frames: Any) -> np.ndarray:
            with torch.no_grad():
                return model(torch.as_tensor(np.asarray(frames))).numpy()

        return run_torchscript
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda frames: session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(frames, dtype=np.uint8)})[0]


def check_export(path: Path, fmt: str, wrapper: nn.Module, clip_len: int, crop: int) -> Optional[float]:
    """The largest |probability difference| between the file and the PyTorch model on random frames, at
    a batch size and clip length other than the example's (None when onnxruntime is missing)."""
    if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        return None
    run = load_exported(path, fmt)
    diff = 0.0
    for seed, (batch, length) in enumerate([(1, clip_len), (3, clip_len + 2)], start=1):
        frames = _frames(batch, length, crop, seed)
        with torch.no_grad():
            expected = wrapper(frames).numpy()
        diff = max(diff, float(np.abs(run(frames.numpy()) - expected).max()))
    if diff > TOLERANCE:
        raise ExportError(f"{path}: its probabilities differ from the PyTorch model's by {diff:.2g} "
                          f"(more than {TOLERANCE:g})")
    return diff


def export_metadata(module: Any, fmt: str, out: Path, checkpoint: os.PathLike, sampler: Dict[str, Any],
                    diff: Optional[float]) -> Dict[str, Any]:
    """What the JSON beside the file says: classes, preprocessing, sampling, the input and output."""
    crop = module.preprocessing.crop_size
    return {
        "format": fmt,
        "file": out.name,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": _sha256(Path(checkpoint)),
        "class_names": list(module.class_names),
        "input": {"name": INPUT_NAME, "dtype": "uint8", "layout": "BTHWC", "colour": "RGB",
                  "shape": ["batch", "time", crop, crop, 3], "dynamic": ["batch", "time"],
                  "resize": "outside: frames are already resized and cropped to crop_size by the preprocessing "
                            "below (pipeline.data.transforms.resize_crop; for fits 'motion' and 'spotlight', "
                            "with the video's window from pipeline.data.motion_box.motion_box); "
                            "normalisation is inside"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", len(module.class_names)],
                   "meaning": "class probabilities (softmax) of each clip; average a video's clips"},
        "preprocessing": {**asdict(module.preprocessing), **module.preprocessing.to_dict()},  # + fit_version
        "clip_len": sampler["clip_len"],
        "sampler": sampler,
        "precision": "fp32",
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
        "torch": torch.__version__,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
