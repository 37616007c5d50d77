"""The tables of a finished run, written to `--out/tables/` as Parquet and CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from cds.dryrun.tables import (
    Aggregator,
    RuleInfo,
    compare_partition,
    compare_rules,
    read_results,
    write_table,
)

BASE, OTHER = "pack", "compare"
_S: pa.DataType = pa.string()
_I: pa.DataType = pa.int64()
_F: pa.DataType = pa.float64()
SCHEMAS: dict[str, pa.Schema] = {
    "rules": pa.schema([
        ("hook", _S), ("rule", _S), ("title", _S), ("patients_fired", _I),
        ("patients_with_card", _I), ("patients_per_1000", _F), ("cards", _I),
        ("cards_per_1000", _F), ("lead_cards", _I), ("merged_cards", _I), ("held_back", _I),
        ("critical", _I), ("warning", _I), ("info", _I), ("suggestions_offered", _I),
        ("cards_with_data_notes", _I)]),
    "openings": pa.schema([("hook", _S), ("openings", _I), ("patients", _I),
                           ("openings_per_1000", _F)]),
    "cards_per_opening": pa.schema([("hook", _S), ("cards", _I), ("openings", _I),
                                    ("share_percent", _F)]),
    "overlaps": pa.schema([("hook", _S), ("rule_a", _S), ("rule_b", _S), ("openings", _I),
                           ("patients", _I)]),
    "unresolved_codes": pa.schema([("system", _S), ("code", _S), ("display", _S),
                                   ("openings", _I), ("patients", _I)]),
    "data_notes": pa.schema([("hook", _S), ("kind", _S), ("notes", _I), ("openings", _I),
                             ("patients", _I)]),
    "suggestions": pa.schema([("hook", _S), ("rule", _S), ("suggestion", _S),
                              ("offered", _I), ("patients", _I)]),
    "prefetch_cut": pa.schema([("hook", _S), ("prefetch_key", _S), ("openings", _I)]),
    "compare_rules": pa.schema([
        ("hook", _S), ("rule", _S), ("patients_with_card", _I),
        ("patients_with_card_compared", _I), ("patients_gaining", _I),
        ("patients_losing", _I), ("change_per_1000", _F)]),
    "compare_patients": pa.schema([("patient", _S), ("hook", _S), ("opening", _S),
                                   ("rule", _S), ("change", _S)]),
}

Tables = dict[str, list[dict[str, Any]]]


def pack_tables(agg: Aggregator, rules: Sequence[RuleInfo], hooks: Sequence[str],
                patients: int) -> Tables:
    return {
        "rules": agg.rules(rules, hooks, patients),
        "openings": agg.openings(patients),
        "cards_per_opening": agg.cards_per_opening(),
        "overlaps": agg.overlaps(),
        "unresolved_codes": agg.unresolved(),
        "data_notes": agg.data_notes(),
        "suggestions": agg.suggestions(),
        "prefetch_cut": agg.cut(),
    }


def build_tables(work: Path, partitions: int, compare: bool, rules: Sequence[RuleInfo],
                 hooks: Sequence[str], patients: int) -> tuple[Tables, Tables]:
    """The pack's tables (with the compare tables when `compare`) and the other pack's."""
    base, other = Aggregator(), Aggregator()
    changes: list[dict[str, Any]] = []
    for p in range(partitions):
        openings = read_results(work / "results" / BASE, p, "openings")
        base.add(openings, read_results(work / "results" / BASE, p, "cards"))
        if compare:
            other_openings = read_results(work / "results" / OTHER, p, "openings")
            other.add(other_openings, read_results(work / "results" / OTHER, p, "cards"))
            changes.extend(compare_partition(openings, other_openings))
    tables = pack_tables(base, rules, hooks, patients)
    other_tables: Tables = {}
    if compare:
        changes.sort(key=lambda r: (r["patient"], r["hook"], r["opening"], r["rule"]))
        tables["compare_rules"] = compare_rules(changes, base, other, patients)
        tables["compare_patients"] = changes
        other_tables = pack_tables(other, rules, hooks, patients)
    return tables, other_tables


def write_tables(tables: Tables, folder: Path) -> list[Path]:
    return [write_table(rows, SCHEMAS[name], folder, name) for name, rows in tables.items()]
