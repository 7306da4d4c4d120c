"""`make bench`: wall time and peak memory of trialkit's commands, side by side with their peers.

Each case runs once to warm up, then --runs times (big synthetic trials: once,
without warm-up); wall time is measured around the process, CPU time and peak
memory (maximum resident set size) come from wait4() on that process. A case's
``versus`` commands (R, lifelines, a polars floor, ...) are timed the same way
in the same run, and the ratio trialkit / other is reported; an other that
prints BENCH_COMPUTE_S=<seconds> is compared by that computation time and its
whole wall time is shown too. The synthetic trials (BENCH_SIZES subjects,
default 10000,100000,1000000) are made once into bench-data/ and reused.

CPU times (the processes' user + system time, and BENCH_COMPUTE_CPU_S where a
peer prints it) go to the JSON only: on a shared machine they move less than
wall times. Prints a table of 80 columns, writes every figure to --out (JSON), and exits 1
when a stated target is missed or trialkit fails. R (Rscript), lifelines and
the CDISC pilot are optional: what is absent is skipped, with the reason shown.

A case with ``versus_case`` is compared by wall time with that earlier case
of the same run (biomarkers with figures against --no-plot). After the
table, when the scale suite ran at two or more sizes, each stage's scaling
exponent between consecutive sizes, log(t2/t1) / log(n2/n1), is printed and
written to the JSON; from 100,000 to 1,000,000 subjects it must be at most
1.1 (issue 13), and a miss counts as a missed target.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from cases import (CASES, SURVIVAL_OPTIONS, Case, Other, label, mmrm_cases, mmrm_sizes,  # run as a script
                   scale_cases, scale_sizes, sizes, synthetic_cases)  # from tests/bench

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PILOT = ROOT.parent / "shared" / "data" / "cdiscpilot01"
CACHE = ROOT / "bench-data"
COMPUTE = re.compile(rb"^BENCH_COMPUTE_S=([0-9.eE+-]+)\s*$", re.MULTILINE)
COMPUTE_CPU = re.compile(rb"^BENCH_COMPUTE_CPU_S=([0-9.eE+-]+)\s*$", re.MULTILINE)
WIDTH = 80


def measure(argv: list[str], timeout_s: float | None = None) -> dict:
    """Wall and CPU seconds, peak RSS (MiB), exit code and any BENCH_COMPUTE_S of one run; a run still going
    after ``timeout_s`` is killed and marked ``timed_out``."""
    import threading

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        timer = threading.Timer(timeout_s, proc.kill) if timeout_s else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        out.seek(0)
        text = out.read()
    found, found_cpu = COMPUTE.search(text), COMPUTE_CPU.search(text)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "mib": usage.ru_maxrss / 1024,
            "code": os.waitstatus_to_exitcode(status), "compute": float(found.group(1)) if found else None,
            "compute_cpu": float(found_cpu.group(1)) if found_cpu else None,
            "timed_out": bool(timeout_s) and wall >= timeout_s}


def series(argv: list[str], runs: int, warmup: bool, timeout_s: float | None = None) -> dict:
    if warmup:
        measure(argv, timeout_s)  # file cache, bytecode
    got = [measure(argv, timeout_s) for _ in range(runs)]
    if any(g["timed_out"] for g in got):
        return {"argv": argv, "runs": runs, "timed_out_s": timeout_s,
                "wall_median_s": round(statistics.median(g["wall"] for g in got), 4),
                "peak_rss_max_mib": round(max(g["mib"] for g in got), 1), "exit_codes": [0]}
    result = {
        "argv": argv,
        "runs": runs,
        "wall_median_s": round(statistics.median(g["wall"] for g in got), 4),
        "wall_min_s": round(min(g["wall"] for g in got), 4),
        "wall_max_s": round(max(g["wall"] for g in got), 4),
        "cpu_median_s": round(statistics.median(g["cpu"] for g in got), 4),
        "peak_rss_median_mib": round(statistics.median(g["mib"] for g in got), 1),
        "peak_rss_max_mib": round(max(g["mib"] for g in got), 1),
        "exit_codes": sorted({g["code"] for g in got}),
    }
    computes = [g["compute"] for g in got if g["compute"] is not None]
    if computes:
        result["compute_median_s"] = round(statistics.median(computes), 4)
    computes = [g["compute_cpu"] for g in got if g["compute_cpu"] is not None]
    if computes:
        result["compute_cpu_median_s"] = round(statistics.median(computes), 4)
    return result


def expand(argv: tuple[str, ...], places: dict[str, str]) -> list[str]:
    return [a.format(**places) for a in argv]


def missing(needs: str | None) -> str | None:
    """Why a peer cannot run here, or None."""
    if needs == "R" and not shutil.which("Rscript"):
        return "R not compared: Rscript not found (apt-get install r-base-core r-cran-survival)"
    if needs == "lifelines" and importlib.util.find_spec("lifelines") is None:
        return "lifelines not compared: not importable (make install installs it)"
    return None


class Places:
    """Placeholder values, and the data behind them made on first use."""

    def __init__(self, work: Path, trialkit: str, have_pilot: bool):
        self.work, self.trialkit, self.have_pilot = work, trialkit, have_pilot
        self.base = {"trialkit": trialkit, "python": sys.executable, "bench": str(HERE), "root": str(ROOT),
                     "seed": str(work / "seed"), "pilot": str(PILOT), "pilot_ws": str(work / "pilot"),
                     "seed_dir": str(ROOT / "fixtures" / "seed_trial")}
        self.prepared = False
        self.made: set[int] = set()
        help_text = subprocess.run([trialkit, "survival", "--help"], capture_output=True, text=True,
                                   env={**os.environ, "COLUMNS": "200"}).stdout
        #: the survival options of the synthetic cases that this trialkit does not have yet
        self.lacking = sorted({o for o in SURVIVAL_OPTIONS[::2] if o not in help_text})

    def prepare(self) -> None:
        if self.prepared:
            return
        tk = self.trialkit
        subprocess.run([tk, "ingest", "-w", self.base["seed"]], check=True, capture_output=True)
        subprocess.run([tk, "validate", "-w", self.base["seed"]], check=True, capture_output=True)
        if self.have_pilot:
            subprocess.run([tk, "ingest", str(PILOT), "-w", self.base["pilot_ws"]], check=True, capture_output=True)
            subprocess.run([tk, "validate", "-w", self.base["pilot_ws"]], capture_output=True)
        self.prepared = True

    def for_case(self, case: Case) -> dict[str, str]:
        if case.mmrm_size is not None:
            return self.for_mmrm(case.mmrm_size)
        if case.scale_size is not None:
            return self.for_scale(case)
        if case.size is None:
            self.prepare()
            return self.base
        from synthetic import trial  # numpy and polars: only for the synthetic cases

        if case.size not in self.made:
            print(f"(the synthetic trial of {case.size:,} subjects: {CACHE.name}/trial-{case.size}/)", flush=True)
            self.made.add(case.size)
        folders = trial(case.size, CACHE)
        rds = folders.parquet.parent / "trial.rds"
        if shutil.which("Rscript") and not rds.exists():
            print("(R's copy of it: trial.rds)", flush=True)
            subprocess.run(["Rscript", str(HERE / "r" / "make_rds.R"), str(folders.csv), str(rds)], check=True)
        ws = self.work / f"synthetic-{case.size}"
        if case.needs_workspace and not (ws / "adtte.parquet").exists():
            subprocess.run([self.trialkit, "ingest", str(folders.parquet), "-w", str(ws)], check=True,
                           capture_output=True)
            subprocess.run([self.trialkit, "validate", "-w", str(ws)], check=True, capture_output=True)
        return {**self.base, "syn_dir": str(folders.parquet), "syn_ws": str(ws), "syn_rds": str(rds)}

    def for_scale(self, case: Case) -> dict[str, str]:
        """A simulated trial of the case's size (Parquet, foreign-shaped CSV, and R's RDS copies) and a workspace
        of each; the case's workspace (its ``source``) is ingested and validated first when the case needs it and
        the suite's own ingest has not run. A case on {sc_ws_figures} gets a fresh copy of the Parquet workspace."""
        from scale_data import make  # polars: only for the scale cases

        n = case.scale_size
        folder = CACHE / f"sim-{n}"
        if n not in self.made:
            print(f"(the simulated trial of {n:,} subjects: {CACHE.name}/{folder.name}/)", flush=True)
            self.made.add(n)
        parquet = make(n, folder, self.trialkit)
        foreign = folder / "adam-csv"
        ws, ws_csv = self.work / f"scale-{n}", self.work / f"scale-{n}-csv"
        figures = self.work / f"scale-{n}-figures"
        data, own = (foreign, ws_csv) if case.source == "csv" else (parquet, ws)
        if case.needs_workspace and not (own / "adsl.parquet").exists():
            subprocess.run([self.trialkit, "ingest", str(data), "-w", str(own)], check=True, capture_output=True)
            subprocess.run([self.trialkit, "validate", "-w", str(own)], capture_output=True)
        if "{sc_ws_figures}" in case.argv:  # not the workspace's own lock files: a copy has no writer yet
            shutil.rmtree(figures, ignore_errors=True)
            shutil.copytree(own, figures, ignore=shutil.ignore_patterns("lock", "commit.lock"))
        return {**self.base, "sc_dir": str(parquet), "sc_ws": str(ws), "sc_r": str(folder), "sc_csv": str(foreign),
                "sc_ws_csv": str(ws_csv), "sc_ws_figures": str(figures)}

    def for_mmrm(self, n: int) -> dict[str, str]:
        """A synthetic longitudinal trial of n subjects (CSV, for R and for trialkit ingest) and its workspace."""
        folder = CACHE / f"mmrm-{n}"
        if not (folder / "adlb.csv").exists():
            print(f"(the synthetic longitudinal trial of {n:,} subjects: {CACHE.name}/{folder.name}/)", flush=True)
            subprocess.run([sys.executable, str(HERE / "mmrm_synthetic.py"), str(n), str(folder)], check=True)
        ws = self.work / f"mmrm-{n}"
        if not (ws / "adlb.parquet").exists():
            subprocess.run([self.trialkit, "ingest", str(folder), "-w", str(ws)], check=True, capture_output=True)
            subprocess.run([self.trialkit, "validate", "-w", str(ws)], capture_output=True)
        return {**self.base, "mmrm_dir": str(folder), "mmrm_ws": str(ws)}

    def argv(self, case: Case, places: dict[str, str]) -> tuple[list[str], str | None]:
        """The case's command, without the synthetic survival options this trialkit lacks (and a note saying so)."""
        argv = expand(case.argv, places)
        if case.size is None or not self.lacking or "survival" not in argv:
            return argv, None
        kept = []
        skip = False
        for a in argv:
            if skip:
                skip = False
            elif a in self.lacking:
                skip = True
            else:
                kept.append(a)
        if kept == argv:
            return argv, None
        return kept, f"ran without {', '.join(self.lacking)}: not options of this trialkit yet"


