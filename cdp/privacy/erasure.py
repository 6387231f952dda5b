"""Erasure (GDPR Art. 17): a person leaves every layer of the warehouse, and stays out.

``apply_erasures`` reads who is who from staging and identity: before this run's dbt build
when an earlier build left them (orchestration/defs/privacy.py), and again after it, before
models and exports read the marts. In one transaction (on DuckDB; Spark below) it
1. adds uploaded suppressions to the suppression list; raw keeps only their hashes;
2. suppresses the identifiers each new erasure request names;
3. finds the people to erase: the customers the new requests name, and every customer
   holding a suppressed identifier;
4. suppresses all of their identifiers (source records, e-mails, phones, loyalty ids,
   devices) that no other customer holds: another person's data is never suppressed;
5. purges raw: rows carrying a suppressed identifier are deleted, orders keep their
   amounts without their buyer; every load when someone was newly suppressed, else the
   loads since the last run (a source sending an erased person again);
6. purges every other table by its column names (personal_data.yml);
7. scrubs the audit trail: quarantined raw content, field issues of purged rows, the
   identifiers of processed requests;
8. logs each request in ``audit.erasure_log`` and the run in ``audit.privacy_runs``,
   without personal data.
Run again with nothing new, it writes nothing.

It runs through a ``Warehouse`` (cdp/warehouse), on DuckDB or Spark. On DuckDB it is one
transaction. Spark has none, so every step can be run again: the log is written last, a
request not logged is processed again, suppressions already listed are skipped, deletes
and updates are by condition, and the tables erasure reads to know who is who are purged
last, so a run that died midway finds the same people again (docs/privacy.md).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from cdp.privacy.personal_columns import ERASED_VALUES, PURGED_RAW_ROWS, TablePurge, plan_purges
from cdp.privacy.raw_identifiers import (
    ORDER_LINK,
    QUARANTINED_IDENTIFIERS,
    RAW_IDENTIFIERS,
    Identifiers,
    quarantined_field,
    source_record,
    suppressed,
)
from cdp.privacy.suppression import ensure_privacy_schema
from cdp.warehouse import Warehouse, as_warehouse
from cdp.warehouse.dialect import json_valid, sha256_hex

# The dbt models erasure reads (schema.model): who asked, what was uploaded, who is who.
ERASURE_REQUESTS = "staging.stg_landing__erasure_requests"
UPLOADED_SUPPRESSIONS = "staging.stg_landing__suppressions"
CUSTOMER_RECORDS = "staging.stg_landing__customers"
SEGMENT_LIST_ENTRIES = "staging.stg_landing__segment_lists"
REQUEST_CUSTOMERS = "intermediate.int_erasure_requests_identified"
# the landing sources those requests and uploads come from
REQUEST_SOURCES = ("erasure_requests", "suppressions")
RECORDS_RESOLVED = "intermediate.int_customer_records_resolved"
# a record's compared columns as one hash: the key of the comparisons identity keeps
MATCH_RECORDS = "intermediate.int_identity_match_records"
RECORD_IDENTIFIERS = "intermediate.int_customer_identifiers_unioned"
DEVICES = "intermediate.int_anonymous_ids_identified"
EVENTS = "intermediate.int_events_identified"
INPUT_RELATIONS = (
    ERASURE_REQUESTS,
    UPLOADED_SUPPRESSIONS,
    CUSTOMER_RECORDS,
    SEGMENT_LIST_ENTRIES,
    REQUEST_CUSTOMERS,
    RECORDS_RESOLVED,
    MATCH_RECORDS,
    RECORD_IDENTIFIERS,
    DEVICES,
    EVENTS,
)
INPUT_MODELS = tuple(name.split(".")[1] for name in INPUT_RELATIONS)
# The input relations are purged after every other table, in this order: until the last of them
# loses the person, a run that died midway (on Spark, without a transaction) finds the same
# people again. The hub of records and customers goes after the tables joined through it, the
# requests last of all.
PURGED_LAST = (
    EVENTS,
    DEVICES,
    CUSTOMER_RECORDS,
    RECORD_IDENTIFIERS,
    SEGMENT_LIST_ENTRIES,
    UPLOADED_SUPPRESSIONS,
    MATCH_RECORDS,
    RECORDS_RESOLVED,
    REQUEST_CUSTOMERS,
    ERASURE_REQUESTS,
)

TEMP_TABLES = (
    "_new_requests",
    "_candidates",
    "_new_suppressions",
    "_customer_identifiers",
    "_erased_customers",
    ERASED_VALUES,
    PURGED_RAW_ROWS,
)


@dataclass
class ErasureReport:
    """What one run of the erasure step did: counts only, never personal data."""

    run_id: str | None
    erasure_requests: int = 0
    suppressions_absorbed: int = 0
    customers_erased: int = 0
    identifiers_suppressed: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    rows_updated: dict[str, int] = field(default_factory=dict)
    scanned_through_load_id: int = 0
    customers_by_request: dict[str, int] = field(default_factory=dict)
    # the list held entries of a run that died before its log (Spark): this run finished its work
    resumed: bool = False

    @property
    def models_stale(self) -> bool:
        """Tables dbt builds lost rows, or the list gained identifiers staging will leave out:
        rebuilding the models makes every aggregate (identity statistics, RFM quintiles,
        segment sizes) what it is without the person."""
        touched = {**self.rows_deleted, **self.rows_updated}
        derived = any(not table.startswith(("raw.", "audit.")) for table in touched)
        return derived or sum(self.identifiers_suppressed.values()) > 0 or self.resumed

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.resumed
            or self.erasure_requests
            or self.suppressions_absorbed
            or self.customers_erased
            or self.identifiers_suppressed
            or self.rows_deleted
            or self.rows_updated
        )

    def count(self, bucket: dict[str, int], table: str, rows: int) -> None:
        if rows:
            bucket[table] = bucket.get(table, 0) + rows


def people_resolvable(warehouse: Warehouse) -> bool:
    """Whether the warehouse holds every table erasure reads (a dbt build has run on it): then
    erasure can run before this run's dbt build, on the identity of the previous one."""
    warehouse = as_warehouse(warehouse)
    return all(warehouse.has_table(relation) for relation in INPUT_RELATIONS)


