"""A run's dbt invocation, built again one node at a time when nodes ran out of memory.

DuckDB's memory limit (``CDP_DUCKDB_MEMORY_LIMIT``) is one pool for the whole dbt process, which
builds two models at once (``CDP_DBT_THREADS``). Most operators spill to disk when the pool
fills; some cannot, and the model then fails with "Out of Memory Error". At 1,000,000 customers a
daily build failed so (``dim_customers`` and ``int_customer_email_days`` side by side), and the same
two passed when built again (docs/benchmarks.md): whether it happens depends on what shares the pool.

So when every failure of an invocation is out of memory, what did not pass (the failed nodes and what
they held back) is built again in a second invocation with one thread, selected from the first one's
run results (``--state`` with ``result:`` selectors). A failed model's transaction was rolled back, so
it starts from the same tables. Any other failure fails the step, as before, and so does a second
run out of memory.

dagster-dbt *unions* a ``--select`` given at run time with the step's asset selection, so the second
invocation excludes what passed rather than selecting what failed; ``dbt retry`` takes no selection
at all, which dagster-dbt adds to every invocation of a step of dbt assets.
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.defs.dbt_targets import invocation_target

OUT_OF_MEMORY = "Out of Memory Error"
# run_results statuses of nodes that did their work (a test that warns passed as far as the build goes)
DONE_STATUSES = ("success", "pass", "warn")
FAILED_STATUSES = ("error", "fail", "runtime error")


def failed_nodes(run_results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [result for result in run_results.get("results", []) if result.get("status") in FAILED_STATUSES]


def out_of_memory_only(run_results: Mapping[str, Any]) -> bool:
    """Whether the invocation failed, and only because nodes ran out of memory."""
    failed = failed_nodes(run_results)
    return bool(failed) and all(OUT_OF_MEMORY in (result.get("message") or "") for result in failed)


def one_node_at_a_time_args(args: Sequence[str], first_target: Path) -> list[str]:
    """The first invocation's arguments, for what it did not do, one node at a time."""
    excludes = [arg for status in DONE_STATUSES for arg in ("--exclude", f"result:{status}")]
    return [*args, "--state", str(first_target), *excludes, "--threads", "1"]


def run_dbt(
    dbt: DbtCliResource,
    args: Sequence[str],
    context: dg.AssetExecutionContext,
    *,
    manifest: Path | None = None,
) -> Iterator[Any]:
    """Invoke dbt for ``context``'s step, in a fresh target folder (``invocation_target``), once more
    one node at a time if nodes ran out of memory.

    Without ``manifest`` the step is one of ``@dbt_assets``: the Dagster events of what dbt built, to
    yield. With it the step is another asset that builds dbt nodes as a means: dbt's raw events, which
    the caller drains (``run_dbt_to_end``)."""
    in_dbt_assets = manifest is None

    def invoke(invocation_args: Sequence[str], target_path: Path, raise_on_error: bool):
        invocation = dbt.cli(
            invocation_args,
            context=context if in_dbt_assets else None,
            manifest=manifest,
            target_path=target_path,
            raise_on_error=raise_on_error,
        )
        return invocation, invocation.stream() if in_dbt_assets else invocation.stream_raw_events()

    with invocation_target(dbt, context) as first_target:
        first, events = invoke(args, first_target, raise_on_error=False)
        yield from events
        if first.is_successful():
            return
        run_results_path = first_target / "run_results.json"
        run_results = json.loads(run_results_path.read_text()) if run_results_path.exists() else {}
        if not out_of_memory_only(run_results):
            raise first.get_error()
        failed = sorted(result["unique_id"] for result in failed_nodes(run_results))
        context.log.warning(
            f"dbt: {len(failed)} node(s) ran out of memory ({', '.join(failed)}); building them and what "
            f"they held back again, one node at a time (run results: {run_results_path})"
        )
        with invocation_target(dbt, context) as second_target:
            _, events = invoke(one_node_at_a_time_args(args, first_target), second_target, raise_on_error=True)
            yield from events


def run_dbt_to_end(
    dbt: DbtCliResource, args: Sequence[str], context: dg.AssetExecutionContext, *, manifest: Path
) -> None:
    """``run_dbt`` for an asset that is not one of ``@dbt_assets``: wait for the end, keep no event."""
    for _ in run_dbt(dbt, args, context, manifest=manifest):
        pass
