"""QuestionnaireResponse -> readings: recognise the instrument, score it from the items.

Recognition, first that applies (clinical-content §1.2): the `questionnaire` canonical with
any |version stripped; the code of the referenced Questionnaire when that resource is in the
data; else the instrument whose items the response answers most (ties: fewer items wins).

An answer is scored from its coding's ordinalValue/itemWeight extension, else from the answer
code table (LA6568-5 = 0 ...), else valueInteger / valueDecimal; never from display text.
A response missing a required item gets no total (DataNote "incomplete-questionnaire"), but
answered items that are measures themselves (PHQ-9 item 9) are still reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds.facts.access import Ctx, code_keys, number
from cds.facts.packdefs import InstrumentDef
from cds.facts.readings import Reading, coding_score, readings_for

COMPLETED = frozenset({"completed", "amended"})
_UNSCORED = -1.0e9  # answered, but with nothing we may score


def _keys(item: dict[str, Any], aliases: Mapping[str, str]) -> list[str]:
    link = item.get("linkId")
    if isinstance(link, str):
        key = link.lstrip("/")
        keys = [aliases.get(key, key)]
    else:
        keys = []
    if "definition" not in item and "code" not in item:
        return keys
    definition = item.get("definition")
    if isinstance(definition, str) and "#" in definition:
        keys.append(definition.rpartition("#")[2])
    codes = item.get("code")  # not R4, but some systems send it
    if isinstance(codes, list):
        keys.extend(code for _, code in code_keys({"coding": codes}))
    return keys


def _answer(answer: Any, ctx: Ctx) -> float:
    if not isinstance(answer, dict):
        return _UNSCORED
    coding = answer.get("valueCoding")
    if isinstance(coding, dict):
        score = coding_score(coding, ctx)
        return _UNSCORED if score is None else score
    for key in ("valueInteger", "valueDecimal"):
        if key in answer:
            value = number(answer[key])
            return _UNSCORED if value is None else value
    return _UNSCORED


def _collect(items: Any, ctx: Ctx, out: dict[str, float]) -> None:
    if not isinstance(items, list):
        return
    aliases = ctx.config.link_aliases
    for item in items:
        if not isinstance(item, dict):
            continue
        answers = item.get("answer")
        if isinstance(answers, list) and answers:
            value = _answer(answers[0], ctx)
            for key in _keys(item, aliases):
                out.setdefault(key, value)
            for answer in answers:
                if isinstance(answer, dict) and "item" in answer:
                    _collect(answer["item"], ctx, out)
        if "item" in item:
            _collect(item["item"], ctx, out)


def _identify(qr: dict[str, Any], answers: dict[str, float], ctx: Ctx,
              questionnaires: dict[str, dict[str, Any]]) -> InstrumentDef | None:
    config = ctx.config
    canonical = qr.get("questionnaire")
    if isinstance(canonical, str):
        canonical = canonical.split("|", 1)[0]
        iid = config.canonical_index.get(canonical)
        if iid is None and canonical in questionnaires:
            for key in code_keys(questionnaires[canonical].get("code")):
                iid = iid or config.questionnaire_code_index.get(key)
        if iid is not None:
            return config.instruments[iid]
    answered = answers.keys()
    best: tuple[int, int] = (0, 0)
    found: InstrumentDef | None = None
    for inst in config.instruments.values():
        overlap = len(inst.keys & answered)
        rank = (overlap, -len(inst.items))
        if overlap >= min(2, len(inst.items)) and rank > best:
            best, found = rank, inst
    return found


def _score(inst: InstrumentDef, answers: dict[str, float], primary: bool, ctx: Ctx,
           ref: str) -> float | None:
    values: list[float] = []
    missing = 0
    low, high = inst.item_low, inst.item_high
    for item in inst.items:
        value = answers.get(item.key)
        if value is None or value == _UNSCORED:
            missing += 1
            continue
        if not low <= value <= high:
            if primary:
                ctx.note("unusable-value", f"{inst.title} item {item.key}: answer {value:g} is "
                         f"outside {inst.item_low:g}-{inst.item_high:g}", ref)
            missing += 1
            continue
        values.append(inst.reverse_from - value if item.reverse else value)
    if missing:
        if primary:
            ctx.note("incomplete-questionnaire", f"{inst.title}: {missing} of {len(inst.items)} "
                     "items unanswered or unscorable; no total", ref)
        return None
    if inst.score == "mean":
        return sum(values) / len(values)
    return sum(values)


def questionnaire_response(qr: dict[str, Any], ctx: Ctx, ref: str,
                           questionnaires: dict[str, dict[str, Any]]) -> list[Reading]:
    if qr.get("status") not in COMPLETED:
        return []
    answers: dict[str, float] = {}
    _collect(qr.get("item"), ctx, answers)
    inst = _identify(qr, answers, ctx, questionnaires)
    if inst is None:
        return []
    if "authored" not in qr:
        ctx.note("invalid-resource", "the QuestionnaireResponse has no authored date; skipped",
                 ref)
        return []
    when = ctx.when(qr["authored"], ref, "authored")
    if when is None:
        return []
    if _UNSCORED in answers.values():
        ctx.note("unusable-value", f"{inst.title}: an answer has no ordinal value or known "
                 "answer code and was not scored", ref)
    config = ctx.config
    out: list[Reading] = []
    for target in config.scored_with[inst.id]:
        score = _score(target, answers, target is inst, ctx, ref)
        if score is not None:
            out.extend(readings_for(ctx, target.total, score, None, when, ref, "questionnaire"))
    measured = config.measured_items
    for key, value in answers.items():
        code = measured.get(key)
        if code is None or value == _UNSCORED:
            continue
        if key in inst.keys and not inst.item_low <= value <= inst.item_high:
            continue  # already noted while scoring
        out.extend(readings_for(ctx, code, value, None, when, ref, "questionnaire"))
    return out
