"""Audience activation: YAML definitions -> consented, suppressed, held-out member
sets -> destination files with diffs and manifests (docs/activation.md)."""

from cdp.export.audiences import Audience, AudienceDefinitionError, load_audiences, parse_audience
from cdp.export.exporter import ExportResult, export_audience

__all__ = [
    "Audience",
    "AudienceDefinitionError",
    "ExportResult",
    "export_audience",
    "load_audiences",
    "parse_audience",
]
