"""Population dry-run benchmark: patients per second per worker on a seeded synthetic
population (`cds population generate`), and the speed-up from 1 to 2 worker processes.

    python -m bench.dryrun                         # 100,000 patients; scaling on 20,000
    python -m bench.dryrun --patients 20000 --scaling-patients 5000
    python -m bench.dryrun --smoke                 # 400 patients: checks the harness only

Targets: the whole population (100,000 patients of about 100 resources) in under 10 minutes
on a 2-core machine, and 2 workers at least 1.8x as fast as 1. The population is generated
once into --dir and reused (the same seed gives the same export); the scaling runs read its
first blocks (5,000 patients each). Each run is a whole `cds dryrun` - both passes, the
tables and the report - with a fresh --out, so nothing is resumed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.machine import load_average, python_reference_ms
from cds.dryrun.run import run_dryrun
from cds.population.writer import BLOCK, generate

RULES = Path(__file__).resolve().parents[1] / "rules"
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
FULL_TARGET_S = 600.0
SPEEDUP_TARGET = 1.8


def population(root: Path, patients: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The population of `patients` (generated unless already there)."""
    folder = root / f"population-{patients}-seed{seed}"
    manifest_path = folder / "export.json"
    if manifest_path.exists():
        manifest: dict[str, Any] = orjson.loads(manifest_path.read_bytes())
        if manifest["transactionTime"] == NOW.isoformat():
            return folder, manifest
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    manifest = generate(RULES, folder, patients, seed, NOW, workers=os.cpu_count() or 1)
    print(f"generated {patients:,} patients in {time.perf_counter() - started:.0f} s")
    return folder, manifest


def first_blocks(source: Path, manifest: dict[str, Any], patients: int, root: Path) -> Path:
    """A view of the population's first `patients` (whole blocks), as file links."""
    blocks = max(1, patients // BLOCK)
    folder = root / f"first-{blocks * BLOCK}-of-{source.name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for entry in manifest["output"]:
        if int(entry["url"].split(".")[1]) < blocks:
            (folder / entry["url"]).symlink_to((source / entry["url"]).resolve())
    return folder


def run(export: Path, out: Path, workers: int, hooks: str | None) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = run_dryrun(str(export), NOW, out, hooks=hooks, rules=RULES, workers=workers)
    wall = time.perf_counter() - started
    calls = sum(o["openings"] for o in summary["openings"])
    row = {"patients": summary["patients"], "resources": summary["resources"],
           "calls": calls, "workers": workers, "wall_s": wall,
           "patients_per_s": summary["patients"] / wall,
           "per_worker": summary["patients"] / wall / workers, **summary["pass_seconds"],
           "cpu_s": summary["worker_cpu_seconds"]}
    print(f"  {row['patients']:>7,} patients  {row['resources']:>11,} resources  "
          f"{calls:>8,} calls  {workers} worker(s)  {wall:7.1f} s  "
          f"{row['patients_per_s']:7.1f} patients/s  {row['per_worker']:6.1f} per worker  "
          f"(split {row['split']:.0f} s, evaluate {row['evaluate']:.0f} s, "
          f"tables {row['tables']:.0f} s; workers' CPU {row['cpu_s']:.0f} s = "
          f"{row['patients'] / max(row['cpu_s'], 1e-9):.1f} patients per CPU-second)")
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--scaling-patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hooks", help="comma-separated hooks (default: every service)")
    parser.add_argument("--dir", type=Path, default=Path("bench/out/dryrun"))
    parser.add_argument("--skip-full", action="store_true", help="scaling runs only")
    parser.add_argument("--smoke", action="store_true", help="400 patients, no targets")
    args = parser.parse_args(argv)
    if args.smoke:
        args.patients, args.scaling_patients = 400, 400
    print(f"dry-run benchmark: seed {args.seed}, --now {NOW.isoformat()}, hooks "
          f"{args.hooks or 'all services'}, machine load {load_average()}, "
          f"Python reference workload {python_reference_ms()}")
    source, manifest = population(args.dir, args.patients, args.seed)
    info = manifest["extension"]["generator"]
    print(f"population: {info['patients']:,} patients, {info['resources']:,} resources "
          f"({info['resources'] / info['patients']:.1f} per patient), {source}")
    scaling = (source if args.scaling_patients >= args.patients
               else first_blocks(source, manifest, args.scaling_patients, args.dir))
    print("scaling (the same export, 1 then 2 worker processes):")
    one = run(scaling, args.dir / "out-1", 1, args.hooks)
    two = run(scaling, args.dir / "out-2", 2, args.hooks)
    speedup = one["wall_s"] / two["wall_s"]
    verdicts = [f"1 -> 2 workers: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x): "
                f"{'met' if speedup >= SPEEDUP_TARGET else 'MISSED'}; workers' CPU time "
                f"{one['cpu_s']:.0f} s with 1, {two['cpu_s']:.0f} s with 2 (equal CPU means "
                "the work divides; a wall-clock speed-up below 2x then comes from cores "
                "other processes held)"]
    if not args.skip_full and scaling != source:
        print(f"whole population, {os.cpu_count()} workers:")
        full = run(source, args.dir / "out-full", os.cpu_count() or 1, args.hooks)
        verdicts.append(f"{full['patients']:,} patients in {full['wall_s']:.0f} s (target < "
                        f"{FULL_TARGET_S:.0f} s): "
                        f"{'met' if full['wall_s'] < FULL_TARGET_S else 'MISSED'}")
    print(f"machine load at end {load_average()}, Python reference workload "
          f"{python_reference_ms()}")
    for line in verdicts:
        print(("  " if not args.smoke else "  (smoke, not a measurement) ") + line)


if __name__ == "__main__":
    main()
