"""The activation profile: one row per customer (not erased) with everything an
audience may select on or export.

It is ``int_customer_profile`` (attributes, RFM, traits: the fields segment rules
use) plus the golden record's personal data, the marketing permissions, the
segments and the ML outputs. It is assembled here, not in dbt, because the ML
tables are written by Python assets that run after dbt.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from cdp import settings
from cdp.warehouse.dialect import sorted_string_agg

# Columns beyond int_customer_profile's, with the expression that computes each.
EXTRA_COLUMNS: dict[str, str] = {
    "email": "customers.email",
    "phone": "customers.phone",
    "first_name": "customers.first_name",
    "last_name": "customers.last_name",
    "street": "customers.street",
    "city": "customers.city",
    "state": "customers.state",
    "postcode": "customers.postcode",
    "birth_date": "customers.birth_date",
    "gender": "customers.gender",
    "loyalty_id": "customers.loyalty_id",
    "email_marketing_status": "permissions.email_marketing_status",
    "sms_marketing_status": "permissions.sms_marketing_status",
    "ad_targeting_status": "permissions.ad_targeting_status",
    "personalization_status": "permissions.personalization_status",
    "has_objected_to_direct_marketing": "permissions.has_objected_to_direct_marketing",
    "has_objected_to_profiling": "permissions.has_objected_to_profiling",
    "can_email": "coalesce(permissions.can_email, false)",
    "can_sms": "coalesce(permissions.can_sms, false)",
    "can_target_ads": "coalesce(permissions.can_target_ads, false)",
    "can_personalise": "coalesce(permissions.can_personalise, false)",
    "segments": "segments.segments",
    "persona_id": "clusters.cluster_id",
    "persona_name": "clusters.persona_name",
    "churn_probability": "churn.churn_probability",
    "churn_risk_tier": "churn.risk_tier",
    "purchase_probability": "propensity.purchase_probability",
    "purchase_propensity_tier": "propensity.propensity_tier",
    "predicted_clv_12m": "clv.clv_12m",
    "probability_alive": "clv.probability_alive",
}

# int_customer_profile's codes are exported under the names destinations use.
RENAMED = {"country_code": "country", "language_code": "language"}

# The permission flag each consent purpose requires (marts.customer_marketing_permissions).
PURPOSE_FLAGS = {
    "email_marketing": "can_email",
    "sms_marketing": "can_sms",
    "ad_targeting": "can_target_ads",
    "personalization": "can_personalise",
}


class ManifestMissing(RuntimeError):
    pass


@cache
def _manifest(path: Path) -> dict:
    if not path.exists():
        raise ManifestMissing(f"{path} is missing: run `dbt parse` in dbt_project (make setup does)")
    return json.loads(path.read_text())


def _node(name: str, manifest_path: Path) -> dict:
    for node in _manifest(manifest_path)["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == name:
            return node
    raise ManifestMissing(f"model {name} is not in {manifest_path}")


def default_manifest_path() -> Path:
    return settings.DBT_PROJECT_DIR / "target" / "manifest.json"


def base_columns(manifest_path: Path | None = None) -> list[str]:
    """int_customer_profile's columns (its contract is enforced: the documented ones are the real ones)."""
    return list(_node("int_customer_profile", manifest_path or default_manifest_path())["columns"])


def profile_columns(manifest_path: Path | None = None) -> list[str]:
    """Every field an audience may select on or export, in profile order."""
    documented = base_columns(manifest_path)
    return [RENAMED.get(c, c) for c in documented] + list(EXTRA_COLUMNS)


def declared_segments(manifest_path: Path | None = None) -> list[str]:
    node = _node("int_segment_definitions", manifest_path or default_manifest_path())
    return [s["name"] for s in (node["config"].get("meta", {}).get("segments") or [])]


def profile_sql(manifest_path: Path | None = None, engine: str = "duckdb") -> str:
    """SELECT of the activation profile (alias ``profile`` is used by selections), in the SQL
    of ``engine`` (duckdb or spark)."""
    documented = base_columns(manifest_path)
    base = [f"base.{c} as {RENAMED.get(c, c)}" for c in documented]
    extra = [f"{expr} as {name}" for name, expr in EXTRA_COLUMNS.items()]
    return f"""
        select {', '.join(base + extra)}
        from intermediate.int_customer_profile as base
        inner join marts.dim_customers as customers on customers.customer_id = base.customer_id
        left join marts.customer_marketing_permissions as permissions on permissions.customer_id = base.customer_id
        left join (
            select customer_id, {sorted_string_agg('segment_name', ',', engine)} as segments
            from marts.customer_segment_membership group by customer_id
        ) as segments on segments.customer_id = base.customer_id
        left join ml.customer_clusters as clusters on clusters.customer_id = base.customer_id
        left join ml.churn_scores as churn on churn.customer_id = base.customer_id
        left join ml.purchase_propensity_scores as propensity on propensity.customer_id = base.customer_id
        left join ml.clv_predictions as clv on clv.customer_id = base.customer_id
        where not customers.is_erased
    """
