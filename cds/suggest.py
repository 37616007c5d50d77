"""What to write instead: the valid names, and the closest to a misspelt one.

Every "unknown ..." message about a rule pack (loader, facts files, `cds rules check`) ends
with the same parenthesis, e.g. `unknown operator 'ge' (did you mean 'gte'? valid: eq, ...)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SHOWN = 16  # longer lists are cut short with "…" (the guesses name the likely ones)


def hint(name: str, valid: Iterable[str], *, label: str = "valid") -> str:
    """`(did you mean 'x'? valid: a, b, …)`, the valid names in the order given."""
    names = list(dict.fromkeys(str(v) for v in valid))
    if not names:
        return f"({label}: none)"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    shown = ", ".join(names[:SHOWN]) + (f", … ({len(names)} in all)"
                                         if len(names) > SHOWN else "")
    if not close:
        return f"({label}: {shown})"
    return f"(did you mean '{close[0]}'? {label}: {shown})"


def unknown(kind: str, name: str, valid: Iterable[str], *, label: str = "valid") -> str:
    """`unknown <kind> '<name>' (did you mean ...? valid: ...)`."""
    return f"unknown {kind} '{name}' {hint(name, valid, label=label)}"
