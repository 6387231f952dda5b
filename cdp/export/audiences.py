"""Audience definitions in YAML, validated before anything is queried or written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cdp.export.destinations import DESTINATIONS

CONSENT_PURPOSES = ("email_marketing", "sms_marketing", "ad_targeting", "personalization")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
KNOWN_KEYS = {"name", "description", "owner", "model", "consent_purpose", "min_size", "destinations"}


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
    model: str
    consent_purpose: str
    min_size: int
    destinations: list[DestinationConfig]
    source_file: str
    definition: dict


def _fail(path: Path, where: str, message: str) -> None:
    raise AudienceDefinitionError(f"{path}: {where}: {message}")


def parse_audience(path: Path) -> Audience:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AudienceDefinitionError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        _fail(path, "(top level)", "expected a mapping of audience fields")
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        _fail(path, ", ".join(sorted(unknown)), f"unknown field(s); expected some of {sorted(KNOWN_KEYS)}")
    for required in ("name", "model", "consent_purpose", "destinations"):
        if not spec.get(required):
            _fail(path, required, "is required")
    name = str(spec["name"])
    if not NAME_PATTERN.match(name):
        _fail(path, "name", f"{name!r} must be lower_snake_case")
    if spec["consent_purpose"] not in CONSENT_PURPOSES:
        _fail(path, "consent_purpose", f"{spec['consent_purpose']!r} is not one of {list(CONSENT_PURPOSES)}")
    min_size = spec.get("min_size", 1)
    if not isinstance(min_size, int) or min_size < 0:
        _fail(path, "min_size", f"{min_size!r} must be a whole number >= 0")
    if not isinstance(spec["destinations"], dict):
        _fail(path, "destinations", "expected a mapping of destination name to settings")
    destinations = []
    for dest_name, settings in spec["destinations"].items():
        where = f"destinations.{dest_name}"
        destination = DESTINATIONS.get(dest_name)
        if destination is None:
            _fail(path, where, f"unknown destination; expected one of {sorted(DESTINATIONS)}")
        if spec["consent_purpose"] not in destination.consent_purposes:
            _fail(path, where, f"does not accept consent purpose {spec['consent_purpose']!r}")
        settings = settings or {}
        fields = settings.get("fields") or []
        if not isinstance(fields, list) or not fields:
            _fail(path, f"{where}.fields", "a non-empty list of fields is required")
        for f in fields:
            if f not in destination.fields:
                _fail(path, f"{where}.fields", f"unknown field {f!r}; {dest_name} accepts {sorted(destination.fields)}")
        if destination.key_field not in fields:
            _fail(path, f"{where}.fields", f"must include the key field {destination.key_field!r}")
        options = {k: v for k, v in settings.items() if k != "fields"}
        destinations.append(DestinationConfig(dest_name, list(fields), options))
    return Audience(
        name=name,
        description=str(spec.get("description", "")),
        owner=str(spec.get("owner", "")),
        model=str(spec["model"]),
        consent_purpose=spec["consent_purpose"],
        min_size=min_size,
        destinations=destinations,
        source_file=str(path),
        definition=spec,
    )


def load_audiences(directory: Path) -> list[Audience]:
    """Every ``*.yml`` audience in a folder; the first wrong one raises with file and field named."""
    audiences = [parse_audience(p) for p in sorted(directory.glob("*.yml"))]
    names = [a.name for a in audiences]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise AudienceDefinitionError(f"{directory}: audience names used twice: {sorted(duplicates)}")
    return audiences