def raw_holds_requests(warehouse: Warehouse) -> bool:
    """Whether raw holds any erasure request or uploaded suppression (on a warehouse without identity
    tables, the only case this is asked for, none of them has been processed yet)."""
    warehouse = as_warehouse(warehouse)
    landed = set(warehouse.tables(["raw"])) & {f"raw.{source}" for source in REQUEST_SOURCES}
    return any(warehouse.scalar(f"select count(*) > 0 from {table}") for table in sorted(landed))


def requests_staged(warehouse: Warehouse) -> bool:
    """Whether staging holds every erasure request and suppression raw holds: no load of either
    arrived after the last erasure run's scan. Each erasure run read its requests from staging
    refreshed after ingestion (by the main build, or by the step before dbt), so the step before
    dbt need not start dbt to refresh them (about 8 s a run at 100k: dbt's start-up, mostly)."""
    warehouse = as_warehouse(warehouse)
    if not warehouse.has_table("audit.privacy_runs") or not warehouse.has_table("audit.load_history"):
        return False
    return not warehouse.scalar(
        "select count(*) > 0 from audit.load_history "
        f"where source in ({', '.join(repr(source) for source in REQUEST_SOURCES)}) "
        "and load_id > (select coalesce(max(scanned_through_load_id), 0) from audit.privacy_runs)"
    )


