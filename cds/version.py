"""What `cds --version` prints: the installed package and the rule pack it serves."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import yaml

from cds.packyaml import parse

DISTRIBUTION = "stress-pain-cds"


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source checkout that was not installed
        return "(not installed)"


def pack_version(rules_dir: Path) -> str:
    """`name version` from the pack's pack.yaml, or why there is none."""
    try:
        meta = parse((rules_dir / "pack.yaml").read_text(encoding="utf-8"))
    except OSError:
        return f"none: no readable pack.yaml in {rules_dir}"
    except yaml.YAMLError:
        return f"unreadable: {rules_dir / 'pack.yaml'} is not valid YAML"
    if not isinstance(meta, dict):
        return f"unreadable: {rules_dir / 'pack.yaml'} is not a mapping"
    return f"{meta.get('name', '?')} {meta.get('version', '?')}"


def version_text(rules_dir: Path) -> str:
    return f"{DISTRIBUTION} {package_version()}\nrule pack {pack_version(rules_dir)} ({rules_dir})"
