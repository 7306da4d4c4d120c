"""What a report is made of: the workspace's contents, already read, as frozen objects.

``cli/report.py`` reads the workspace into a ``ReportInputs``; the HTML and
Markdown renderers are pure functions of it, so identical inputs give
identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import polars as pl

from trialkit.analyses.claims import STAGES, ClaimResult, ClaimsFile, StageData

__all__ = ["Figure", "StageOutput", "AnalysisOutput", "ReportInputs", "stage_command"]


@dataclass(frozen=True)
class Figure:
    """A figure a stage wrote: its path in the workspace without extension, and its SVG and/or PNG bytes."""

    path: str
    svg: bytes | None
    png: bytes | None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StageOutput:
    """One analysis stage's outputs (``data.json`` is None when its JSON is absent)."""

    name: str
    data: StageData
    figures: tuple[Figure, ...] = ()
    commands: tuple[str, ...] = ()  # the commands that wrote its files (manifest.json)

    @property
    def json(self) -> Mapping[str, Any]:
        return self.data.json or {}


@dataclass(frozen=True)
class AnalysisOutput:
    """An analysis other than a stage's primary one (a subset, population, subgroup or method), as listed in
    manifest.json: its name, stage, folder, population and subgroup, the command that made it, and its outputs."""

    name: str
    stage: str
    folder: str
    population: str | None
    subgroup: str | None
    selection: str | None
    command: str
    output: StageOutput


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, read from the workspace."""

    title: str
    study_ids: tuple[str, ...]
    builtin: bool
    synthetic: bool
    ingest: Mapping[str, Any] | None
    manifest: Mapping[str, Any]
    validation: Mapping[str, Any] | None
    #: (dataset file, source label, source SHA-256) from the ingested Parquet files' metadata
    sources: tuple[tuple[str, str, str], ...]
    adsl: pl.DataFrame | None
    adlb: pl.DataFrame | None
    stages: Mapping[str, StageOutput]
    claims: ClaimsFile | None
    claim_results: tuple[ClaimResult, ...] | None
    #: why no claim is checked (no claims file and not the built-in trial), or ""
    claims_note: str
    versions: tuple[tuple[str, str], ...]
    #: ISO 8601 UTC time from SOURCE_DATE_EPOCH, or None when it is not set
    timestamp: str | None
    workspace_arg: str = "W"
    #: the ADSL variables Table 1 shows (``trialkit report --table1``), or None for its default list
    table1_variables: tuple[str, ...] | None = None
    figure_links: Mapping[str, str] = field(default_factory=dict)  # workspace relpath -> link from the report
    #: analyses other than the stages' primary ones, in name order
    extra_analyses: tuple[AnalysisOutput, ...] = ()
    #: the workspace's Analysis Results Dataset (ard.parquet), checked against schemas/ard.py; None when absent
    ard: pl.DataFrame | None = None
    #: Table 1 as computed once for the report and the ARD (``report.table1.Table1``); None: computed when rendered
    table1: Any = None
    #: how the data were reconstructed from a published figure (ingest.json, ``trialkit reconstruct``); None: real data
    reconstructed: str | None = None
    #: claims read "reproduced by construction": synthetic data generated to show the published features (the
    #: built-in trial, or a STUDYID marked SYNTHETIC that is not a negative control)
    by_construction: bool = False
    #: the data are a negative control: synthetic, generated so that the published claims do NOT hold
    negative_control: bool = False
    #: the claims file's consistency claims (``kind = "consistency"``), checked from the paper's numbers alone
    consistency: tuple = ()

    def stage(self, name: str) -> StageOutput | None:
        return self.stages.get(name)


def stage_command(name: str, workspace: str) -> str:
    """The command that produces a stage's outputs."""
    return f"{STAGES.get(name, 'trialkit ' + name)} --workspace {workspace}"
