"""`make bench`: median wall time and peak memory of trialkit's commands.

Each case runs once to warm up, then --runs times; wall time is measured
around the process, peak memory is the child's maximum resident set size
from wait4(). Prints a table, writes the figures to --out (JSON), and exits
1 when a stated target is missed. Uses only the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cases import CASES, Case  # run as a script from tests/bench

ROOT = Path(__file__).resolve().parents[2]
PILOT = ROOT.parent / "shared" / "data" / "cdiscpilot01"


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def series(argv: list[str], runs: int) -> dict:
    measure(argv)  # warm-up: file cache, bytecode
    walls, mems, codes = [], [], set()
    for _ in range(runs):
        wall, mem, code = measure(argv)
        walls.append(wall)
        mems.append(mem)
        codes.add(code)
    return {
        "argv": argv,
        "wall_median_s": round(statistics.median(walls), 4),
        "wall_min_s": round(min(walls), 4),
        "wall_max_s": round(max(walls), 4),
        "peak_rss_median_mib": round(statistics.median(mems), 1),
        "exit_codes": sorted(codes),
    }


def expand(argv: tuple[str, ...], places: dict[str, str]) -> list[str]:
    return [a.format(**places) for a in argv]


def prepare(work: Path, trialkit: str, have_pilot: bool) -> dict[str, str]:
    places = {"trialkit": trialkit, "seed": str(work / "seed"), "pilot": str(PILOT), "pilot_ws": str(work / "pilot"),
              "seed_dir": str(ROOT / "fixtures" / "seed_trial"), "root": str(ROOT)}
    subprocess.run([trialkit, "ingest", "-w", places["seed"]], check=True, capture_output=True)
    subprocess.run([trialkit, "validate", "-w", places["seed"]], check=True, capture_output=True)
    if have_pilot:
        subprocess.run([trialkit, "ingest", str(PILOT), "-w", places["pilot_ws"]], check=True, capture_output=True)
        subprocess.run([trialkit, "validate", "-w", places["pilot_ws"]], capture_output=True)
    return places


def run_case(case: Case, places: dict[str, str], runs: int) -> dict:
    result = {"name": case.name, "target_s": case.target_s, **series(expand(case.argv, places), runs)}
    verdicts = []
    if case.target_s is not None:
        verdicts.append(result["wall_median_s"] <= case.target_s)
    if case.versus is not None:
        other = expand(case.versus, places)
        if shutil.which(other[0]):
            result["versus"] = series(other, runs)
            result["ratio"] = round(result["wall_median_s"] / result["versus"]["wall_median_s"], 3)
            if case.target_vs is not None:
                result["target_ratio"] = case.target_vs
                verdicts.append(result["ratio"] <= case.target_vs)
        else:
            result["versus"] = f"{other[0]} not found: not compared"
    result["meets_target"] = all(verdicts) if verdicts else None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    args = parser.parse_args()
    trialkit = str(Path(sys.executable).with_name("trialkit"))
    have_pilot = (PILOT / "adsl.xpt").exists()
    results = []
    with tempfile.TemporaryDirectory(prefix="trialkit-bench-") as tmp:
        places = prepare(Path(tmp), trialkit, have_pilot)
        for case in CASES:
            if args.only and args.only not in case.name:
                continue
            if case.needs_pilot and not have_pilot:
                results.append({"name": case.name, "skipped": f"{PILOT} absent"})
                continue
            results.append(run_case(case, places, args.runs))
            r = results[-1]
            line = f"{case.name:<42} median {r['wall_median_s']:7.3f} s  peak {r['peak_rss_median_mib']:7.1f} MiB"
            if case.target_s is not None:
                line += f"  target {case.target_s} s"
            if isinstance(r.get("versus"), dict):
                line += f"  vs {r['versus']['wall_median_s']:.3f} s (ratio {r['ratio']})"
            if r["meets_target"] is False:
                line += "  MISSED"
            print(line, flush=True)
    Path(args.out).write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                                          "runs": args.runs, "results": results}, indent=2) + "\n")
    print(f"figures written to {args.out}")
    return 1 if any(r.get("meets_target") is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
