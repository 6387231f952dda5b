"""Where simulated rows go: ``LandingSink`` splits them into dated files, adds
the malformed rows and records them in the truth; ``ProcessSink`` runs a
``LandingSink`` in a second process so rendering and disk writes overlap with
the simulation of the next chunk.

Both process messages strictly in order, so output never depends on timing.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from pathlib import Path

import numpy as np
import pyarrow as pa

from cdp.contract import load_contract

from . import malformed
from .arrays import stream_rng
from .timeline import Window
from .writers import LandingWriter, RenderedLines, damage, file_format

TRUTH_DIR = "_truth"
MALFORMED_COLUMNS = ("source", "file", "record_number", "reason", "column")


def malformed_table(source=(), file=(), record_number=(), reason=(), column=()) -> pa.Table:
    return pa.table({
        "source": pa.array(source, pa.large_string()), "file": pa.array(file, pa.large_string()),
        "record_number": pa.array(record_number, pa.int64()), "reason": pa.array(reason, pa.large_string()),
        "column": pa.array(column, pa.large_string()),
    })


class LandingSink:
    """Routes contract-shaped rows to their dated files, splicing in malformed copies."""

    def __init__(self, out_dir: Path, config: dict, window: Window, seed: int) -> None:
        self.contract = load_contract()
        self.files_cfg = config["files"]
        self.window = window
        self.seed = seed
        json_cols = frozenset(c.name for s in self.contract.sources.values() for c in s.columns if c.type == "json")
        self.landing = LandingWriter(Path(out_dir), raw_json_columns=json_cols)
        self.truth_writer = LandingWriter(Path(out_dir) / TRUTH_DIR)
        self.malformed_rate = float(config["malformed"]["rate"])
        self.malformed_sources = set(config["malformed"]["sources"])
        self.malformed_count = 0

    def emit(self, source: str, stream: str, table: pa.Table, ms: np.ndarray, chunk_index: int) -> None:
        """Write rows of one source stream; ``ms`` (the row's change instant) picks its dated file."""
        expected = self.contract.sources[source].column_names
        if table.column_names != expected:
            raise ValueError(f"{source}/{stream}: columns {table.column_names} != contract {expected}")
        if table.num_rows == 0:
            return
        spec = self.files_cfg[source][stream]
        drop = self.window.drop_for(ms, int(spec["every_days"]))
        if np.any(drop[1:] < drop[:-1]):
            order = np.argsort(drop, kind="stable")
            table, drop = table.take(pa.array(order)), drop[order]
        fmt = file_format(spec["file"])
        broken = None
        if source in self.malformed_sources and self.malformed_rate > 0:
            rng = stream_rng(self.seed, chunk_index, f"malformed/{source}/{stream}")
            broken = malformed.inject(rng, table, drop, self.contract.sources[source], fmt, self.malformed_rate)
        if fmt != "parquet":
            lines = RenderedLines(self.landing.render(spec["file"], table))
            bad_lines = RenderedLines(self.landing.render(spec["file"], broken.rows)) if broken else None
        starts = np.flatnonzero(np.r_[True, drop[1:] != drop[:-1]])
        ends = np.r_[starts[1:], len(drop)]
        bad_rows = []
        for s, e in zip(starts, ends, strict=True):
            relpath = f"{source}/{spec['file'].format(date=self.window.date_label(drop[s]))}"
            # This file's broken copies, spliced in before their insertion points.
            mine = np.flatnonzero(broken.group == drop[s]) if broken else np.zeros(0, dtype=np.int64)
            cuts = [int(s)] + [int(broken.before[j]) for j in mine] + [int(e)]
            pieces, numbers = [], []
            for k in range(len(cuts) - 1):
                if fmt == "parquet":
                    pieces.append(table.slice(cuts[k], cuts[k + 1] - cuts[k]))
                else:
                    pieces += lines.records(cuts[k], cuts[k + 1])
                if k < len(mine):
                    j = int(mine[k])
                    numbers.append(cuts[k + 1] - s + k + 1)
                    if fmt == "parquet":
                        pieces.append(broken.rows.slice(j, 1))
                    else:
                        line = b"".join(bad_lines.records(j, j + 1))
                        pieces.append(damage(line, broken.line_edit[j]) if broken.line_edit[j] else line)
            if fmt == "parquet":
                before = self.landing.append(relpath, pa.concat_tables(pieces))
            else:
                before = self.landing.append_text(relpath, table.column_names, pieces, int(e - s) + len(mine))
            bad_rows += [(source, relpath, before + num, broken.reason[j], broken.column[j])
                         for num, j in zip(numbers, mine, strict=True)]
        if bad_rows:
            self.malformed_count += len(bad_rows)
            self.truth_writer.append("malformed_rows.csv", malformed_table(*zip(*bad_rows, strict=True)))

    def truth(self, name: str, table: pa.Table) -> None:
        self.truth_writer.append(name, table)

    def close(self) -> dict:
        """Publish every file; returns rows per landing file and per truth file, and the malformed count."""
        if self.malformed_count == 0:
            self.truth_writer.append("malformed_rows.csv", malformed_table())
        return {"files": self.landing.close(), "truth_files": self.truth_writer.close(),
                "malformed_rows": self.malformed_count}


def _serve(inbox: mp.Queue, outbox: mp.Queue, args: tuple) -> None:
    try:
        sink = LandingSink(*args)
        while True:
            message = inbox.get()
            if message[0] == "close":
                outbox.put(("ok", sink.close()))
                return
            getattr(sink, message[0])(*message[1:])
    except BaseException as exc:  # report any failure to the parent instead of hanging it
        outbox.put(("error", repr(exc)))


class ProcessSink:
    """A LandingSink in a spawned process, fed through a bounded queue."""

    def __init__(self, out_dir: Path, config: dict, window: Window, seed: int, backlog: int = 24) -> None:
        ctx = mp.get_context("spawn")
        self._inbox = ctx.Queue(maxsize=backlog)
        self._outbox = ctx.Queue()
        self._proc = ctx.Process(target=_serve, args=(self._inbox, self._outbox, (out_dir, config, window, seed)),
                                 daemon=True)
        self._proc.start()

    def _send(self, message: tuple) -> None:
        while True:
            try:
                self._inbox.put(message, timeout=1.0)
                return
            except queue.Full:
                self._check()

    def _fail(self, message: str) -> None:
        # Do not let interpreter exit wait to flush messages nobody will read.
        self._inbox.cancel_join_thread()
        if self._proc.is_alive():
            self._proc.terminate()
        raise RuntimeError(message)

    def _check(self) -> None:
        try:
            status, payload = self._outbox.get_nowait()
        except queue.Empty:
            if not self._proc.is_alive():
                self._fail("the landing writer process died")
            return
        self._fail(f"the landing writer process failed: {payload if status == 'error' else status}")

    def emit(self, source: str, stream: str, table: pa.Table, ms: np.ndarray, chunk_index: int) -> None:
        self._send(("emit", source, stream, table, ms, chunk_index))

    def truth(self, name: str, table: pa.Table) -> None:
        self._send(("truth", name, table))

    def close(self) -> dict:
        self._send(("close",))
        while True:
            try:
                status, payload = self._outbox.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._proc.is_alive():
                    self._fail("the landing writer process died")
        self._proc.join()
        if status != "ok":
            self._fail(f"the landing writer process failed: {payload}")
        return payload
