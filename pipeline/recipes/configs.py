"""A recipe as train.py reads it: the user's config files and flags as one YAML document, a candidate's
changes applied to it, and the options train.py resolves from it.

The document keeps only what the user wrote (their `--config` files merged in order, then their
`--section.option value` flags), so `recipe.yaml` reads like the config it came from, with the
chosen candidate's options changed.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import yaml

from pipeline.data.datamodule import CONFIG_FLAGS
from pipeline.errors import UsageError


def deep_merge(base: Dict[str, Any], more: Mapping[str, Any]) -> Dict[str, Any]:
    """`base` with `more` merged in: mappings key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(config: Dict[str, Any], dotted: str, value: Any) -> None:
    """Set `config["a"]["b"]` for "a.b" (folders made as needed)."""
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = copy.deepcopy(value)


def with_overrides(config: Dict[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """`config` with each dotted option of `overrides` set."""
    out = copy.deepcopy(config)
    for dotted, value in overrides.items():
        set_dotted(out, dotted, value)
    return out


def split_train_args(args: List[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(config files, [(dotted option, value as written)]) of train.py's arguments.

    Flags are ``--section.option value`` or ``--section.option=value``; anything else is a usage error
    that names it.
    """
    configs: List[str] = []
    options: List[Tuple[str, str]] = []
    items = iter(args)
    for arg in items:
        flag, eq, value = arg.partition("=")
        if not flag.startswith("-"):
            raise UsageError(f"{arg!r}: expected an option (--section.option value)")
        if not eq:
            value = next(items, None)
            if value is None:
                raise UsageError(f"{flag}: needs a value")
        if flag in CONFIG_FLAGS:
            configs.append(value)
        else:
            options.append((flag.lstrip("-"), value))
    return configs, options


def load_config(configs: List[str], options: List[Tuple[str, str]]) -> Dict[str, Any]:
    """The user's config files merged in order, then their flags (values read as YAML: 16, null, true)."""
    merged: Dict[str, Any] = {}
    for path in configs:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise UsageError(f"{path}: config file not found") from None
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot be read as a YAML config ({exc})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path}: a config is a mapping of sections (model:, data:, trainer:)")
        merged = deep_merge(merged, data)
    for dotted, text in options:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        set_dotted(merged, dotted, value)
    return merged


def dump_config(config: Mapping[str, Any], header: str = "") -> str:
    """The config as YAML text, `header` as comment lines above it."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