def apply_erasures(warehouse: Warehouse, run_id: str | None = None, now: datetime | None = None) -> ErasureReport:
    """Process new erasure requests and uploaded suppressions, and purge re-sent raw rows
    (all or nothing on DuckDB; on Spark, finished by running it again)."""
    warehouse = as_warehouse(warehouse)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    ensure_privacy_schema(warehouse)
    report = ErasureReport(run_id, resumed=_suppressed_by_unfinished_run(warehouse))
    previous_scan = warehouse.scalar("select coalesce(max(scanned_through_load_id), 0) from audit.privacy_runs")
    report.scanned_through_load_id = max(
        previous_scan, warehouse.scalar("select coalesce(max(load_id), 0) from audit.load_history")
    )
    try:
        with warehouse.transaction():
            _suppress_requested_and_uploaded(warehouse, report, now)
            _find_erased_people(warehouse, report, now)
            # someone newly suppressed may sit in any load; otherwise only new loads can hold a re-send
            since = 0 if report.identifiers_suppressed or report.resumed else previous_scan
            _purge_raw(warehouse, report, since)
            if warehouse.scalar(f"select count(*) from {ERASED_VALUES}"):
                _purge_derived(warehouse, report)
            elif warehouse.scalar(f"select count(*) from {PURGED_RAW_ROWS}"):
                # nobody newly erased, but raw rows re-sent for someone erased before went
                _purge_derived(warehouse, report, raw_rows_only=True)
            _scrub_audit(warehouse, report, since)
            _log(warehouse, report, previous_scan, now)
    finally:
        for table in TEMP_TABLES:
            warehouse.drop_temp_table(table)
    return report


def _suppressed_by_unfinished_run(warehouse: Warehouse) -> bool:
    """Whether the list holds entries added after the last logged run: a run that died after
    suppressing (possible on Spark only) left raw loads of any age to purge, and perhaps tables
    dbt builds purged already (the models are stale)."""
    return bool(warehouse.scalar(
        "select count(*) > 0 from privacy.suppression_list "
        "where added_at > (select coalesce(max(processed_at), cast('1900-01-01' as timestamp)) "
        "from audit.privacy_runs)"
    ))


def _add_suppressions(warehouse: Warehouse, now: datetime) -> Counter:
    """Add the rows of ``_candidates`` not on the list yet; returns how many per type."""
    new = warehouse.temp_table(
        "_new_suppressions",
        """
        select identifier_type, identifier_sha256, min_by(reason, reference) as reason, min(reference) as reference
        from _candidates as candidates
        where identifier_sha256 is not null
            and not exists (
                select 1 from privacy.suppression_list as list
                where list.identifier_type = candidates.identifier_type
                    and list.identifier_sha256 = candidates.identifier_sha256
            )
        group by identifier_type, identifier_sha256
        """,
    )
    if not new:  # each statement costs a job on Spark
        return Counter()
    warehouse.execute(
        "insert into privacy.suppression_list "
        "select identifier_type, identifier_sha256, reason, reference, ? from _new_suppressions",
        [now],
    )
    return Counter(dict(warehouse.rows("select identifier_type, count(*) from _new_suppressions group by 1")))


def _add_counts(report: ErasureReport, counts: Counter) -> None:
    for identifier_type, n in counts.items():
        report.identifiers_suppressed[identifier_type] = report.identifiers_suppressed.get(identifier_type, 0) + n


def _suppress_requested_and_uploaded(warehouse: Warehouse, report: ErasureReport, now: datetime) -> None:
    report.erasure_requests = warehouse.temp_table(
        "_new_requests",
        f"""
        select erasure_request_id, requested_at, email, phone, source_system, source_customer_id
        from {ERASURE_REQUESTS} as requests
        where not exists (
            select 1 from audit.erasure_log as log where log.erasure_request_id = requests.erasure_request_id
        )
        """,
    )
    warehouse.temp_table(
        "_candidates",
        f"""
        select identifier_type, identifier_sha256, reason, 'suppressions load ' || _load_id as reference
        from {UPLOADED_SUPPRESSIONS}
        union all
        select 'email', email_match_key_sha256, reason, 'suppressions load ' || _load_id
        from {UPLOADED_SUPPRESSIONS}
        where email_match_key_sha256 is not null
        """,
    )
    uploaded = _add_suppressions(warehouse, now)
    report.suppressions_absorbed = sum(uploaded.values())
    _add_counts(report, uploaded)
    hashed = partial(sha256_hex, engine=warehouse.engine)
    warehouse.temp_table(
        "_candidates",
        f"""
        select 'email' as identifier_type, {hashed("email")} as identifier_sha256, 'erasure' as reason,
            'erasure request ' || erasure_request_id as reference
        from _new_requests
        union all
        select 'phone', {hashed("phone")}, 'erasure', 'erasure request ' || erasure_request_id from _new_requests
        union all
        select 'source_record', {hashed(source_record("source_system", "source_customer_id"))}, 'erasure',
            'erasure request ' || erasure_request_id
        from _new_requests
        """,
    )
    _add_counts(report, _add_suppressions(warehouse, now))