def compare(other: Other, mine: dict, places: dict[str, str], runs: int, warmup: bool) -> dict:
    why = missing(other.needs)
    if why is None and not shutil.which(expand(other.argv, places)[0]):
        why = f"{other.label} not compared: {other.argv[0]} not found"
    if why:
        return {"label": other.label, "skipped": why}
    result = {"label": other.label, **series(expand(other.argv, places), runs, warmup, other.timeout_s)}
    if result.get("timed_out_s"):  # still computing when stopped: trialkit's ratio is at most this
        result["basis"] = "timeout"
        result["ratio"] = round(mine["wall_median_s"] / result["timed_out_s"], 4)
        if other.target is not None:
            result["target_ratio"] = other.target
            result["meets_target"] = result["ratio"] <= other.target
        return result
    if result["exit_codes"] != [0]:
        result["error"] = f"{other.label} exited {result['exit_codes']}: not compared"
        return result
    basis = result.get("compute_median_s") if other.compute else result["wall_median_s"]
    if basis is None:
        result["error"] = f"{other.label} printed no BENCH_COMPUTE_S line: not compared"
        return result
    result["basis"] = "compute" if other.compute else "wall"
    result["ratio"] = round(mine["wall_median_s"] / basis, 3) if basis > 0 else None
    if other.target is not None and result["ratio"] is not None:
        result["target_ratio"] = other.target
        result["meets_target"] = result["ratio"] <= other.target
    return result


