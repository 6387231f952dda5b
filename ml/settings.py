"""Model settings: one version-controlled YAML file per model under ``ml/config/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).parent / "config"


def load_model_config(model: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """The settings of one model (``ml/config/<model>.yml``), as a mapping; a clear error names the file."""
    path = Path(config_dir) / f"{model}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no settings for model {model!r}: {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data