def _find_erased_people(warehouse: Warehouse, report: ErasureReport, now: datetime) -> None:
    """The people to erase and every identifier of theirs that is theirs alone."""
    warehouse.temp_table(
        "_customer_identifiers",
        f"""
        with identifiers as (
            select customer_id, 'source_record' as identifier_type,
                source_system || ':' || source_customer_id as value
            from {RECORDS_RESOLVED}
            union all
            select records.customer_id, 'email', customers.email
            from {CUSTOMER_RECORDS} as customers
            inner join {RECORDS_RESOLVED} as records using (customer_record_id)
            union all
            -- e-mail match keys, phones, loyalty ids
            select records.customer_id, identifiers.identifier_type, identifiers.identifier_value
            from {RECORD_IDENTIFIERS} as identifiers
            inner join {RECORDS_RESOLVED} as records using (customer_record_id)
            union all
            -- every device a customer logged in on, and the devices attributed to them
            select customer_id, 'anonymous_id', anonymous_id
            from {EVENTS}
            where identified_by = 'login'
            union all
            select customer_id, 'anonymous_id', anonymous_id from {DEVICES}
        )
        -- hashed once per distinct value: the login events repeat a device over many rows, and
        -- hashing before the distinct took half of this table's 16-18 s at 1,000,000 customers
        select customer_id, identifier_type, value, {sha256_hex("value", warehouse.engine)} as identifier_sha256
        from (
            select distinct customer_id, identifier_type, value
            from identifiers
            where customer_id is not null and value is not null
        ) as distinct_identifiers
        """,
    )
    report.customers_erased = warehouse.temp_table(
        "_erased_customers",
        f"""
        select customer_id, min_by(reason, reference) as reason, min(reference) as reference
        from (
            select customer_id, 'erasure' as reason, 'erasure request ' || erasure_request_id as reference
            from {REQUEST_CUSTOMERS}
            where erasure_request_id in (select erasure_request_id from _new_requests)
            union all
            select ids.customer_id, list.reason, list.reference
            from _customer_identifiers as ids
            inner join privacy.suppression_list as list
                on list.identifier_type = ids.identifier_type
                and list.identifier_sha256 = ids.identifier_sha256
        ) as named
        group by customer_id
        """,
    )
    report.customers_by_request = dict(
        warehouse.rows(
            f"select erasure_request_id, count(distinct customer_id) from {REQUEST_CUSTOMERS} "
            "where erasure_request_id in (select erasure_request_id from _new_requests) group by 1"
        )
    )
    # identifiers held by a customer who stays are that customer's too: never suppressed
    warehouse.temp_table(
        "_candidates",
        """
        select ids.identifier_type, ids.identifier_sha256, erased.reason, erased.reference, ids.value
        from _customer_identifiers as ids
        inner join _erased_customers as erased using (customer_id)
        where not exists (
            select 1
            from _customer_identifiers as other
            where other.identifier_type = ids.identifier_type
                and other.value = ids.value
                and other.customer_id not in (select customer_id from _erased_customers)
        )
        """,
    )
    _add_counts(report, _add_suppressions(warehouse, now))
    # a warehouse last built before identity kept its comparisons has no fingerprints to purge
    fingerprints = (
        f"""
            union all
            select 'comparison_fingerprint', cast(match_records.comparison_fingerprint as string)
            from {MATCH_RECORDS} as match_records
            inner join {RECORDS_RESOLVED} as records using (customer_record_id)
            inner join _erased_customers using (customer_id)"""
        if "comparison_fingerprint" in warehouse.columns(MATCH_RECORDS)
        else ""
    )
    # what the purge of tables outside raw looks for, in plain form: it lives only in this run
    warehouse.temp_table(
        ERASED_VALUES,
        f"""
        select distinct identifier_type, value
        from (
            select identifier_type, value from _candidates
            union all
            select 'customer_id', customer_id from _erased_customers
            union all
            select 'customer_record_id', records.customer_record_id
            from {RECORDS_RESOLVED} as records
            inner join _erased_customers using (customer_id){fingerprints}
            -- what a request names, also when it matches no customer (consent or e-mails of an address only)
            union all
            select 'email', email from _new_requests
            union all
            select 'phone', phone from _new_requests
            union all
            select 'source_record', {source_record("source_system", "source_customer_id")} from _new_requests
        ) as plain
        where value is not null
        """,
    )


