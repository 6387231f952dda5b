from __future__ import annotations

import pytest
import yaml

from cdp.contract import CONTRACT_PATH, ContractError, load_contract, parse_contract, raw_table_ddl


def _raw_contract() -> dict:
    return yaml.safe_load(CONTRACT_PATH.read_text())


def test_contract_defines_the_issue_sources_and_columns():
    contract = load_contract()
    assert set(contract.sources) >= {
        "customers",
        "orders",
        "order_items",
        "products",
        "events",
        "email_events",
        "consent",
        "erasure_requests",
    }
    customers = contract.sources["customers"]
    for column in ("email", "phone", "first_name", "last_name", "birth_date", "loyalty_id", "updated_at"):
        assert column in customers.column_names
    # A record may have neither email nor phone.
    assert not customers.column("email").required and not customers.column("phone").required
    assert contract.sources["orders"].column("status").values == ("completed", "cancelled", "returned")


def test_keys_must_be_required_columns():
    raw = _raw_contract()
    raw["sources"]["products"]["columns"]["product_id"]["required"] = False
    with pytest.raises(ContractError, match="key column 'product_id' must be required"):
        parse_contract(raw)


def test_unknown_type_is_named():
    raw = _raw_contract()
    raw["sources"]["orders"]["columns"]["total_amount"]["type"] = "money"
    with pytest.raises(ContractError, match=r"sources.orders.columns.total_amount: type must be one of"):
        parse_contract(raw)


def test_raw_table_ddl_has_contract_and_lineage_columns(con):
    contract = load_contract()
    con.execute("create schema raw")
    con.execute(raw_table_ddl(contract.sources["orders"]))
    columns = [r[0] for r in con.execute("describe raw.orders").fetchall()]
    assert columns[: len(contract.sources["orders"].columns)] == contract.sources["orders"].column_names
    assert columns[-4:] == ["_load_id", "_source_file", "_record_number", "_loaded_at"]


def test_data_contract_doc_matches_the_contract():
    from cdp.contract.doc import DOC_PATH, generated_section

    assert generated_section(load_contract()) in DOC_PATH.read_text(encoding="utf-8"), (
        "docs/data_contract.md is out of date: run python -m cdp.contract.doc"
    )