def versus_case(mine: dict, name: str, earlier: dict[str, dict], target: float | None) -> dict:
    """This case's wall time against the earlier case ``name`` of the same run: the ratio, and its verdict when
    ``target`` is set; skipped (no verdict) when either command failed or the other did not run."""
    other = earlier.get(name)
    if mine["exit_codes"] != [0]:
        return {"name": name, "skipped": f"not compared with {name}: trialkit failed"}
    if other is None or "skipped" in other:
        return {"name": name, "skipped": f"not compared with {name}: it did not run"}
    if other["exit_codes"] != [0]:
        return {"name": name, "skipped": f"not compared with {name}: it failed"}
    basis = other["wall_median_s"]
    got = {"name": name, "wall_median_s": basis,
           "ratio": round(mine["wall_median_s"] / basis, 3) if basis > 0 else None}
    if target is not None and got["ratio"] is not None:
        got["target_ratio"] = target
        got["meets_target"] = got["ratio"] <= target
    return got


def run_case(case: Case, places: Places, runs: int, earlier: dict[str, dict] | None = None) -> dict:
    """Time the case (and its peers); ``earlier``: the results so far by case name, for ``versus_case``."""
    values = places.for_case(case)
    argv, note = places.argv(case, values)
    runs = min(runs, case.runs or runs)
    result = {"name": case.name, "target_s": case.target_s, "target_mib": case.target_mib,
              **series(argv, runs, case.warmup)}
    if case.scale_size is not None:  # for the scaling exponents: the stage without its size
        result["scale_size"] = case.scale_size
        result["stage"] = case.name.removeprefix(f"scale {label(case.scale_size)}").lstrip(",: ")
    if note:
        result["note"] = note
    verdicts = [result["exit_codes"] == [0]]
    if case.target_s is not None:
        verdicts.append(result["wall_median_s"] <= case.target_s)
    if case.target_mib is not None:
        verdicts.append(result["peak_rss_max_mib"] <= case.target_mib)
    if result["exit_codes"] == [0]:
        result["versus"] = [compare(o, result, values, runs, case.warmup) for o in case.versus]
    else:  # a ratio to a command that failed would mean nothing
        result["versus"] = [{"label": o.label, "skipped": f"{o.label} not compared: trialkit failed"}
                            for o in case.versus]
    verdicts += [v["meets_target"] for v in result["versus"] if "meets_target" in v]
    if case.versus_case is not None:
        result["versus_case"] = versus_case(result, case.versus_case, earlier or {}, case.target_ratio)
        if "meets_target" in result["versus_case"]:
            verdicts.append(result["versus_case"]["meets_target"])
    if case.output is not None and result["exit_codes"] == [0]:
        path = Path(expand((case.output,), values)[0])
        result["output"] = path.name
        result["output_mib"] = round(path.stat().st_size / 2**20, 2) if path.exists() else None
        if case.target_output_mib is not None:
            result["target_output_mib"] = case.target_output_mib
            verdicts.append(result["output_mib"] is not None and result["output_mib"] <= case.target_output_mib)
    stated = case.target_s is not None or case.target_mib is not None or case.target_output_mib is not None or \
        any("target_ratio" in v for v in [*result["versus"], result.get("versus_case", {})])
    result["meets_target"] = all(verdicts) if stated or not verdicts[0] else None
    return result


