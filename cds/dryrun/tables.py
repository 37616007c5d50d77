"""The committee's tables, from the partitions' result files.

Partitions hold disjoint sets of patients, so every count - including counts of distinct
patients - is the sum of the partitions' counts: the result files are read one partition at a
time and the tables never need the whole population in memory. Rows are sorted, so the same
results give the same tables byte for byte, whichever executor produced them.

A card *carries* a rule when the rule is the card's own (`lead`) or was merged into it by the
card policy (`alsoFrom`: one card per clinical problem or bundle). A rule *fired* when it
matched, whether or not a card carrying it was shown (the budget holds some back).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cds.dryrun.split import part_name

INDICATORS = ("critical", "warning", "info")
DATA_QUALITY = "data-quality"
Key = tuple[str, ...]


@dataclass(frozen=True)
class RuleInfo:
    id: str
    title: str
    hooks: tuple[str, ...]


def per_1000(count: int, patients: int) -> float:
    return round(1000.0 * count / patients, 1) if patients else 0.0


@dataclass
class _Counts:
    """Counters filled partition by partition; `patients[...]` counts distinct patients."""

    openings: Counter[Key] = field(default_factory=Counter)
    patients: Counter[Key] = field(default_factory=Counter)
    cards: Counter[Key] = field(default_factory=Counter)


def read_results(folder: Path, partition: int, kind: str) -> list[dict[str, Any]]:
    """One partition's `openings` or `cards` rows of one pack."""
    path = folder / f"{part_name(partition)}.{kind}.parquet"
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


class Aggregator:
    """Counts of one pack's results, added one partition at a time."""

    def __init__(self) -> None:
        self.c = _Counts()

    def add(self, openings: list[dict[str, Any]], cards: list[dict[str, Any]]) -> None:
        c = self.c
        seen: dict[str, set[Key]] = defaultdict(set)  # this partition's patients per key
        for o in openings:
            hook, pid = o["hook"], o["patient"]
            c.openings[("opening", hook)] += 1
            c.openings[("cards", hook, str(o["cards"]))] += 1
            seen[pid].add(("opened", hook))
            fired = o["fired"]
            for i, rule in enumerate(fired):
                seen[pid].add(("fired", hook, rule))
                for other in fired[i:]:
                    c.openings[("pair", hook, rule, other)] += 1
                    seen[pid].add(("pair", hook, rule, other))
            for rule in o["shown"]:
                seen[pid].add(("shown", hook, rule))
            for rule in o["held_back"]:
                c.cards[("held_back", hook, rule)] += 1
            for kind, n in Counter(o["note_kinds"]).items():
                c.cards[("notes", hook, kind)] += n
                c.openings[("notes", hook, kind)] += 1
                seen[pid].add(("notes", hook, kind))
            for code in o["unresolved"]:
                c.openings[("unresolved", code)] += 1
                seen[pid].add(("unresolved", code))
            for key in o["cut_keys"]:
                c.openings[("cut", hook, key)] += 1
        for card in cards:
            hook, pid, lead = card["hook"], card["patient"], card["rule"]
            for rule in (lead, *card["also_from"]):
                c.cards[("card", hook, rule)] += 1
                c.cards[("lead" if rule == lead else "merged", hook, rule)] += 1
                c.cards[(card["indicator"], hook, rule)] += 1
                c.cards[("with_notes", hook, rule)] += card["data_notes"]
            c.cards[("suggestions", hook, lead)] += len(card["suggestions"])
            for label in card["suggestions"]:
                c.cards[("offer", hook, lead, label)] += 1
                seen[pid].add(("offer", hook, lead, label))
        for keys in seen.values():
            c.patients.update(keys)

    def hooks(self) -> list[str]:
        return sorted({k[1] for k in self.c.openings if k[0] == "opening"})

    # --- tables -------------------------------------------------------------------------

    def rules(self, rules: Sequence[RuleInfo], hooks: Sequence[str], patients: int
              ) -> list[dict[str, Any]]:
        c = self.c
        rows = []
        listed = [(hook, r.id, r.title) for hook in hooks for r in rules if hook in r.hooks]
        if any(k[0] == "card" and k[2] == DATA_QUALITY for k in c.cards):
            listed += [(hook, DATA_QUALITY, "Data not used (no rule fired)") for hook in hooks]
        for hook, rule, title in listed:
            carried = c.patients[("shown", hook, rule)]
            cards = c.cards[("card", hook, rule)]
            # the data-quality card is the engine's own: it "fires" when it is shown
            fired = carried if rule == DATA_QUALITY else c.patients[("fired", hook, rule)]
            rows.append({
                "hook": hook, "rule": rule, "title": title, "patients_fired": fired,
                "patients_with_card": carried,
                "patients_per_1000": per_1000(carried, patients),
                "cards": cards, "cards_per_1000": per_1000(cards, patients),
                "lead_cards": c.cards[("lead", hook, rule)],
                "merged_cards": c.cards[("merged", hook, rule)],
                "held_back": c.cards[("held_back", hook, rule)],
                **{ind: c.cards[(ind, hook, rule)] for ind in INDICATORS},
                "suggestions_offered": c.cards[("suggestions", hook, rule)],
                "cards_with_data_notes": c.cards[("with_notes", hook, rule)],
            })
        return rows

    def cards_per_opening(self) -> list[dict[str, Any]]:
        rows = []
        for hook in self.hooks():
            total = self.c.openings[("opening", hook)]
            counts = sorted((int(k[2]), n) for k, n in self.c.openings.items()
                            if k[0] == "cards" and k[1] == hook)
            for cards, n in counts:
                rows.append({"hook": hook, "cards": cards, "openings": n,
                             "share_percent": round(100.0 * n / total, 2)})
        return rows

    def openings(self, patients: int) -> list[dict[str, Any]]:
        return [{"hook": hook, "openings": self.c.openings[("opening", hook)],
                 "patients": self.c.patients[("opened", hook)],
                 "openings_per_1000": per_1000(self.c.openings[("opening", hook)], patients)}
                for hook in self.hooks()]

    def overlaps(self) -> list[dict[str, Any]]:
        return sorted(
            ({"hook": k[1], "rule_a": k[2], "rule_b": k[3], "openings": n,
              "patients": self.c.patients[k]}
             for k, n in self.c.openings.items() if k[0] == "pair"),
            key=lambda r: (r["hook"], r["rule_a"], r["rule_b"]))

    def unresolved(self) -> list[dict[str, Any]]:
        rows = []
        for k, n in self.c.openings.items():
            if k[0] == "unresolved":
                system, code, display = (k[1].split("|", 2) + ["", ""])[:3]
                rows.append({"system": system, "code": code, "display": display,
                             "openings": n, "patients": self.c.patients[k]})
        return sorted(rows, key=lambda r: (-r["openings"], r["system"], r["code"]))

    def data_notes(self) -> list[dict[str, Any]]:
        return sorted(
            ({"hook": k[1], "kind": k[2], "notes": n,
              "openings": self.c.openings[k], "patients": self.c.patients[k]}
             for k, n in self.c.cards.items() if k[0] == "notes"),
            key=lambda r: (r["hook"], -r["notes"], r["kind"]))

    def suggestions(self) -> list[dict[str, Any]]:
        return sorted(
            ({"hook": k[1], "rule": k[2], "suggestion": k[3], "offered": n,
              "patients": self.c.patients[k]}
             for k, n in self.c.cards.items() if k[0] == "offer"),
            key=lambda r: (r["hook"], r["rule"], -r["offered"], r["suggestion"]))

    def cut(self) -> list[dict[str, Any]]:
        return sorted(({"hook": k[1], "prefetch_key": k[2], "openings": n}
                       for k, n in self.c.openings.items() if k[0] == "cut"),
                      key=lambda r: (r["hook"], r["prefetch_key"]))


