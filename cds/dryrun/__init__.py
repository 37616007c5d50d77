"""Population dry-run: every service of a rule pack run on every patient of a FHIR Bulk Data
export, through the same collect -> evaluate pipeline the HTTP route uses, summarised for a
governance committee (alert burden per rule, cards per chart opening, overlaps between rules,
unresolved codes, data notes, and what a change of the pack does).

    bulk.py       reading NDJSON export files (plain or gzip), one resource per line
    split.py      pass 1: resources into partition files by a hash of their patient
    searchset.py  a patient's resources answering the service's prefetch queries
    openings.py   one patient's chart openings and order checks, evaluated
    partition.py  pass 2: one partition evaluated into result files (the unit of work)
    execute.py    running both passes on local processes or a Dask cluster, resumably
    tables.py     result files -> the committee's tables (Parquet and CSV)
    report.py     the self-contained HTML report
    export.py     FHIR Bulk Data `$export` client (kick-off, poll, download)
"""

from cds.errors import CDSError


class DryRunError(CDSError):
    """A dry-run that cannot start or go on: bad input, a different run in --out, a failed
    export. The command prints the message and exits with status 2."""

    reason = "dryrun-error"
