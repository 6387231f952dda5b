"""When a run retrains a model, and when it only scores with the published one.

Retraining every model every day was most of the daily ML stage and bought little: behaviour moves
slowly, and a model fitted on last week's labels scores today's features about as well. So a run
trains only when there is a reason to, and otherwise reloads the published artifact (the latest
trained run's) and scores the current features with it. The reasons, checked in this order:

- the caller forces it (``cdp run --retrain``);
- no trained run at or before the as-of date (a model trained on later data must not score earlier dates);
- the settings the model depends on changed since that run (a hash in ``ml.model_runs.config_hash``);
- the published model is ``every_days`` or more older than the as-of date (dates of the data, not the
  wall clock, so backfills and tests decide the same way every time);
- optionally, the last run's feature drift check flagged a feature the published model's own training
  run did not (drift present at training is in the model already; retraining cannot remove it);
- the published artifact cannot be loaded (missing or corrupt file: ml/runners.py falls back to training).

Each model's policy is the ``retraining`` block of its ``ml/config/<model>.yml``: cadences differ by
model, and the block is left out of the settings hash, so changing a cadence retrains nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ml.registry import jsonable

POLICY_KEY = "retraining"
UNHASHED_KEYS = (POLICY_KEY, "scoring")  # when and how a model runs, not what it fits


@dataclass(frozen=True)
class RetrainingPolicy:
    """How often a model retrains, and whether new feature drift also retrains it."""

    every_days: int
    on_feature_drift: bool = False

    @classmethod
    def from_config(cls, model_name: str, config: Mapping[str, Any]) -> RetrainingPolicy:
        """The ``retraining`` block of a model's settings; a missing or malformed one fails, naming the file."""
        where = f"ml/config/{model_name}.yml"
        block = config.get(POLICY_KEY)
        if not isinstance(block, Mapping):
            raise ValueError(f"{where}: no '{POLICY_KEY}' block (every_days, on_feature_drift)")
        unknown = set(block) - {"every_days", "on_feature_drift"}
        if unknown:
            raise ValueError(f"{where}: unknown {POLICY_KEY} settings {sorted(unknown)}")
        every_days = block.get("every_days")
        if not isinstance(every_days, int) or isinstance(every_days, bool) or every_days < 1:
            raise ValueError(f"{where}: {POLICY_KEY}.every_days must be a whole number of days, 1 or more; "
                             f"got {every_days!r}")
        on_drift = block.get("on_feature_drift", False)
        if not isinstance(on_drift, bool):
            raise ValueError(f"{where}: {POLICY_KEY}.on_feature_drift must be true or false; got {on_drift!r}")
        return cls(every_days, on_drift)

    def as_dict(self) -> dict[str, Any]:
        return {"every_days": self.every_days, "on_feature_drift": self.on_feature_drift}


@dataclass(frozen=True)
class Decision:
    """Whether this run trains, and why (or, scoring, with which model): the run's message, read after its
    status (``trained``: "the model trained on ... is 7 days old"; ``scored``: "with the model trained on ...")."""

    train: bool
    reason: str


def settings_hash(model_config: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> str:
    """A short hash of the settings a fitted model depends on: its YAML less the retraining and scoring
    blocks (the batch size changes how scores are computed, not what they are), plus
    ``inputs`` (the feature list, a label horizon). Equal settings give equal hashes in any key order."""
    settings = {key: value for key, value in model_config.items() if key not in UNHASHED_KEYS}
    payload = json.dumps(jsonable({"settings": settings, "inputs": dict(inputs or {})}), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def decide(
    policy: RetrainingPolicy,
    as_of: date,
    config_hash: str,
    published: Mapping[str, Any] | None,
    last_run: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Decision:
    """Train or score, by the rules of the module docstring. ``published`` is the registry row of the latest
    trained run at or before ``as_of`` and ``last_run`` the latest run of any kind (ml/registry.py)."""
    if force:
        return Decision(True, "retraining forced (--retrain)")
    if published is None:
        return Decision(True, "no trained model to score with")
    trained_on = published["as_of_date"]
    if published.get("config_hash") != config_hash:
        return Decision(True, f"settings changed since the model trained on {trained_on}")
    age = (as_of - trained_on).days
    if age >= policy.every_days:
        return Decision(True, f"the model trained on {trained_on} is {age} days old "
                              f"(retrains every {policy.every_days})")
    if policy.on_feature_drift:
        drifted = new_drift(published, last_run)
        if drifted:
            return Decision(True, f"feature drift since the model trained on {trained_on}: " + ", ".join(drifted))
    retrains_on = trained_on + timedelta(days=policy.every_days)
    return Decision(False, f"with the model trained on {trained_on}, version {published['model_version']} "
                           f"(retrains on {retrains_on})")


def new_drift(published: Mapping[str, Any], last_run: Mapping[str, Any] | None) -> list[str]:
    """Features the last run's drift check flagged that the published model's training run did not."""
    if not last_run:
        return []
    flagged = _shifted(last_run)
    return sorted(flagged - _shifted(published))


def _shifted(run: Mapping[str, Any]) -> set[str]:
    return set(((run.get("metrics") or {}).get("monitoring") or {}).get("shifted_features") or [])
