"""Parse rules/measures.yaml (format in that file's header) into `MeasureDef`s."""

from __future__ import annotations

from typing import Any

from cds.facts.codes import Code, parse_code
from cds.facts.packdefs import ComputeDef, MeasureDef, TrendDef
from cds.facts.yamlfile import YamlFile
from cds.suggest import unknown

_MEASURE_KEYS = {"title", "codes", "unit", "units", "unitless", "range", "lookback_days",
                 "trend", "mean_nights", "compute", "mark", "source", "note"}
_TREND_KEYS = {"window_days", "n", "min_spacing_days", "worsening", "improving", "chronic"}
_COMPUTE_KINDS = {"product", "cockcroft_gault"}


def parse_codes(doc: YamlFile, node: Any, key: str, local: str,
                *, required: bool = True) -> tuple[Code, ...]:
    out: list[Code] = []
    seq = doc.sequence(node, key, required=required)
    for i, item in enumerate(seq):
        if not isinstance(item, str):
            doc.fail(seq, i, "a code must be written as system#code, e.g. loinc#72514-3")
        try:
            out.append(parse_code(item, local))
        except ValueError as exc:
            doc.fail(seq, i, str(exc))
    return tuple(out)


def _trend(doc: YamlFile, node: Any, base: TrendDef | None) -> TrendDef:
    doc.only(node, _TREND_KEYS, "trend")
    worsening = doc.mapping(node, "worsening", required=base is None)
    improving = doc.mapping(node, "improving", required=base is None)
    chronic = doc.mapping(node, "chronic", required=base is None)

    def num(where: Any, key: str, inherited: float | None) -> float:
        value = doc.number(where, key, required=inherited is None, default=inherited)
        assert value is not None
        if value < 0:
            doc.fail(where, key, f"'{key}' must not be negative")
        return value

    n = num(node, "n", base.n if base else None)
    if n < 2 or n != int(n):
        doc.fail(node, "n", "'n' must be a whole number of at least 2")
    trend = TrendDef(
        window_days=num(node, "window_days", base.window_days if base else None),
        n=int(n),
        min_spacing_days=num(node, "min_spacing_days", base.min_spacing_days if base else None),
        worsening_min_delta=num(worsening, "min_delta",
                                base.worsening_min_delta if base else None),
        worsening_min_pct=num(worsening, "min_pct", base.worsening_min_pct if base else None),
        improving_max_ratio=num(improving, "max_ratio",
                                base.improving_max_ratio if base else None),
        chronic_min_value=num(chronic, "min_value", base.chronic_min_value if base else None),
        chronic_min_span_days=num(chronic, "min_span_days",
                                  base.chronic_min_span_days if base else None),
    )
    if not 0 < trend.improving_max_ratio < 1:
        doc.fail(improving, "max_ratio", "'max_ratio' must be between 0 and 1")
    return trend


def _units(doc: YamlFile, node: Any, unit: str) -> dict[str, float]:
    units: dict[str, float] = {unit.lower(): 1.0}
    raw = doc.mapping(node, "units", required=False)
    for name, factor in doc.items(raw):
        value = doc.to_number(factor, raw, name)
        if value <= 0:
            doc.fail(raw, name, f"unit factor for '{name}' must be positive")
        units[name.strip().lower()] = value
    return units


def _compute(doc: YamlFile, node: Any) -> ComputeDef:
    kinds = [k for k in node if k in _COMPUTE_KINDS]
    if len(kinds) != 1:
        doc.fail(node, None, f"'compute' needs exactly one of: {', '.join(sorted(_COMPUTE_KINDS))}")
    kind = str(kinds[0])
    doc.only(node, {kind, "surrogate"}, "compute")
    surrogate = doc.text(node, "surrogate", required=False) or None
    if kind == "product":
        seq = doc.sequence(node, "product")
        if len(seq) != 2 or not all(isinstance(s, str) for s in seq):
            doc.fail(node, "product", "'product' must list two measure ids")
        return ComputeDef("product", tuple(seq), surrogate=surrogate)
    cg = doc.mapping(node, "cockcroft_gault")
    doc.only(cg, {"creatinine", "weight", "weight_within_days"}, "cockcroft_gault")
    within = doc.number(cg, "weight_within_days")
    assert within is not None
    return ComputeDef("cockcroft_gault", (doc.text(cg, "creatinine"), doc.text(cg, "weight")),
                      within_days=within, surrogate=surrogate)


def _measure(doc: YamlFile, mid: str, node: Any, local: str,
             defaults: TrendDef) -> MeasureDef:
    if not isinstance(node, dict):
        doc.fail(node, None, f"measure '{mid}' must be a mapping")
    doc.only(node, _MEASURE_KEYS, f"measure '{mid}'")
    unit = doc.text(node, "unit")
    rng = doc.sequence(node, "range")
    if len(rng) != 2:
        doc.fail(node, "range", "'range' must be [low, high]")
    low, high = (doc.to_number(v, rng, i) for i, v in enumerate(rng))
    if low > high:
        doc.fail(node, "range", "'range' low is above high")
    trend_node = node.get("trend")
    trend: TrendDef | None = None
    if trend_node is True:
        trend = defaults
    elif isinstance(trend_node, dict):
        trend = _trend(doc, trend_node, defaults)
    elif trend_node not in (None, False):
        doc.fail(node, "trend", "'trend' must be true, false or a mapping of overrides")
    nights = doc.number(node, "mean_nights", required=False)
    if nights is not None and (nights < 1 or nights != int(nights)):
        doc.fail(node, "mean_nights", "'mean_nights' must be a whole number >= 1")
    compute = _compute(doc, doc.mapping(node, "compute")) if "compute" in node else None
    codes = parse_codes(doc, node, "codes", local, required=compute is None)
    unitless = node.get("unitless", False)
    if not isinstance(unitless, bool):
        doc.fail(node, "unitless", "'unitless' must be true or false")
    return MeasureDef(
        id=mid,
        title=doc.text(node, "title"),
        codes=codes,
        unit=unit,
        units=_units(doc, node, unit),
        unitless=unitless,
        low=low,
        high=high,
        lookback_days=doc.number(node, "lookback_days", required=False),
        trend=trend,
        mean_nights=int(nights) if nights is not None else None,
        compute=compute,
    )


def parse_measures(doc: YamlFile, local: str) -> dict[str, MeasureDef]:
    root = doc.root
    if not isinstance(root, dict):
        doc.fail(root, None, "measures.yaml must be a mapping")
    doc.only(root, {"trend_defaults", "measures"}, "measures.yaml")
    defaults = _trend(doc, doc.mapping(root, "trend_defaults"), None)
    measures: dict[str, MeasureDef] = {}
    node = doc.mapping(root, "measures")
    for mid, spec in doc.items(node):
        measures[mid] = _measure(doc, mid, spec, local, defaults)
    for mid, m in measures.items():
        refs = list(m.compute.inputs) if m.compute else []
        if m.compute and m.compute.surrogate:
            refs.append(m.compute.surrogate)
        for ref in refs:
            if ref not in measures or ref == mid:
                doc.fail(node, mid, f"measure '{mid}' computes from "
                         + unknown("measure", ref, measures))
    return measures