def compare_partition(base: list[dict[str, Any]], other: list[dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """Per call, the rules whose cards one pack shows and the other does not."""
    def shown(rows: Iterable[dict[str, Any]]) -> dict[Key, set[str]]:
        return {(r["patient"], r["hook"], r["opening"]): set(r["shown"]) for r in rows}

    before, after = shown(base), shown(other)
    changes = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key, set()), after.get(key, set())
        for rule in sorted(now - was):
            changes.append({"patient": key[0], "hook": key[1], "opening": key[2],
                            "rule": rule, "change": "gained"})
        for rule in sorted(was - now):
            changes.append({"patient": key[0], "hook": key[1], "opening": key[2],
                            "rule": rule, "change": "lost"})
    return changes


def compare_rules(changes: Iterable[dict[str, Any]], base: Aggregator, other: Aggregator,
                  patients: int) -> list[dict[str, Any]]:
    gained: dict[Key, set[str]] = defaultdict(set)
    lost: dict[Key, set[str]] = defaultdict(set)
    for ch in changes:
        (gained if ch["change"] == "gained" else lost)[(ch["hook"], ch["rule"])].add(ch["patient"])
    keys = {k[1:] for agg in (base, other) for k in agg.c.patients if k[0] == "shown"}
    rows = []
    for hook, rule in sorted(keys | gained.keys() | lost.keys()):
        a = base.c.patients[("shown", hook, rule)]
        b = other.c.patients[("shown", hook, rule)]
        rows.append({"hook": hook, "rule": rule, "patients_with_card": a,
                     "patients_with_card_compared": b,
                     "patients_gaining": len(gained[(hook, rule)]),
                     "patients_losing": len(lost[(hook, rule)]),
                     "change_per_1000": per_1000(b - a, patients)})
    return rows


def write_table(rows: list[dict[str, Any]], schema: pa.Schema, folder: Path, name: str) -> Path:
    """`name`.parquet and `name`.csv in `folder`."""
    table = pa.Table.from_pylist(rows, schema)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{name}.parquet")
    pacsv.write_csv(table, folder / f"{name}.csv")
    return folder / f"{name}.parquet"
