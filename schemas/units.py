"""Canonical units and plausible ranges of the liver-trial parameters.

Declared once: ingest converts values in a known other unit to the canonical
SI unit (keeping the original value and unit); validate checks plausible
ranges in the canonical unit; the biomarker derivations read canonical units.
Units are compared after ``normalize_unit`` (case, micro sign, spacing).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Parameter", "PARAMETERS", "ALIASES", "normalize_unit", "canonical_paramcd"]


@dataclass(frozen=True)
class Parameter:
    """A PARAMCD's canonical unit, plausible range there, and known conversions."""

    paramcd: str
    label: str
    unit: str
    low: float
    high: float
    #: other unit -> factor that multiplies a value in it to give the canonical unit
    conversions: tuple[tuple[str, float], ...] = ()

    def factor(self, unit: str | None) -> float | None:
        """The factor to the canonical unit, 1.0 for the canonical one, None if unknown."""
        if unit is None:
            return None
        u = normalize_unit(unit)
        if u == normalize_unit(self.unit):
            return 1.0
        return next((f for other, f in self.conversions if normalize_unit(other) == u), None)


_BILI = (("mg/dL", 17.1), ("mg/L", 1.71))
_CELLS = (("/uL", 1.0), ("cells/mm3", 1.0), ("/mm3", 1.0), ("10^6/L", 1.0), ("10^9/L", 1000.0))
_ENZYME = (("IU/L", 1.0), ("ukat/L", 60.0))

PARAMETERS: dict[str, Parameter] = {
    p.paramcd: p
    for p in (
        Parameter("ALB", "Albumin", "g/L", 5, 70, (("g/dL", 10.0), ("mg/mL", 1.0))),
        Parameter("ALT", "Alanine aminotransferase", "U/L", 0, 10000, _ENZYME),
        Parameter("AST", "Aspartate aminotransferase", "U/L", 0, 10000, _ENZYME),
        Parameter("TBIL", "Total bilirubin", "umol/L", 0, 1000, _BILI),
        Parameter("DBIL", "Direct bilirubin", "umol/L", 0, 800, _BILI),
        Parameter("TC", "Total cholesterol", "mmol/L", 0.3, 25, (("mg/dL", 0.02586),)),
        Parameter("PTA", "Prothrombin time activity", "%", 0, 200),
        Parameter("AT3", "Antithrombin-III activity", "%", 0, 250),
        Parameter("INR", "International normalised ratio", "ratio", 0.5, 15, (("", 1.0),)),
        Parameter("CREAT", "Creatinine", "umol/L", 5, 2500, (("mg/dL", 88.4),)),
        Parameter("SODIUM", "Sodium", "mmol/L", 90, 200, (("mEq/L", 1.0),)),
        Parameter("WEIGHT", "Body weight", "kg", 20, 300, (("lb", 0.45359237), ("g", 0.001))),
        Parameter("CPSCORE", "Child-Pugh score", "points", 5, 15),
        Parameter("MELD", "MELD score", "points", 6, 40),
        Parameter("ASCITES", "Ascites grade", "grade", 0, 2),
        Parameter("HEPENC", "Hepatic encephalopathy grade", "grade", 0, 4),
        Parameter("CD4", "CD4+ T cells", "cells/uL", 0, 10000, _CELLS),
        Parameter("CD8", "CD8+ T cells", "cells/uL", 0, 10000, _CELLS),
        Parameter("NK", "Natural killer cells", "cells/uL", 0, 10000, _CELLS),
        Parameter("IL8", "Interleukin-8", "pg/mL", 0, 100000, (("ng/L", 1.0), ("ng/mL", 1000.0))),
    )
}

#: Other PARAMCDs in use for the same quantity (the CDISC pilot says BILI).
ALIASES = {"BILI": "TBIL", "BILDIR": "DBIL", "CHOL": "TC", "ALBUMIN": "ALB", "SODIUMS": "SODIUM"}


def canonical_paramcd(paramcd: str) -> str:
    return ALIASES.get(paramcd, paramcd)


def normalize_unit(unit: str) -> str:
    """Fold the spellings of one unit together: case, micro sign, blanks, 'x10^'."""
    u = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace(" ", "")
    u = u.replace("x10^", "10^").replace("10E", "10^").replace("cells/", "/")
    return u.lower()
