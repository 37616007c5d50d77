"""Seeded synthetic populations written as FHIR Bulk Data exports, for dry-run tests,
benchmarks and demonstrations (`cds population generate`).

    profile.yaml  prevalences with their sources (approximate), medicines, codes
    profile.py    the profile, with codes from the pack's value sets and product table
    patient.py    one patient, in the fixture shorthand of cds/authoring/synth.py
    writer.py     the export files
"""
