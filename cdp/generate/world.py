"""World-level state shared by every chunk: reference tables as arrays, the
product catalogue, the e-mail campaign calendar and per-system id scramblers.
Built once per run from the seed alone.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from .arrays import GLOBAL_CHUNK, stream_rng
from .catalogue import Catalogue, build_catalogue
from .settings import SYSTEMS, Settings
from .timeline import DAY_MS, Window

ID_MODULUS = 2_147_483_647  # prime: (a*x + b) mod p is a bijection on [0, p)
LANGUAGE_OF = {"GB": "en", "US": "en", "IE": "en", "DE": "de", "FR": "fr", "NL": "nl"}
CAMPAIGN_TOPICS = ("newsletter", "weekly-deals", "new-arrivals", "flash-sale", "tips", "back-in-stock")


@cache
def slug(name: str) -> str:
    """ASCII e-mail form of a name: Müller -> muller, O'Brien -> obrien, de Jong -> dejong."""
    folded = unicodedata.normalize("NFKD", name.replace("ß", "ss")).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@dataclass(frozen=True)
class Cities:
    name: np.ndarray
    country: np.ndarray       # country index
    state: np.ndarray         # "" outside the US
    tz: np.ndarray            # index into tz_names
    tz_names: list[str]
    postcode_pattern: np.ndarray
    area_code: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class Campaigns:
    ids: list[str]
    sent_ms: np.ndarray


@dataclass
class World:
    settings: Settings
    window: Window
    seed: int
    countries: list[str] = field(init=False)
    cities: Cities = field(init=False)
    catalogue: Catalogue = field(init=False)
    campaigns: Campaigns = field(init=False)
    id_keys: dict[str, tuple[int, int]] = field(init=False)
    product_probs: np.ndarray = field(init=False)     # personas x products
    accessory_probs: np.ndarray = field(init=False)   # categories x products

    def __post_init__(self) -> None:
        self.countries = self.settings.countries
        self.cities = self._build_cities()
        self.catalogue = build_catalogue(self.settings, stream_rng(self.seed, GLOBAL_CHUNK, "catalogue"))
        self.campaigns = self._build_campaigns()
        self.product_probs = self.catalogue.persona_product_probs(self.settings.personas)
        self.accessory_probs = self.catalogue.accessory_probs()
        rng = stream_rng(self.seed, GLOBAL_CHUNK, "id-keys")
        self.id_keys = {s: (int(rng.integers(1, ID_MODULUS)), int(rng.integers(0, ID_MODULUS)))
                        for s in (*SYSTEMS, "loyalty_card")}

    def scrambled(self, system: str, x: np.ndarray) -> np.ndarray:
        """Unique, unguessable-looking number per (system, x); unrelated across systems."""
        a, b = self.id_keys[system]
        return (np.asarray(x, dtype=np.int64) * a + b) % ID_MODULUS

    def _build_cities(self) -> Cities:
        ref = self.settings.reference["cities"]
        rows = [(ci, c) for ci, code in enumerate(self.countries) for c in ref[code]]
        tz_names = sorted({c["tz"] for _, c in rows})
        return Cities(
            name=np.array([c["city"] for _, c in rows], dtype=object),
            country=np.array([ci for ci, _ in rows]),
            state=np.array([c.get("state", "") for _, c in rows], dtype=object),
            tz=np.array([tz_names.index(c["tz"]) for _, c in rows]),
            tz_names=tz_names,
            postcode_pattern=np.array([c["postcode"] for _, c in rows], dtype=object),
            area_code=np.array([str(c["area_code"]) for _, c in rows], dtype=object),
            weight=np.array([float(c["weight"]) for _, c in rows]),
        )

    def _build_campaigns(self) -> Campaigns:
        cfg = self.settings.config["email"]
        step_ms = int(7 * DAY_MS / float(cfg["campaigns_per_week"]))
        rng = stream_rng(self.seed, GLOBAL_CHUNK, "campaigns")
        times = np.arange(self.window.start_ms + DAY_MS // 2, self.window.end_ms - DAY_MS // 4, step_ms)
        # Sends go out in the morning UTC with a few minutes of jitter.
        day = times // DAY_MS * DAY_MS
        sent = day + 8 * 3_600_000 + rng.integers(0, 3 * 3_600_000, len(times))
        ids = []
        for i, t in enumerate(sent):
            d = np.datetime64(int(t), "ms").astype("datetime64[D]").astype(str).replace("-", "")
            ids.append(f"cmp-{d}-{CAMPAIGN_TOPICS[i % len(CAMPAIGN_TOPICS)]}")
        return Campaigns(ids, sent.astype(np.int64))