# ---- the table -------------------------------------------------------------------------------------------
COLUMNS = (("case", 29, "<"), ("trialkit s", 10, ">"), ("other s", 8, ">"), ("ratio", 6, ">"),
           ("target", 9, ">"), ("ok", 4, ">"), ("peak MB", 8, ">"))


def row(*cells: str) -> str:
    return " ".join(f"{c:{align}{width}}" for c, (_, width, align) in zip(cells, COLUMNS)).rstrip()


def seconds(s: float | None) -> str:
    return "" if s is None else f"{s:.3f}" if s < 10 else f"{s:.2f}" if s < 100 else f"{s:.1f}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else "pass" if ok else "FAIL"


def note(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="    ", subsequent_indent="    ")


def lines_of(r: dict) -> list[str]:
    if "skipped" in r:
        return [r["name"][:WIDTH], *note(r["skipped"])]
    targets = [f"<={r['target_s']}s" if r.get("target_s") is not None else "",
               f"<={r['target_mib']:.0f}MB" if r.get("target_mib") is not None else ""]
    own_ok = None
    if r["exit_codes"] != [0]:
        own_ok = False
    elif r.get("target_s") is not None or r.get("target_mib") is not None:
        own_ok = (r.get("target_s") is None or r["wall_median_s"] <= r["target_s"]) and \
                 (r.get("target_mib") is None or r["peak_rss_max_mib"] <= r["target_mib"])
    name = r["name"] if len(r["name"]) <= COLUMNS[0][1] else ""
    out = [] if name else [r["name"][:WIDTH]]
    out.append(row(name, seconds(r["wall_median_s"]), "", "", " ".join(t for t in targets if t),
                   verdict(own_ok), f"{r['peak_rss_max_mib']:.0f}"))
    if r["exit_codes"] != [0]:
        out += note(f"trialkit exited {r['exit_codes']}: run {' '.join(r['argv'][1:])} to see why")
    if r.get("note"):
        out += note(r["note"])
    if r.get("output"):
        size = "absent" if r["output_mib"] is None else f"{r['output_mib']:.2f} MB"
        target = r.get("target_output_mib")
        out += note(f"{r['output']}: {size}" + ("" if target is None else
                    f" (target <= {target:g} MB: {verdict(r['output_mib'] is not None and r['output_mib'] <= target)})"))
    if r.get("versus_case"):
        v = r["versus_case"]
        if "skipped" in v:
            out += note(v["skipped"])
        else:
            other = v["name"] if len(v["name"]) <= COLUMNS[0][1] - 5 else v["name"].rsplit(": ", 1)[-1]
            out.append(row(f"  vs {other}"[:COLUMNS[0][1]], "", seconds(v["wall_median_s"]),
                           "" if v["ratio"] is None else f"{v['ratio']:.2f}",
                           f"<={v['target_ratio']}x" if "target_ratio" in v else "", verdict(v.get("meets_target")),
                           ""))
    for v in r.get("versus", []):
        if "skipped" in v or "error" in v:
            out += note(v.get("skipped") or v["error"])
            continue
        basis = v["compute_median_s"] if v["basis"] == "compute" else v["wall_median_s"]
        target = f"<={v['target_ratio']}x" if "target_ratio" in v else ""
        timed_out = v["basis"] == "timeout"
        basis = v["timed_out_s"] if timed_out else basis
        ratio = "" if v["ratio"] is None else f"<{v['ratio']:.2f}" if timed_out else f"{v['ratio']:.2f}"
        out.append(row(f"  vs {v['label']}", "", f">{seconds(basis)}" if timed_out else seconds(basis), ratio,
                       target, verdict(v.get("meets_target")), f"{v['peak_rss_max_mib']:.0f}"))
        if timed_out:
            out += note(f"{v['label']} was still computing after {seconds(v['timed_out_s'])} s and was stopped: "
                        "the ratio is at most trialkit's time over that")
        if v["basis"] == "compute":
            out += note(f"{v['label']}: computation {seconds(v['compute_median_s'])} s, "
                        f"whole process {seconds(v['wall_median_s'])} s")
    return out


