"""Audience definitions in YAML (audiences/*.yml), checked before anything is queried
or written: a mistake fails with the file and the field named."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cdp.export import selection as rules
from cdp.export.destinations import DESTINATIONS
from cdp.export.profile import PURPOSE_FLAGS, declared_segments, profile_columns

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
REQUIRED_KEYS = ("name", "description", "owner", "consent_purpose", "selection", "destinations")
OPTIONAL_KEYS = ("holdout_share", "variants", "experiment", "min_size", "refresh", "max_size_change")
# an audience whose eligible members change by more than this share between as-of dates warns
DEFAULT_MAX_SIZE_CHANGE = 0.5
# days between exports; every_run exports at every pipeline run
REFRESH_DAYS = {"every_run": 0, "daily": 1, "weekly": 7, "monthly": 28}


class AudienceDefinitionError(ValueError):
    """A wrong audience definition; the message names the file and the field."""


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    fields: list[str]
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Audience:
    name: str
    description: str
    owner: str
    consent_purpose: str
    selection: dict
    destinations: list[DestinationConfig]
    holdout_share: float = 0.0
    variants: dict[str, float] = field(default_factory=lambda: {"treatment": 1.0})
    experiment: str = ""
    min_size: int = 1
    refresh: str = "daily"
    max_size_change: float = DEFAULT_MAX_SIZE_CHANGE
    source_file: str = ""
    definition: dict = field(default_factory=dict)

    @property
    def permission_flag(self) -> str:
        return PURPOSE_FLAGS[self.consent_purpose]

    @property
    def refresh_days(self) -> int:
        return REFRESH_DAYS[self.refresh]


def _fail(path: Path, where: str, message: str):
    raise AudienceDefinitionError(f"{path}: {where}: {message}")


def parse_audience(path: Path, fields: list[str] | None = None, segments: list[str] | None = None) -> Audience:
    """One audience file; ``fields`` and ``segments`` default to the dbt project's (manifest)."""
    fields = profile_columns() if fields is None else fields
    segments = declared_segments() if segments is None else segments
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AudienceDefinitionError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        _fail(path, "(top level)", "expected a mapping of audience fields")
    unknown = sorted(set(spec) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        _fail(path, ", ".join(unknown), f"unknown field(s); expected some of {list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    for key in REQUIRED_KEYS:
        if spec.get(key) in (None, "", [], {}):
            _fail(path, key, "is required")
    name = str(spec["name"])
    if not NAME_PATTERN.match(name):
        _fail(path, "name", f"{name!r} must be lower_snake_case")
    purpose = spec["consent_purpose"]
    if purpose not in PURPOSE_FLAGS:
        _fail(path, "consent_purpose", f"{purpose!r} is not one of {list(PURPOSE_FLAGS)}")
    try:
        rules.validate(spec["selection"], fields, segments)
    except rules.SelectionError as err:
        _fail(path, err.path, err.problem)
    holdout_share = _holdout_share(path, spec.get("holdout_share", 0))
    variants = _variants(path, spec.get("variants", {"treatment": 1}))
    min_size = spec.get("min_size", 1)
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        _fail(path, "min_size", f"{min_size!r} must be a whole number >= 1")
    refresh = spec.get("refresh", "daily")
    if refresh not in REFRESH_DAYS:
        _fail(path, "refresh", f"{refresh!r} is not one of {list(REFRESH_DAYS)}")
    max_size_change = spec.get("max_size_change", DEFAULT_MAX_SIZE_CHANGE)
    if isinstance(max_size_change, bool) or not isinstance(max_size_change, int | float) or max_size_change <= 0:
        _fail(path, "max_size_change", f"{max_size_change!r} must be a share > 0 (0.5 = 50 %)")
    experiment = str(spec.get("experiment", name))
    if not NAME_PATTERN.match(experiment):
        _fail(path, "experiment", f"{experiment!r} must be lower_snake_case")
    return Audience(
        name=name,
        description=str(spec["description"]),
        owner=str(spec["owner"]),
        consent_purpose=purpose,
        selection=spec["selection"],
        destinations=_destinations(path, spec["destinations"], purpose, fields),
        holdout_share=holdout_share,
        variants=variants,
        experiment=experiment,
        min_size=min_size,
        refresh=refresh,
        max_size_change=float(max_size_change),
        source_file=str(path),
        definition=spec,
    )


def _holdout_share(path: Path, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        _fail(path, "holdout_share", f"{value!r} must be a number from 0 up to (not including) 1")
    return float(value)


def _variants(path: Path, value: object) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        _fail(path, "variants", "expected a mapping of variant name to weight, e.g. {subject_a: 1, subject_b: 1}")
    for variant, weight in value.items():
        if not NAME_PATTERN.match(str(variant)) or variant == "holdout":
            _fail(path, f"variants.{variant}", "a variant name is lower_snake_case and not 'holdout'")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            _fail(path, f"variants.{variant}", f"weight {weight!r} must be a positive number")
    total = float(sum(value.values()))
    return {str(k): float(v) / total for k, v in value.items()}


def _destinations(path: Path, spec: object, purpose: str, profile: list[str]) -> list[DestinationConfig]:
    if not isinstance(spec, dict):
        _fail(path, "destinations", "expected a mapping of destination name to settings")
    out = []
    for name, settings in spec.items():
        where = f"destinations.{name}"
        destination = DESTINATIONS.get(name)
        if destination is None:
            _fail(path, where, f"unknown destination; expected one of {sorted(DESTINATIONS)}")
        if purpose not in destination.consent_purposes:
            takes = list(destination.consent_purposes)
            _fail(path, where, f"does not take consent purpose {purpose!r} (it takes {takes})")
        settings = settings or {}
        if not isinstance(settings, dict):
            _fail(path, where, "expected a mapping with fields and the destination's options")
        fields = settings.get("fields")
        if not isinstance(fields, list) or not fields:
            _fail(path, f"{where}.fields", "a non-empty list of fields is required")
        for f in fields:
            if f not in profile:
                problem = f"unknown field {f!r}: not in the activation profile (docs/activation.md)"
                _fail(path, f"{where}.fields", problem)
            if not destination.accepts(f):
                _fail(path, f"{where}.fields", f"{name} does not take field {f!r}")
        if len(set(fields)) != len(fields):
            _fail(path, f"{where}.fields", "a field is listed twice")
        if destination.key_field not in fields:
            _fail(path, f"{where}.fields", f"must include the key field {destination.key_field!r}")
        options = {k: v for k, v in settings.items() if k != "fields"}
        problems = destination.validate_options(options)
        if problems:
            _fail(path, f"{where}", problems[0])
        out.append(DestinationConfig(name, list(fields), options))
    return out


def load_audiences(directory: Path, fields: list[str] | None = None,
                   segments: list[str] | None = None) -> list[Audience]:
    """Every ``*.yml`` audience in a folder; the first wrong one raises with file and field named."""
    fields = profile_columns() if fields is None else fields
    segments = declared_segments() if segments is None else segments
    audiences = [parse_audience(p, fields, segments) for p in sorted(Path(directory).glob("*.yml"))]
    seen: dict[str, str] = {}
    for a in audiences:
        if a.name in seen:
            raise AudienceDefinitionError(f"{a.source_file}: name: {a.name!r} is also used by {seen[a.name]}")
        seen[a.name] = a.source_file
    return audiences
