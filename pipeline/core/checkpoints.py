"""Loading checkpoints without running code: every checkpoint this project reads goes through here.

`load_checkpoint` reads the file; `load_classifier_module` builds the trained VideoClassifierModule from
it (what predict.py, the Python API, evaluate.py, export.py and the benchmarks load).

A checkpoint is a pickle, and unpickling may call any function the file names. `load_checkpoint`
always passes `weights_only=True` explicitly (so neither an old torch default nor
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 can turn it off): tensors, containers, strings and numbers load,
anything else is refused in one line that names the file and what it asked for. Only a user who
trusts the file's origin may load it fully, with a flag they type (`--trust-checkpoint` for
predict.py, `--trust_checkpoint true` for train.py). A file that is not a checkpoint at all
(missing, empty, truncated, random bytes, text) is an InputError that names it.
"""
from __future__ import annotations

import contextlib
import inspect
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Union

import torch

from pipeline.core.module import VideoClassifierModule
from pipeline.errors import InputError

# The project's own plain-data types a checkpoint may hold besides tensors, containers, strings and
# numbers. None today: hyperparameters, preprocessing, class names and Lightning's loop and callback
# states are all plain data. Add a class here (never a function) only if it is plain data too.
ALLOWED_GLOBALS: List[Any] = []

_UNSAFE_GLOBAL = re.compile(r"\bGLOBAL ([\w.]+)")  # torch names what it refused this way


class UnsafeCheckpointError(InputError):
    """A checkpoint that names code to run when it is loaded; refused unless the user trusts it."""


def load_checkpoint(path: Union[str, Path], map_location: Any = "cpu", trust: bool = False,
                    trust_flag: str = "--trust-checkpoint") -> Dict[str, Any]:
    """The checkpoint dict at `path`, loaded as plain data only (`trust=True`: fully, which may run code).

    Raises InputError (one line naming the file) when it is missing or not a checkpoint, and
    UnsafeCheckpointError, which names `trust_flag`, when it needs more than plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint {'is not a file' if path.exists() else 'not found'}")
    try:
        with _allowed_globals():
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(path, exc)
        if not unsafe:
            raise InputError(f"{path}: not a readable checkpoint ({_cause(exc)})") from exc
        if not trust:
            raise UnsafeCheckpointError(
                f"{path}: refused: loading it would call {unsafe}, which is more than the plain "
                f"data a checkpoint of this project holds; only if you trust where it came from, "
                f"add {trust_flag}") from exc
        state = _load_trusted(path, map_location)
    except Exception as exc:  # torch raises many types for a damaged file: EOFError, RuntimeError, KeyError...
        raise InputError(f"{path}: not a readable checkpoint ({_cause(exc)})") from exc
    if not isinstance(state, dict) or "state_dict" not in state:
        raise InputError(f"{path}: not a checkpoint of a trained model (it holds no state_dict)")
    return state



def load_classifier_module(checkpoint: Union[str, Path], map_location: Any = "cpu",
                           trust_checkpoint: bool = False) -> VideoClassifierModule:
    """A trained classifier module from its checkpoint alone, no config and no network needed.

    The file is read as plain data only (`load_checkpoint`), and the model is built
    from its hyperparameters here, never by a class or function the file names; the backbone is
    built without its pretrained weights: the checkpoint holds them. `trust_checkpoint=True`
    loads a file that needs more than plain data, which can run code: only for a trusted origin.
    """
    state = load_checkpoint(checkpoint, map_location, trust=trust_checkpoint)
    accepted = set(inspect.signature(VideoClassifierModule.__init__).parameters) - {"self"}
    hparams = {k: v for k, v in (state.get("hyper_parameters") or {}).items() if k in accepted}
    hparams.setdefault("class_names", state.get("class_names"))
    try:
        model = VideoClassifierModule(**{**hparams, "weights": "none"})
        model.on_load_checkpoint(state)
        model.load_state_dict(state["state_dict"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{checkpoint}: not a checkpoint of this recognizer ({cause})") from exc
    tensor = next((t for t in state["state_dict"].values() if isinstance(t, torch.Tensor)), None)
    return (model.to(tensor.device) if tensor is not None else model).eval()


def _unsafe_globals(path: Path, exc: Exception) -> str:
    """What the file asked to import, as torch's refusal names it ("" when it is just damaged)."""
    named = _UNSAFE_GLOBAL.search(str(exc))
    if named:
        return named.group(1)
    try:  # the zip format can also be listed without loading anything
        return ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:
        return ""


def _load_trusted(path: Path, map_location: Any) -> Dict[str, Any]:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable checkpoint ({_cause(exc)})") from exc


def _allowed_globals():
    if ALLOWED_GLOBALS:
        return torch.serialization.safe_globals(ALLOWED_GLOBALS)
    return contextlib.nullcontext()


def _cause(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, EOFError) or not text.strip():
        return "the file is empty or cut short"
    if "zip archive" in text or "central directory" in text:
        return "the file is truncated or damaged"
    return "not made by torch.save, or damaged"