def _purge_raw(warehouse: Warehouse, report: ErasureReport, since: int) -> None:
    engine = warehouse.engine
    since = int(since)  # a load id of ours, written into the SQL: the condition repeats it per identifier
    carrying = [
        f"select '{source}' as source, cast(_load_id as bigint) as load_id, "
        f"cast(_record_number as bigint) as record_number from raw.{source} "
        f"where _load_id > {since} "
        f"and ({suppressed(identifiers, f'raw.{source}', f'_load_id > {since}', engine)})"
        for source, identifiers in RAW_IDENTIFIERS.items()
    ]
    # list entries written in a form raw cannot read (a national phone number) or naming our
    # customer_id: found through their normalised staging row
    listed = f"""
        select 'segment_lists', raw_entries._load_id, raw_entries._record_number
        from raw.segment_lists as raw_entries
        inner join {SEGMENT_LIST_ENTRIES} as entries
            on entries.list_name = lower(trim(raw_entries.list_name))
            and entries.identifier_type = lower(trim(raw_entries.identifier_type))
            and entries.identifier = trim(raw_entries.identifier)
        where (entries.identifier_type, entries.identifier_value) in (
            select identifier_type, value from {ERASED_VALUES}
        )
        """
    warehouse.temp_table(PURGED_RAW_ROWS, "\nunion all\n".join([*carrying, listed]))
    # only the sources holding such rows: on Spark each delete is a job, a rewrite when it finds some
    carrying_sources = {source for (source,) in warehouse.rows(f"select distinct source from {PURGED_RAW_ROWS}")}
    for source in [source for source in RAW_IDENTIFIERS if source in carrying_sources]:
        deleted = warehouse.delete(
            f"raw.{source}",
            f"(_load_id, _record_number) in (select load_id, record_number from {PURGED_RAW_ROWS} "
            f"where source = '{source}')",
        )
        report.count(report.rows_deleted, f"raw.{source}", deleted)
    # an order is a financial record (kept for the accounts, GDPR Art. 17(3)(b)): only its buyer goes
    linked = f"source_customer_id is not null and _load_id > {since}"
    unlinked = warehouse.update(
        "raw.orders",
        {"source_customer_id": "null"},
        f"{linked} and ({suppressed(ORDER_LINK, 'raw.orders', linked, engine)})",
    )
    report.count(report.rows_updated, "raw.orders", unlinked)


def _purge_derived(warehouse: Warehouse, report: ErasureReport, raw_rows_only: bool = False) -> None:
    """Every table outside raw, by column names: rows of erased people and of deleted raw rows are deleted,
    mentions cleared (with ``raw_rows_only``, only the rows of deleted raw rows)."""
    for purge in _purge_order(plan_purges(warehouse, raw_rows_only=raw_rows_only)):
        if purge.delete_when:
            where = " or ".join(f"({condition})" for condition in purge.delete_when)
            report.count(report.rows_deleted, purge.table, warehouse.delete(purge.relation, where))
        for column, condition in purge.clear:
            cleared = warehouse.update(purge.relation, {column: "null"}, condition)
            report.count(report.rows_updated, purge.table, cleared)


def _purge_order(purges: list[TablePurge]) -> list[TablePurge]:
    """The tables erasure reads last, in the order of PURGED_LAST (see there why)."""
    rank = {table: position for position, table in enumerate(PURGED_LAST, start=1)}
    return sorted(purges, key=lambda purge: rank.get(purge.table, 0))


