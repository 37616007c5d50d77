"""Write the example CDS Hooks requests of this folder from the example patients.

The patients are described in `cds/examples/patients.py` (the fixture shorthand of
`cds.authoring.synth`, every time relative); here each becomes a complete, ready-to-send request
dated relative to the pinned moment `NOW`. To date one relative to today, use
`cds example NAME`.

    python fhir_examples/generate.py            # rewrite the JSON files (pinned NOW)
    python fhir_examples/generate.py --cards    # print the cards each example produces

The expected cards are listed in README.md; tests/pack/test_examples.py posts every file to
the service with its clock set to NOW and compares.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cds.examples.patients import EXAMPLES, NOW, request_for

HERE = Path(__file__).resolve().parent

__all__ = ["EXAMPLES", "NOW", "main", "request_for"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", action="store_true", help="print the cards, write nothing")
    args = parser.parse_args(argv)
    if args.cards:
        from cds.authoring.check import load_pack
        from cds.fhir.collect import collect
        from cds.pipeline import Evaluator

        evaluator = Evaluator(load_pack(HERE.parent / "rules"))
        for name, example in EXAMPLES.items():
            request = request_for(name, NOW)
            data = collect(request["prefetch"], request["context"], example.hook,
                           example.service)
            cards = evaluator.evaluate(data, NOW).cards
            shown = "; ".join(f"{c.extension['org.stresspain.cds']['rule']}:{c.indicator}"
                              for c in cards) or "none"
            sys.stdout.write(f"{name}.json | {example.hook} | {shown}\n")
            for c in cards:
                sys.stdout.write(f"    {c.summary}\n")
        return 0
    for name in EXAMPLES:
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(request_for(name, NOW), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
