"""What `make bench` times: one Case per command, with its target where the issue sets one.

Placeholders in argv: {trialkit} the installed command, {seed} a workspace
holding the built-in trial, {pilot} the CDISC pilot folder, {pilot_ws} a
workspace holding it, {seed_dir} the built-in trial's CSV folder, {root}
the repository. A case with ``versus`` is timed side by side with that
command (for example R on the same data); ``target_vs`` is the largest
allowed ratio of trialkit's median wall time to the other's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    target_s: float | None = None
    needs_pilot: bool = False
    versus: tuple[str, ...] | None = None
    target_vs: float | None = None


CASES: list[Case] = [
    Case("trialkit --help", ("{trialkit}", "--help"), target_s=0.3),
    Case("trialkit survival --help", ("{trialkit}", "survival", "--help"), target_s=0.3),
    Case("ingest (built-in trial)", ("{trialkit}", "ingest", "-w", "{seed}"), target_s=1.5),
    Case("validate (built-in trial)", ("{trialkit}", "validate", "-w", "{seed}"), target_s=1.5),
    Case("ingest (CDISC pilot)", ("{trialkit}", "ingest", "{pilot}", "-w", "{pilot_ws}"), needs_pilot=True),
    Case("validate (CDISC pilot)", ("{trialkit}", "validate", "-w", "{pilot_ws}"), needs_pilot=True),
]