def _scrub_audit(warehouse: Warehouse, report: ErasureReport, since: int) -> None:
    engine = warehouse.engine
    deleted = warehouse.delete(
        "audit.field_issues",
        f"(source, load_id, record_number) in (select source, load_id, record_number from {PURGED_RAW_ROWS})",
    )
    report.count(report.rows_deleted, "audit.field_issues", deleted)
    # A rejected row keeps its reason and place (the load still reconciles) but loses its content.
    # Content that is no JSON (a line that could not be parsed) is searched for erased values.
    # (source, load_id, record_number) is a quarantined row's key.
    since = int(since)
    rejected = f"raw_content is not null and load_id > {since}"

    def carries_suppressed(source: str, identifiers: Identifiers) -> str:
        where = f"source = '{source}' and {rejected}"
        return suppressed(identifiers, "audit.quarantine", where, engine, quarantined_field(engine))

    by_source = " or ".join(
        f"(source = '{source}' and ({carries_suppressed(source, identifiers)}))"
        for source, identifiers in QUARANTINED_IDENTIFIERS.items()
    )
    scrubbed = warehouse.update(
        "audit.quarantine",
        {"raw_content": "null"},
        f"""
        {rejected}
            and (
                -- rejected uploads of identifiers to suppress
                source = 'suppressions'
                or {by_source}
                -- a join, not a correlated exists: OR-ed with the rest, that one ran per row (14 s for
                -- 900 people erased at once at 100k customers, 1 s as a join)
                or (source, load_id, record_number) in (
                    select unparsed.source, unparsed.load_id, unparsed.record_number
                    from (
                        select source, load_id, record_number, lower(raw_content) as content
                        from audit.quarantine
                        where {rejected} and not {json_valid("raw_content", engine)}
                    ) as unparsed
                    inner join (
                        select distinct lower(value) as value
                        from {ERASED_VALUES}
                        where identifier_type in ('email', 'anonymous_id', 'loyalty_id')
                    ) as erased
                        on contains(unparsed.content, erased.value)
                )
            )
        """,
    )
    report.count(report.rows_updated, "audit.quarantine", scrubbed)
    # a processed request keeps its id, time and system; re-sent, it is blanked again
    blanked = warehouse.update(
        "raw.erasure_requests",
        {"email": "null", "phone": "null", "source_customer_id": "null"},
        """
        (email is not null or phone is not null or source_customer_id is not null)
            and trim(request_id) in (
                select erasure_request_id from audit.erasure_log
                union all
                select erasure_request_id from _new_requests
            )
        """,
    )
    report.count(report.rows_updated, "raw.erasure_requests", blanked)
    # the upload's plain identifier becomes the hash staging computed for its row
    upload = (
        f"from {UPLOADED_SUPPRESSIONS} as hashed "
        "where hashed._load_id = suppressions._load_id and hashed._record_number = suppressions._record_number "
        "and hashed.identifier_sha256 is not null"
    )
    hashed = warehouse.update(
        "raw.suppressions",
        {"identifier": f"(select max(hashed.identifier_sha256) {upload})"},
        f"exists (select 1 {upload} and suppressions.identifier is distinct from hashed.identifier_sha256)",
    )
    report.count(report.rows_updated, "raw.suppressions", hashed)


def _log(warehouse: Warehouse, report: ErasureReport, previous_scan: int, now: datetime) -> None:
    if not report.changed_anything and report.scanned_through_load_id <= previous_scan:
        return
    rows_deleted = json.dumps(report.rows_deleted, sort_keys=True)
    for request_id, requested_at in warehouse.rows(
        "select erasure_request_id, requested_at from _new_requests order by erasure_request_id"
    ):
        customers = report.customers_by_request.get(request_id, 0)
        suppressed_types = dict(
            warehouse.rows(
                "select identifier_type, count(*) from privacy.suppression_list where reference = ? "
                "group by identifier_type order by identifier_type",
                [f"erasure request {request_id}"],
            )
        )
        warehouse.execute(
            "insert into audit.erasure_log values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                request_id,
                requested_at,
                now,
                report.run_id,
                customers,
                json.dumps(suppressed_types),
                report.erasure_requests,
                rows_deleted,
            ],
        )
    warehouse.execute(
        "insert into audit.privacy_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.run_id,
            now,
            report.erasure_requests,
            report.suppressions_absorbed,
            report.customers_erased,
            json.dumps(report.identifiers_suppressed, sort_keys=True),
            rows_deleted,
            json.dumps(report.rows_updated, sort_keys=True),
            report.scanned_through_load_id,
        ],
    )
