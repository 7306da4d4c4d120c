"""The frames every efficacy engine returns (ANCOVA and MMRM), declared once: LS means, contrasts, type III
tests, the dose-response test and the covariance matrix. ``visit`` is null in an ANCOVA's rows."""

from __future__ import annotations

import polars as pl

__all__ = ["LSMEANS_SCHEMA", "CONTRASTS_SCHEMA", "TESTS_SCHEMA", "DOSE_SCHEMA", "COVARIANCE_SCHEMA"]

LSMEANS_SCHEMA = {"visit": pl.String, "group": pl.String, "estimate": pl.Float64, "se": pl.Float64, "df": pl.Float64,
                  "lower": pl.Float64, "upper": pl.Float64, "n": pl.Int64}
CONTRASTS_SCHEMA = {"visit": pl.String, "group": pl.String, "reference": pl.String, "comparison": pl.String,
                    "estimate": pl.Float64, "se": pl.Float64, "df": pl.Float64, "t": pl.Float64, "p": pl.Float64,
                    "lower": pl.Float64, "upper": pl.Float64, "adjust": pl.String, "p_adjusted": pl.Float64}
TESTS_SCHEMA = {"term": pl.String, "num_df": pl.Float64, "den_df": pl.Float64, "f": pl.Float64, "p": pl.Float64}
DOSE_SCHEMA = {"term": pl.String, "estimate": pl.Float64, "se": pl.Float64, "df": pl.Float64, "t": pl.Float64,
               "p": pl.Float64}
COVARIANCE_SCHEMA = {"row_visit": pl.String, "col_visit": pl.String, "value": pl.Float64}
