"""The example patients of fhir_examples/, in the fixture shorthand of `cds.authoring.synth`.

Every time is relative (`days_ago`), so one example can be dated at any moment:
`request_for(name, now)` is the complete CDS Hooks request (context, draft orders for order
hooks, every prefetch key of the service in rules/services.yaml) as it would be sent at
`now`. `cds example NAME` prints it for the real clock; fhir_examples/generate.py writes the
JSON files of fhir_examples/ at the pinned moment `NOW`, which the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds.authoring.synth import build_request

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SERVICES = {
    "patient-view": "stress-pain-patient-view",
    "order-select": "stress-pain-order-select",
    "order-sign": "stress-pain-order-sign",
}


@dataclass(frozen=True)
class Example:
    hook: str
    about: str  # one line for `cds example --list`
    given: dict[str, Any]  # the patient, in the fixture shorthand

    @property
    def service(self) -> str:
        return SERVICES[self.hook]


# Recent, unremarkable mood and anxiety screens: keep the screening rule (R15) quiet in
# examples that are about something else.
SCREENED = [
    {"code": "44261-6", "value": 4, "days_ago": 20},
    {"code": "70274-6", "value": 3, "days_ago": 20},
]
DULOXETINE_30 = {"rxnorm": "596930", "display": "duloxetine 30 MG Delayed Release Oral Capsule",
                 "dose_mg": 30, "times_per_day": 1}
OXYCODONE_10 = {"rxnorm": "1049683", "display": "oxycodone hydrochloride 10 MG Oral Tablet",
                "dose_mg": 10, "times_per_day": 4}

EXAMPLES: dict[str, Example] = {
    "r01-phq9-item9-positive": Example(
        "patient-view", "PHQ-9 item 9 = 2 yesterday: the suicide-risk response first", {
        "patient": {"age": 34, "sex": "female"},
        "questionnaires": [
            {"instrument": "phq9", "answers": [1, 2, 1, 1, 0, 2, 1, 0, 2], "days_ago": 1},
        ],
        "observations": [{"code": "70274-6", "value": 6, "days_ago": 1}],
    }),
    "r02-depression-with-pain": Example(
        "patient-view", "pain 6/10 with PHQ-9 12 and GAD-7 8: pain psychology referral", {
        "patient": {"age": 47, "sex": "male"},
        "observations": [
            {"code": "72514-3", "value": 6, "days_ago": 4},
            {"code": "44261-6", "value": 12, "days_ago": 4},
            {"code": "70274-6", "value": 8, "days_ago": 4},
        ],
    }),
    "r03-insomnia-on-zolpidem": Example(
        "patient-view", "ISI 19 on zolpidem for five months: CBT-I first, a taper plan", {
        "patient": {"age": 58, "sex": "female"},
        "observations": [{"code": "isi-total", "system": "local", "value": 19, "days_ago": 12},
                         *SCREENED],
        "conditions": [{"code": "193462001", "system": "snomed", "days_ago": 300}],
        "medications": [{"rxnorm": "854873", "display": "zolpidem tartrate 10 MG Oral Tablet",
                         "dose_mg": 10, "times_per_day": 1, "days_ago": 150}],
    }),
    "r04-pain-sleep-stress": Example(
        "patient-view", "pain 8/10, PSQI 11 and PSS-10 29: multidisciplinary pain programme", {
        "patient": {"age": 52, "sex": "female"},
        "observations": [
            {"code": "72514-3", "value": 8, "days_ago": 6},
            {"code": "psqi-global", "system": "local", "value": 11, "days_ago": 20},
            {"code": "106860-0", "value": 29, "days_ago": 20},
            *SCREENED,
        ],
    }),
    "r05-low-activity-chronic-pain": Example(
        "patient-view", "chronic pain, 60 min/week of activity: graded exercise", {
        "patient": {"age": 61, "sex": "male"},
        "conditions": [{"code": "82423001", "system": "snomed", "days_ago": 500}],
        "observations": [
            {"code": "72514-3", "value": 5, "days_ago": 8},
            {"code": "82290-8", "value": 60, "days_ago": 30},
            *SCREENED,
        ],
    }),
    "r06-lifestyle-support": Example(
        "patient-view", "fibromyalgia, PSS-10 28, BMI 33.4: mindfulness, dietitian, support", {
        "patient": {"age": 44, "sex": "female"},
        "conditions": [{"code": "203082005", "system": "snomed", "days_ago": 700}],
        "observations": [
            {"code": "106860-0", "value": 28, "days_ago": 15},
            {"code": "39156-5", "value": 33.4, "days_ago": 60},
            {"code": "82290-8", "value": 180, "days_ago": 30},
            *SCREENED,
        ],
    }),
    "r07-duloxetine-titration": Example(
        "patient-view", "duloxetine 30 mg for six weeks, PEG -10%: step to 60 mg", {
        "patient": {"age": 56, "sex": "female"},
        "observations": [
            {"code": "91147-9", "value": 7, "days_ago": 48},
            {"code": "91147-9", "value": 6.3, "days_ago": 3},
            {"code": "2160-0", "value": 0.9, "days_ago": 40},
            {"code": "29463-7", "value": 72, "days_ago": 40},
            *SCREENED,
        ],
        "medications": [{**DULOXETINE_30, "days_ago": 42}],
    }),
    "r08-gabapentin-renal-order": Example(
        "order-sign", "signing gabapentin 1800 mg/day at 72, CrCl 39: renal maximum", {
        "patient": {"age": 72, "sex": "male"},
        "observations": [
            {"code": "2160-0", "value": 1.9, "days_ago": 20},
            {"code": "29463-7", "value": 78, "days_ago": 20},
        ],
        "medications": [{"rxnorm": "310433", "display": "gabapentin 600 MG Oral Tablet",
                         "dose_mg": 600, "times_per_day": 3, "draft": True}],
    }),
    "r09-amitriptyline-order-item9": Example(
        "order-sign", "signing amitriptyline after PHQ-9 item 9 = 1: overdose risk", {
        "patient": {"age": 33, "sex": "female"},
        "observations": [{"code": "44260-8", "value": 1, "days_ago": 2}],
        "medications": [{"rxnorm": "856783",
                         "display": "amitriptyline hydrochloride 10 MG Oral Tablet",
                         "dose_mg": 10, "times_per_day": 1, "draft": True}],
    }),
    "r10-pregabalin-with-opioid": Example(
        "order-sign", "signing pregabalin for a patient on oxycodone 20 mg/day", {
        "patient": {"age": 55, "sex": "male"},
        "medications": [
            {"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet",
             "dose_mg": 5, "times_per_day": 4, "days_ago": 90},
            {"rxnorm": "483450", "display": "pregabalin 75 MG Oral Capsule", "dose_mg": 75,
             "times_per_day": 2, "draft": True},
        ],
    }),
    "r11-benzodiazepine-with-opioid": Example(
        "order-sign", "signing alprazolam for a patient on oxycodone 40 mg/day", {
        "patient": {"age": 49, "sex": "female"},
        "medications": [
            {**OXYCODONE_10, "days_ago": 120},
            {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
             "times_per_day": 2, "draft": True},
        ],
    }),
    "r12-tramadol-with-sertraline": Example(
        "order-sign", "signing tramadol on sertraline: serotonin syndrome risk", {
        "patient": {"age": 41, "sex": "female"},
        "medications": [
            {"rxnorm": "312941", "display": "sertraline 50 MG Oral Tablet", "dose_mg": 50,
             "times_per_day": 1, "days_ago": 200},
            {"rxnorm": "835603", "display": "tramadol hydrochloride 50 MG Oral Tablet",
             "dose_mg": 50, "times_per_day": 3, "draft": True},
        ],
    }),
    "r13a-opioid-dose-90-mme": Example(
        "order-select", "selecting oxycodone on top of morphine ER: 90 MME/day", {
        "patient": {"age": 63, "sex": "male"},
        "medications": [
            {"rxnorm": "891893", "display": "morphine sulfate 60 MG Extended Release Oral Tablet",
             "dose_mg": 30, "times_per_day": 2, "days_ago": 180},
            {"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet",
             "dose_mg": 5, "times_per_day": 4, "draft": True},
        ],
    }),
    "r13b-opioid-for-fibromyalgia": Example(
        "order-sign", "signing new oxycodone when fibromyalgia is the only pain", {
        "patient": {"age": 38, "sex": "female"},
        "conditions": [{"code": "203082005", "system": "snomed", "days_ago": 400}],
        "medications": [{"rxnorm": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet",
                         "dose_mg": 5, "times_per_day": 2, "draft": True}],
    }),
    "r14-stale-data-on-duloxetine": Example(
        "patient-view", "on duloxetine for a year, last PEG 150 days ago: monitoring", {
        "patient": {"age": 45, "sex": "male"},
        "conditions": [{"code": "82423001", "system": "snomed", "display": "Chronic pain",
                        "days_ago": 500}],
        "observations": [
            {"code": "91147-9", "value": 6, "days_ago": 150},
            {"code": "44261-6", "value": 7, "days_ago": 200},
            {"code": "70274-6", "value": 4, "days_ago": 40},
            {"code": "82290-8", "value": 180, "days_ago": 30},
        ],
        "medications": [{"rxnorm": "596934",
                         "display": "duloxetine 60 MG Delayed Release Oral Capsule",
                         "dose_mg": 60, "times_per_day": 1, "days_ago": 365,
                         "dispensed_days_ago": 20}],
    }),
    "r15-screening-due": Example(
        "patient-view", "chronic pain, no PHQ-9 or GAD-7 on record: screening due", {
        "patient": {"age": 40, "sex": "male"},
        "conditions": [{"code": "82423001", "system": "snomed", "days_ago": 800}],
        "observations": [{"code": "82290-8", "value": 210, "days_ago": 25}],
    }),
    # ---- Pack 2.0: safety at the moment of prescribing
    "r01-duloxetine-order-after-item9": Example(
        "order-sign", "signing duloxetine at 23, PHQ-9 item 9 = 1 yesterday", {
        "patient": {"age": 23, "sex": "female"},
        "observations": [{"code": "44260-8", "value": 1, "days_ago": 1},
                         {"code": "70274-6", "value": 6, "days_ago": 1}],
        "medications": [{**DULOXETINE_30, "draft": True}],
    }),
    "r12-linezolid-with-sertraline": Example(
        "order-sign", "signing linezolid on sertraline: contraindicated", {
        "patient": {"age": 60, "sex": "male"},
        "observations": [*SCREENED],
        "medications": [
            {"rxnorm": "312941", "display": "sertraline 50 MG Oral Tablet", "dose_mg": 50,
             "times_per_day": 1, "days_ago": 200, "dispensed_days_ago": 20},
            {"rxnorm": "190376", "display": "linezolid", "dose_mg": 600, "times_per_day": 2,
             "draft": True},
        ],
    }),
    "r13b-opioid-for-acute-fracture": Example(
        "order-sign", "oxycodone for an acute fracture in fibromyalgia: no card", {
        "patient": {"age": 45, "sex": "female"},
        "conditions": [{"code": "203082005", "system": "snomed", "display": "Fibromyalgia",
                        "days_ago": 400}],
        "observations": [*SCREENED],
        "medications": [{"rxnorm": "1049621",
                         "display": "oxycodone hydrochloride 5 MG Oral Tablet",
                         "dose_mg": 5, "times_per_day": 4, "draft": True,
                         "reason": ["S52.501A"], "reason_system": "icd10cm"}],
    }),
    "r13c-opioid-order-with-sleep-apnoea": Example(
        "order-sign", "signing oxycodone with obstructive sleep apnoea", {
        "patient": {"age": 52, "sex": "male"},
        "conditions": [{"code": "G47.33", "system": "icd10cm",
                        "display": "Obstructive sleep apnea (adult) (pediatric)",
                        "days_ago": 300}],
        "observations": [*SCREENED],
        "medications": [{**OXYCODONE_10, "times_per_day": 2, "draft": True}],
    }),
    "r16-oxycodone-order-in-pregnancy": Example(
        "order-sign", "signing oxycodone in the first trimester of pregnancy", {
        "patient": {"age": 29, "sex": "female"},
        "conditions": [{"code": "Z34.01", "system": "icd10cm",
                        "display": "Encounter for supervision of normal first pregnancy, "
                                   "first trimester", "days_ago": 20}],
        "observations": [*SCREENED],
        "medications": [{"rxnorm": "1049621",
                         "display": "oxycodone hydrochloride 5 MG Oral Tablet",
                         "dose_mg": 5, "times_per_day": 4, "draft": True}],
    }),
    # ---- Coded the way real EHRs code: brand, extended-release and combination products,
    # doses in tablets ({pill}, as the CDS Hooks sandbox sends them), ICD-10-CM problems.
    "ehr-oxycontin-order-on-xanax-neurontin": Example(
        "order-sign", "OxyContin on Xanax and Neurontin, doses in {pill}", {
        "patient": {"age": 58, "sex": "female"},
        "conditions": [{"code": "G89.29", "system": "icd10cm", "display": "Other chronic pain",
                        "days_ago": 400}],
        "observations": [*SCREENED],
        "medications": [
            {"rxnorm": "141928", "display": "alprazolam 0.5 MG Oral Tablet [Xanax]", "dose": 1,
             "dose_unit": "{pill}", "times_per_day": 2, "days_ago": 120},
            {"rxnorm": "105029", "display": "gabapentin 300 MG Oral Capsule [Neurontin]",
             "dose": 1, "dose_unit": "{pill}", "times_per_day": 3, "days_ago": 120},
            {"rxnorm": "1049504", "display": "Abuse-Deterrent 12 HR oxycodone hydrochloride "
             "10 MG Extended Release Oral Tablet [OxyContin]", "dose": 1, "dose_unit": "{pill}",
             "times_per_day": 2, "draft": True},
        ],
    }),
    "ehr-morphine-tablets-order-select": Example(
        "order-select", "selecting morphine 30 mg, 2 {pill} 3 times daily", {
        "patient": {"age": 63, "sex": "male"},
        "conditions": [{"code": "M54.50", "system": "icd10cm",
                        "display": "Low back pain, unspecified", "days_ago": 500}],
        "observations": [*SCREENED],
        "medications": [
            {"rxnorm": "1725059", "display": "naloxone hydrochloride 40 MG/ML Nasal Spray",
             "dose": 1, "dose_unit": "{spray}", "as_needed": True, "days_ago": 200},
            {"rxnorm": "892672", "display": "morphine sulfate 30 MG Oral Tablet", "dose": 2,
             "dose_unit": "{pill}", "times_per_day": 3, "draft": True},
        ],
    }),
    "ehr-unknown-product-order": Example(
        "order-sign", "signing a formulary oxycodone product the pack does not know", {
        "patient": {"age": 45, "sex": "male"},
        "observations": [*SCREENED],
        "medications": [
            {"rxnorm": "312941", "display": "sertraline 50 MG Oral Tablet", "dose": 1,
             "dose_unit": "{pill}", "times_per_day": 1, "days_ago": 60},
            {"rxnorm": "999999901", "display": "Oxycodone HCl 10 mg tablet (hospital formulary)",
             "dose": 1, "dose_unit": "{pill}", "times_per_day": 2, "draft": True},
        ],
    }),
    "ehr-unknown-lisinopril-order": Example(
        "order-sign", "signing a lisinopril product the pack does not know", {
        "patient": {"age": 58, "sex": "female"},
        "observations": [*SCREENED],
        "medications": [
            {"rxnorm": "999999905", "display": "Lisinopril 10 mg tablet (hospital formulary)",
             "dose": 1, "dose_unit": "{pill}", "times_per_day": 1, "draft": True},
        ],
    }),
    # The CDS Hooks sandbox calls order-select before a medication is chosen: no selection,
    # an empty draftOrders Bundle. A patient whose record gives cards on patient-view.
    "ehr-order-select-nothing-chosen": Example(
        "order-select", "order-select before a medication is chosen: no cards", {
        "patient": {"age": 49, "sex": "female"},
        "observations": [*SCREENED],
        "medications": [
            {**OXYCODONE_10, "days_ago": 120},
            {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
             "times_per_day": 2, "days_ago": 120},
        ],
    }),
    "well-patient": Example(
        "patient-view", "low pain, normal PHQ-9, GAD-7 and BMI: no cards", {
        "patient": {"age": 39, "sex": "female"},
        "observations": [
            {"code": "72514-3", "value": 1, "days_ago": 10},
            {"code": "44261-6", "value": 2, "days_ago": 10},
            {"code": "70274-6", "value": 1, "days_ago": 10},
            {"code": "39156-5", "value": 23.5, "days_ago": 10},
        ],
    }),
    "complex-patient": Example(
        "patient-view", "67, fibromyalgia, opioid + benzodiazepine + gabapentin: four cards", {
        "patient": {"age": 67, "sex": "female"},
        "conditions": [{"code": "203082005", "system": "snomed", "days_ago": 900}],
        "observations": [
            {"code": "72514-3", "value": 6, "days_ago": 70},
            {"code": "72514-3", "value": 7, "days_ago": 40},
            {"code": "72514-3", "value": 8, "days_ago": 5},
            {"code": "44261-6", "value": 16, "days_ago": 5},
            {"code": "70274-6", "value": 11, "days_ago": 5},
            {"code": "psqi-global", "system": "local", "value": 12, "days_ago": 20},
            {"code": "106860-0", "value": 29, "days_ago": 20},
            {"code": "39156-5", "value": 34.2, "days_ago": 90},
        ],
        "medications": [
            {**OXYCODONE_10, "days_ago": 200},
            {"rxnorm": "308048", "display": "alprazolam 0.5 MG Oral Tablet", "dose_mg": 0.5,
             "times_per_day": 2, "days_ago": 200},
            {"rxnorm": "310431", "display": "gabapentin 300 MG Oral Capsule", "dose_mg": 300,
             "times_per_day": 3, "days_ago": 200},
        ],
    }),
}


def request_for(name: str, now: datetime) -> dict[str, Any]:
    """The request of example `name` (a key of EXAMPLES) dated relative to `now`."""
    example = EXAMPLES[name]
    return build_request(example.given, now, example.hook, example.service, patient_id=name)
