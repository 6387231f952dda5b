"""Render the contract's sources as Markdown tables for docs/data_contract.md.

``python -m cdp.contract.doc`` rewrites the generated part of the document;
tests/test_contract.py fails when the document and the contract disagree.
"""

from __future__ import annotations

from pathlib import Path

from cdp.contract import Contract, load_contract

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "data_contract.md"
BEGIN = "<!-- BEGIN GENERATED: sources (python -m cdp.contract.doc) -->"
END = "<!-- END GENERATED -->"


def _rule(column) -> str:
    parts = []
    if column.values:
        parts.append("one of " + ", ".join(f"`{v}`" for v in column.values))
    if column.min is not None:
        parts.append(f"min `{column.min}`")
    if column.max is not None:
        parts.append(f"max `{column.max}`")
    if column.on_invalid == "null":
        parts.append("invalid value → NULL + field issue")
    return "; ".join(parts)


def render_sources(contract: Contract) -> str:
    out = []
    for source in contract.sources.values():
        out.append(f"### `{source.name}`\n\n")
        out.append(f"{source.description}\n\n")
        out.append(f"Primary key: {', '.join(f'`{c}`' for c in source.primary_key)}.")
        for group in source.require_any:
            out.append(f" At least one of {', '.join(f'`{c}`' for c in group)} must be non-empty.")
        out.append("\n\n| column | type | required | rule |\n|---|---|---|---|\n")
        for c in source.columns:
            out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {_rule(c)} |\n")
        out.append("\n")
    return "".join(out).rstrip() + "\n"


def generated_section(contract: Contract) -> str:
    return f"{BEGIN}\n{render_sources(contract)}{END}"


def update_doc(path: Path = DOC_PATH) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + generated_section(load_contract()) + text[end:], encoding="utf-8")


if __name__ == "__main__":
    update_doc()
