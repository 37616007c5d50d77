"""rules/measures.yaml (format in that file's header, model `MeasuresFile`) as `MeasureDef`s."""

from __future__ import annotations

from cds.facts.factfiles import FactsFile, FactsReader
from cds.facts.formats import TREND_LEAVES, Measure, MeasuresFile, TrendOverrides, trend_leaf
from cds.facts.packdefs import ComputeDef, MeasureDef, TrendDef
from cds.suggest import unknown


def _trend(spec: TrendOverrides, base: TrendDef | None) -> TrendDef:
    """`spec` over `base` (`spec` is trend_defaults, complete by its model, without one)."""
    given = {f"{name}_{key}" if key else name: trend_leaf(spec, name, key)
             for name, key in TREND_LEAVES}
    if base is not None:
        given = {key: getattr(base, key) if value is None else value
                 for key, value in given.items()}
    return TrendDef(**given)


def _compute(spec: Measure) -> ComputeDef | None:
    compute = spec.compute
    if compute is None:
        return None
    if compute.product is not None:
        return ComputeDef("product", tuple(compute.product), surrogate=compute.surrogate)
    cg = compute.cockcroft_gault
    assert cg is not None  # the model requires one of the two
    return ComputeDef("cockcroft_gault", (cg.creatinine, cg.weight),
                      within_days=cg.weight_within_days, surrogate=compute.surrogate)


def _measure(reader: FactsReader, file: FactsFile[MeasuresFile], mid: str, spec: Measure,
             defaults: TrendDef) -> MeasureDef:
    trend = spec.trend
    units = {spec.unit.lower(): 1.0}
    units.update((name.strip().lower(), factor) for name, factor in (spec.units or {}).items())
    return MeasureDef(
        id=mid,
        title=spec.title,
        codes=reader.codes(file, ("measures", mid, "codes"), spec.codes),
        unit=spec.unit,
        units=units,
        unitless=bool(spec.unitless),
        low=spec.range[0],
        high=spec.range[1],
        lookback_days=spec.lookback_days,
        trend=defaults if trend is True else _trend(trend, defaults) if trend else None,
        mean_nights=spec.mean_nights,
        compute=_compute(spec),
    )


def measure_defs(reader: FactsReader, file: FactsFile[MeasuresFile]) -> dict[str, MeasureDef]:
    defaults = _trend(file.model.trend_defaults, None)
    measures = {mid: _measure(reader, file, mid, spec, defaults)
                for mid, spec in file.model.measures.items()}
    for mid, m in measures.items():
        refs = [*m.compute.inputs, *filter(None, [m.compute.surrogate])] if m.compute else []
        for ref in refs:
            if ref not in measures or ref == mid:
                reader.report(file, ("measures", mid), f"measure '{mid}' computes from "
                              + unknown("measure", ref, measures))
    return measures