# ---- scaling exponents -----------------------------------------------------------------------------------
#: issue 13: each stage's time grows at most linearly (exponent <= 1.1) from 100,000 to 1,000,000 subjects
EXPONENT_STEP = (100_000, 1_000_000)
EXPONENT_TARGET = 1.1


def scaling_exponents(results: list[dict]) -> list[dict]:
    """Each scale stage's exponent log(t2/t1) / log(n2/n1) between consecutive sizes of the suite (wall times),
    in the order the stages first ran; a step whose stage did not run (or failed) at either size is left out.
    The step EXPONENT_STEP carries the target and its verdict, the others none."""
    times: dict[str, dict[int, float]] = {}
    for r in results:
        if "stage" in r and "skipped" not in r and r.get("exit_codes") == [0] and r["wall_median_s"] > 0:
            times.setdefault(r["stage"], {})[r["scale_size"]] = r["wall_median_s"]
    ran = sorted({r["scale_size"] for r in results if "scale_size" in r})
    out = []
    for stage, by_size in times.items():
        for n1, n2 in zip(ran, ran[1:]):
            if n1 not in by_size or n2 not in by_size:
                continue
            t1, t2 = by_size[n1], by_size[n2]
            got = {"stage": stage, "n1": n1, "n2": n2, "t1_s": t1, "t2_s": t2,
                   "exponent": round(math.log(t2 / t1) / math.log(n2 / n1), 3)}
            if (n1, n2) == EXPONENT_STEP:
                got["target"] = EXPONENT_TARGET
                got["meets_target"] = got["exponent"] <= EXPONENT_TARGET
            out.append(got)
    return out


