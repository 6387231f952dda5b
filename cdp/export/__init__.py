"""Audience exports: YAML definitions -> destination files with manifests."""

from cdp.export.audiences import Audience, AudienceDefinitionError, load_audiences, parse_audience
from cdp.export.writer import ExportResult, export_audience

__all__ = [
    "Audience",
    "AudienceDefinitionError",
    "ExportResult",
    "export_audience",
    "load_audiences",
    "parse_audience",
]
