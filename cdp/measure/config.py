"""Readout settings (readout_config.yml), checked when loaded: a wrong value fails
with the file and the key named."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("readout_config.yml")


class ReadoutConfigError(ValueError):
    """A wrong readout setting; the message names the file and the key."""


@dataclass(frozen=True)
class ReadoutConfig:
    alpha: float = 0.05
    power: float = 0.8
    srm_alpha: float = 0.001
    min_customers_per_arm: int = 100


def load_readout_config(path: Path | str = DEFAULT_CONFIG_PATH) -> ReadoutConfig:
    path = Path(path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict):
        raise ReadoutConfigError(f"{path}: expected a mapping of settings")
    known = ReadoutConfig.__dataclass_fields__
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise ReadoutConfigError(f"{path}: {', '.join(unknown)}: unknown setting(s); expected some of {list(known)}")
    for key in ("alpha", "power", "srm_alpha"):
        value = spec.get(key, known[key].default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise ReadoutConfigError(f"{path}: {key}: {value!r} must be a number strictly between 0 and 1")
    minimum = spec.get("min_customers_per_arm", known["min_customers_per_arm"].default)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ReadoutConfigError(f"{path}: min_customers_per_arm: {minimum!r} must be a whole number >= 1")
    return ReadoutConfig(**spec)