def exponent_lines(exponents: list[dict]) -> list[str]:
    """The exponents as a table of 80 columns (a stage too long for its column on a line of its own)."""
    if not exponents:
        return []
    width = 46
    out = textwrap.wrap("Scaling exponents, log(t2/t1) / log(n2/n1) of the wall times between consecutive sizes "
                        f"(target <= {EXPONENT_TARGET} from {label(EXPONENT_STEP[0])} to {label(EXPONENT_STEP[1])}):",
                        WIDTH)
    out.append(f"{'stage':<{width}} {'sizes':>12} {'exponent':>8} {'target':>6} {'ok':>4}")
    previous = None
    for e in exponents:
        stage = e["stage"] if len(e["stage"]) <= width else ""
        if not stage and e["stage"] != previous:
            out.append(e["stage"][:WIDTH])
        previous = e["stage"]
        target = f"<={e['target']}" if "target" in e else ""
        out.append(f"{stage:<{width}} {label(e['n1']) + ' -> ' + label(e['n2']):>12} {e['exponent']:>8.2f} "
                   f"{target:>6} {verdict(e.get('meets_target')):>4}".rstrip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    args = parser.parse_args()
    trialkit = str(Path(sys.executable).with_name("trialkit"))
    have_pilot = (PILOT / "adsl.xpt").exists()
    cases = [*CASES, *(c for n in sizes() for c in synthetic_cases(n)), *(c for n in mmrm_sizes() for c in mmrm_cases(n)),
             *(c for n in scale_sizes() for c in scale_cases(n))]
    results = []
    print(row(*(title for title, _, _ in COLUMNS)))
    print("-" * WIDTH)
    with tempfile.TemporaryDirectory(prefix="trialkit-bench-") as tmp:
        places = Places(Path(tmp), trialkit, have_pilot)
        for case in cases:
            if args.only and args.only not in case.name:
                continue
            if case.needs_pilot and not have_pilot:
                results.append({"name": case.name, "skipped": f"skipped: {PILOT} absent"})
            else:
                results.append(run_case(case, places, args.runs, {r["name"]: r for r in results}))
            print("\n".join(lines_of(results[-1])), flush=True)
    print("-" * WIDTH)
    print("\n".join(textwrap.wrap(
        "trialkit s: median wall time of the trialkit command; other s: the peer's (its computation alone where "
        "noted); ratio: trialkit s / other s; peak MB: largest resident memory of the process.", WIDTH)))
    exponents = scaling_exponents(results)
    if exponents:
        print()
        print("\n".join(exponent_lines(exponents)))
    Path(args.out).write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                                      "load_average": os.getloadavg()},
                                          "runs": args.runs, "sizes": sizes(), "scale_sizes": scale_sizes(),
                                          "results": results, "scaling_exponents": exponents}, indent=2) + "\n")
    print(f"figures written to {args.out}")
    return 1 if any(r.get("meets_target") is False for r in [*results, *exponents]) else 0


if __name__ == "__main__":
    sys.exit(main())
