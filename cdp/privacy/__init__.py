"""Privacy: the suppression list of hashed identifiers, and erasure (GDPR Art. 17) across every layer.

docs/privacy.md explains what is deleted, what is kept and how suppressions are applied.
"""

from cdp.privacy.erasure import ErasureReport, apply_erasures
from cdp.privacy.suppression import ensure_privacy_schema, identifier_sha256, suppressed_hashes

__all__ = ["ErasureReport", "apply_erasures", "ensure_privacy_schema", "identifier_sha256", "suppressed_hashes"]
