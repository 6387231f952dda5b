"""Loads the generator's YAML (config.yml tunables, reference.yml lists) and
turns persona definitions into per-persona arrays for vectorised lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).parent
CONFIG_PATH = HERE / "config.yml"
REFERENCE_PATH = HERE / "reference.yml"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is present
SYSTEMS = ("crm", "webshop", "pos", "esp")
CONSENT_PURPOSES = (
    "email_marketing", "sms_marketing", "ad_targeting", "personalization", "direct_marketing", "profiling",
)


@dataclass(frozen=True)
class Personas:
    """Persona parameters as arrays indexed by persona number (YAML order)."""

    names: tuple[str, ...]
    specs: tuple[dict, ...]
    defaults: dict

    def param(self, key: str) -> np.ndarray:
        """A numeric parameter per persona; dotted keys reach nested maps ("email.open")."""
        out = []
        for spec in self.specs:
            value = spec
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            out.append(float(value if value is not None else 0.0))
        return np.array(out)

    @property
    def weights(self) -> np.ndarray:
        return self.param("weight")

    def coverage(self, system: str) -> np.ndarray:
        base = self.defaults[system]["coverage"]
        return np.array([float(s.get("coverage", {}).get(system, base)) for s in self.specs])

    def flag(self, key: str) -> np.ndarray:
        return np.array([bool(s.get(key, False)) for s in self.specs])

    def category_weights(self, categories: list[str], shares: np.ndarray) -> np.ndarray:
        """(personas x categories) preference: catalogue share times the persona's weight (default 1)."""
        rows = []
        for spec in self.specs:
            pref = spec.get("categories", {})
            rows.append([shares[i] * float(pref.get(c, 1.0 if not pref else 0.3)) for i, c in enumerate(categories)])
        return np.array(rows)


@dataclass(frozen=True)
class Settings:
    config: dict
    reference: dict

    @cached_property
    def personas(self) -> Personas:
        p = self.config["personas"]
        return Personas(tuple(p), tuple(p[k] for k in p), self.config["systems"])

    @cached_property
    def countries(self) -> list[str]:
        return list(self.config["countries"])

    def country(self, code: str) -> dict:
        return self.config["countries"][code]


PERSONA_KEYS = ("weight", "sessions_per_week", "app_share", "views_mean", "search_rate", "cart_rate", "checkout_rate",
                "purchase_rate", "login_rate", "store_visits_per_week", "items_mean", "price_affinity",
                "discount_share", "return_rate", "email", "churn")


def load_settings(config_path: Path | None = None, reference_path: Path | None = None) -> Settings:
    with open(config_path or CONFIG_PATH, encoding="utf-8") as fh:
        config = yaml.load(fh, Loader=_LOADER)
    with open(reference_path or REFERENCE_PATH, encoding="utf-8") as fh:
        reference = yaml.load(fh, Loader=_LOADER)
    for name, spec in config["personas"].items():
        missing = [k for k in PERSONA_KEYS if k not in spec]
        missing += [f"email.{k}" for k in ("consent", "open", "click", "unsubscribe") if k not in spec.get("email", {})]
        missing += [f"churn.{k}" for k in ("in_window", "future") if k not in spec.get("churn", {})]
        if missing:
            raise ValueError(f"{config_path or CONFIG_PATH}: persona {name!r} lacks {', '.join(missing)}")
    return Settings(config, reference)
