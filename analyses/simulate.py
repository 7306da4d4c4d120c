"""A synthetic three-arm ADaM trial of any size, drawn one chunk of subjects at a time.

Method: the designs of the bench generators (``tests/bench/synthetic.py`` for ADSL + ADTTE,
``tests/bench/mmrm_synthetic.py`` for the longitudinal labs, ``tests/bench/safety_synthetic.py``
for ADAE / ADEX), gathered into one trial whose datasets agree with each other (no lab, AE or dose
after a subject's death or last contact), vectorised with numpy (no loop over subjects) and
parameterised by a ``Design``. There is no paper or R reference: the data are made up, and say so
(STUDYID ``TK-SYNTHETIC-SIM``).

- ADSL: arms Placebo / Low / High randomised 1:1:1 (TRT01A/TRT01P, TRT01AN/TRT01PN 0 / 1 / 2,
  ARMCD PBO / LOW / HIGH); STRAT1 ECOG 0 / 1-2 (45%), STRAT2 Region A / B (40%); AGE normal around
  62 (sd 10, 18-90, whole years); SEX M / F (55% M; SEXN 1 / 2); ITTFL and SAFFL "Y"; staggered entry
  (TRTSDT uniform over a 2-year accrual from 2020-01-01); TRTEDT the last dose; DTHFL / DTHDT.
- ADTTE, PARAMCD OS: exponential death times, baseline median 1,000 days, hazard ratios 0.80 (Low)
  and 0.65 (High), x1.02 a year of age over 62, x1.20 for men, x1.40 for ECOG 1-2, x0.85 for region
  B; administrative censoring at the data cutoff (3 years after the end of accrual) and random
  loss to follow-up (exponential, about 8% a year). AVAL whole days >= 1; CNSR; EVNTDESC "Death",
  "Alive at data cutoff" or "Lost to follow-up"; STARTDT = TRTSDT, ADT = STARTDT + AVAL.
- ADLB: ``params`` parameters (the first ten real labs in trialkit's canonical units, with reference
  ranges A1LO / A1HI; then generic LBnnn) x ``visits`` scheduled visits: Baseline (day 1, ABLFL
  "Y") then Week 4, 8, ... (ADY 28 j). Log-normal values around a per-parameter centre, a subject
  effect and visit noise; a drift with time that grows with the dose group. BASE on every record;
  records after the OS time (death or last contact) are absent.
- ADAE: a Poisson number of AEs per subject (mean ``aes_per_subject`` x 0.85 / 1.00 / 1.15 by
  group) over a fixed dictionary of 10 system organ classes x 5 preferred terms with Zipf-like
  frequencies; AESEV 60/30/10%; AESER 3%; AEREL, AEACN, AEOUT; onset within the first year and
  before death or last contact, 5% before the first dose (TRTEMFL "N"); a subject who dies within
  the first year has a fatal AE (AESDTH "Y", AEOUT FATAL) on the day of death.
- ADEX: a dose every 28 days from day 1 while on treatment (at most a year, not after the OS time):
  Placebo 0 mg, Low 50 mg, High 100 mg.

Every function takes a numpy Generator and the subjects' numbers ``[start, stop)`` (1-based) of one
chunk, so a trial of any size is made chunk by chunk in bounded memory; the same generator state
gives the same frames.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.schemas.units import PARAMETERS

__all__ = ["STUDYID", "DATASETS", "Design", "Chunk", "lab_parameters", "simulate_chunk", "subject_ids"]

STUDYID = "TK-SYNTHETIC-SIM"
DATASETS = ("adsl", "adtte", "adlb", "adae", "adex")

ARMS = (("Placebo", "PBO", 0.0, 1.00, 0.0), ("Low", "LOW", 1.0, 0.80, 50.0), ("High", "HIGH", 2.0, 0.65, 100.0))
ACCRUAL_DAYS = 730
FOLLOW_UP_DAYS = 1095
ORIGIN = np.datetime64("2020-01-01", "D")
BASE_MEDIAN_DAYS = 1000.0
LOSS_PER_YEAR = 0.08
VISIT_DAYS = 28
TREATMENT_DAYS = 365
AE_RATE = (0.85, 1.00, 1.15)

#: (PARAMCD, category, A1LO, A1HI, centre, coefficient of variation, log drift over the visits: placebo, per dose step)
LABS = (
    ("ALT", "CHEMISTRY", 7.0, 40.0, 22.0, 0.35, 0.00, 0.10),
    ("AST", "CHEMISTRY", 8.0, 40.0, 24.0, 0.30, 0.00, 0.08),
    ("TBIL", "CHEMISTRY", 3.0, 21.0, 10.0, 0.35, 0.00, 0.05),
    ("ALB", "CHEMISTRY", 35.0, 50.0, 42.0, 0.08, 0.00, -0.02),
    ("CREAT", "CHEMISTRY", 53.0, 115.0, 80.0, 0.18, 0.01, 0.03),
    ("SODIUM", "CHEMISTRY", 135.0, 145.0, 140.0, 0.02, 0.00, 0.00),
    ("TC", "CHEMISTRY", 3.0, 5.2, 4.8, 0.18, -0.02, -0.05),
    ("INR", "COAGULATION", 0.8, 1.2, 1.0, 0.08, 0.00, 0.02),
    ("CD4", "IMMUNOLOGY", 500.0, 1500.0, 900.0, 0.30, 0.02, 0.06),
    ("WEIGHT", "VITAL SIGNS", None, None, 78.0, 0.15, 0.00, -0.01),
)

SOCS = (
    ("Gastrointestinal disorders", ("Nausea", "Diarrhoea", "Vomiting", "Constipation", "Abdominal pain")),
    ("General disorders and administration site conditions", ("Fatigue", "Pyrexia", "Oedema peripheral", "Asthenia", "Chills")),
    ("Nervous system disorders", ("Headache", "Dizziness", "Somnolence", "Paraesthesia", "Dysgeusia")),
    ("Infections and infestations", ("Nasopharyngitis", "Upper respiratory tract infection", "Urinary tract infection",
                                     "Influenza", "Pneumonia")),
    ("Skin and subcutaneous tissue disorders", ("Rash", "Pruritus", "Dry skin", "Alopecia", "Erythema")),
    ("Musculoskeletal and connective tissue disorders", ("Arthralgia", "Back pain", "Myalgia", "Pain in extremity",
                                                         "Muscle spasms")),
    ("Respiratory, thoracic and mediastinal disorders", ("Cough", "Dyspnoea", "Oropharyngeal pain", "Epistaxis",
                                                         "Nasal congestion")),
    ("Metabolism and nutrition disorders", ("Decreased appetite", "Hypokalaemia", "Hyperglycaemia", "Dehydration",
                                            "Hypomagnesaemia")),
    ("Psychiatric disorders", ("Insomnia", "Anxiety", "Depression", "Confusional state", "Irritability")),
    ("Investigations", ("Alanine aminotransferase increased", "Aspartate aminotransferase increased", "Weight decreased",
                        "Blood creatinine increased", "Platelet count decreased")),
)


#: the largest trial simulate makes (a billion subjects would take days; more is a typo)
MAX_SUBJECTS = 100_000_000


@dataclass(frozen=True)
class Design:
    """What a simulated trial looks like: its size and the seed of its random numbers."""

    subjects: int
    visits: int = 8
    params: int = 10
    aes_per_subject: float = 5.0
    seed: int = 1
    lab_subjects: int | None = None  # labs for subjects 1..lab_subjects only (None: every subject)

    def __post_init__(self) -> None:
        from trialkit.schemas.errors import UsageError

        for ok, option, value, need in ((1 <= self.subjects <= MAX_SUBJECTS, "--subjects", self.subjects,
                                         f"at least 1 and at most {MAX_SUBJECTS:,}"),
                                        (self.visits >= 2, "--visits", self.visits, "at least 2 (baseline and one more)"),
                                        (self.params >= 1, "--params", self.params, "at least 1"),
                                        (math.isfinite(self.aes_per_subject) and self.aes_per_subject >= 0,
                                         "--aes-per-subject", self.aes_per_subject, "a finite number, 0 or more"),
                                        (self.seed >= 0, "--seed", self.seed, "0 or more"),
                                        (self.lab_subjects is None or 1 <= self.lab_subjects <= self.subjects,
                                         "--lab-subjects", self.lab_subjects, "at least 1 and at most --subjects")):
            if not ok:
                raise UsageError(f"{option} {value} cannot be used", f"give {option} {need}")

    @property
    def id_width(self) -> int:
        """Digits of the subject numbers in USUBJID (at least 7), the same in every chunk."""
        return max(7, len(str(self.subjects)))


@dataclass(frozen=True)
class Chunk:
    """The five datasets of one chunk of subjects."""

    adsl: pl.DataFrame
    adtte: pl.DataFrame
    adlb: pl.DataFrame
    adae: pl.DataFrame
    adex: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in DATASETS}


def lab_parameters(params: int) -> pl.DataFrame:
    """The ADLB parameters of a trial with ``params`` of them: PARAMCD, PARAM, PARCAT1, AVALU, A1LO, A1HI,
    centre, cv, drift0, drift1, low, high (the plausible range the values are kept within)."""
    rows = []
    for i in range(params):
        if i < len(LABS):
            code, cat, lo, hi, centre, cv, d0, d1 = LABS[i]
            p = PARAMETERS[code]
            name, unit, low, high = p.label, p.unit, float(p.low), float(p.high)
        else:
            code, cat, lo, hi, centre, cv, d0, d1 = f"LB{i + 1:03d}", "OTHER", 70.0, 130.0, 100.0, 0.10, 0.0, 0.02 * (i % 3 - 1)
            name, unit, low, high = f"Laboratory parameter {i + 1}", "U", 0.0, 1.0e6
        rows.append({"PARAMCD": code, "PARAM": f"{name} ({unit})", "PARCAT1": cat, "AVALU": unit, "A1LO": lo, "A1HI": hi,
                     "centre": centre, "cv": cv, "drift0": d0, "drift1": d1, "low": low, "high": high})
    return pl.DataFrame(rows, schema={"PARAMCD": pl.String, "PARAM": pl.String, "PARCAT1": pl.String, "AVALU": pl.String,
                                      "A1LO": pl.Float64, "A1HI": pl.Float64, "centre": pl.Float64, "cv": pl.Float64,
                                      "drift0": pl.Float64, "drift1": pl.Float64, "low": pl.Float64, "high": pl.Float64})


def subject_ids(start: int, stop: int, width: int) -> pl.Series:
    """USUBJIDs of subjects ``start`` .. ``stop - 1``: TK-SIM-0000001, ..."""
    numbers = pl.int_range(start, stop, eager=True).cast(pl.String).str.zfill(width)
    return ("TK-SIM-" + numbers).alias("USUBJID")


def _pick(labels, index: np.ndarray) -> pl.Series:
    """``labels[index]`` as a polars String column (text stays out of numpy's fixed-width arrays)."""
    return pl.Series(list(labels), dtype=pl.String).gather(np.asarray(index, dtype=np.int64))


def _yes(flag: np.ndarray, yes: str = "Y", no: str | None = "N") -> pl.Series:
    return _pick((no, yes), flag.astype(np.int64))


def _const(value: str, m: int) -> pl.Series:
    return pl.repeat(value, m, dtype=pl.String, eager=True)


def _days(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64).astype("timedelta64[D]")


def _dates(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype("datetime64[D]")).cast(pl.Date)


def simulate_chunk(rng: np.random.Generator, start: int, stop: int, design: Design) -> Chunk:
    """The five datasets of subjects ``start`` .. ``stop - 1`` (1-based) of ``design``, drawn from ``rng``."""
    n = stop - start
    ids = subject_ids(start, stop, design.id_width)
    arm = rng.integers(0, 3, n)
    strat1 = rng.random(n) < 0.45
    strat2 = rng.random(n) < 0.40
    age = np.clip(np.rint(rng.normal(62.0, 10.0, n)), 18, 90)
    male = rng.random(n) < 0.55
    entry = rng.integers(0, ACCRUAL_DAYS, n)
    trtsdt = ORIGIN + _days(entry)

    # OS: days from the first dose to death, the cutoff or loss to follow-up
    hr = np.array([a[3] for a in ARMS])[arm]
    log_hazard = (np.log(hr) + np.log(1.02) * (age - 62.0) + np.log(1.20) * male
                  + np.log(1.40) * strat1 + np.log(0.85) * strat2)
    death = rng.exponential(1.0, n) / (np.log(2.0) / BASE_MEDIAN_DAYS * np.exp(log_hazard))
    lost = rng.exponential(365.25 / -np.log(1.0 - LOSS_PER_YEAR), n)
    cutoff = (ACCRUAL_DAYS + FOLLOW_UP_DAYS - entry).astype(np.float64)
    time = np.minimum(np.minimum(death, lost), cutoff)
    aval = np.maximum(np.ceil(time), 1.0)
    died = death <= np.minimum(lost, cutoff)
    desc = _pick(("Alive at data cutoff", "Lost to follow-up", "Death"), np.where(died, 2, (lost < cutoff).astype(np.int64)))
    last_day = aval.astype(np.int64)  # study day of the last record kept: labs, AEs and doses up to it

    # ADEX: every 28 days from day 1 while on treatment (a year at most) and alive
    on_treatment = np.minimum(last_day, TREATMENT_DAYS)
    n_doses = (on_treatment - 1) // VISIT_DAYS + 1
    dose_subject = np.repeat(np.arange(n), n_doses)
    dose_index = np.arange(dose_subject.size) - np.repeat(np.cumsum(n_doses) - n_doses, n_doses)
    dose_day = 1 + VISIT_DAYS * dose_index
    trtedt = trtsdt + _days(1 + VISIT_DAYS * (n_doses - 1) - 1)

    labels = _pick([a[0] for a in ARMS], arm)
    trtan = np.array([a[2] for a in ARMS])[arm]
    adsl = pl.DataFrame({
        "STUDYID": _const(STUDYID, n), "USUBJID": ids, "SUBJID": ids.str.slice(7),
        "ARM": labels, "ARMCD": _pick([a[1] for a in ARMS], arm), "TRT01P": labels, "TRT01PN": trtan,
        "TRT01A": labels, "TRT01AN": trtan, "ITTFL": _const("Y", n), "SAFFL": _const("Y", n),
        "AGE": age, "SEX": _yes(male, "M", "F"), "SEXN": np.where(male, 1.0, 2.0),
        "STRAT1": _yes(strat1, "ECOG 1-2", "ECOG 0"), "STRAT2": _yes(strat2, "Region B", "Region A"),
        "TRTSDT": _dates(trtsdt), "TRTEDT": _dates(trtedt), "DTHFL": _yes(died),
        "DTHDT": pl.Series(np.where(died, trtsdt + _days(aval), np.datetime64("NaT"))).cast(pl.Date),
    })
    adtte = pl.DataFrame({
        "STUDYID": _const(STUDYID, n), "USUBJID": ids, "PARAMCD": _const("OS", n),
        "PARAM": _const("Overall survival (days)", n), "AVAL": aval, "CNSR": (~died).astype(np.int64),
        "EVNTDESC": desc, "STARTDT": _dates(trtsdt), "ADT": _dates(trtsdt + _days(aval)),
    })
    adex = pl.DataFrame({
        "STUDYID": _const(STUDYID, dose_subject.size), "USUBJID": ids.gather(dose_subject),
        "EXTRT": _yes(arm[dose_subject] == 0, "Placebo", "Drug X"),
        "EXDOSE": np.array([a[4] for a in ARMS])[arm[dose_subject]], "EXDOSU": _const("mg", dose_subject.size),
        "ASTDT": _dates(trtsdt[dose_subject] + _days(dose_day - 1)), "ASTDY": dose_day.astype(np.float64),
    })
    # labs for the first lab_subjects subjects of the trial only (every subject by default)
    m = n if design.lab_subjects is None else min(n, max(0, design.lab_subjects - start + 1))
    adlb = _labs(rng, ids.head(m), arm[:m], trtsdt[:m], last_day[:m], design)
    adae = _adverse_events(rng, ids, arm, trtsdt, last_day, died, design)
    return Chunk(adsl=adsl, adtte=adtte, adlb=adlb, adae=adae, adex=adex)


def _labs(rng, ids, arm, trtsdt, last_day, design: Design) -> pl.DataFrame:
    """ADLB: subject x parameter x visit, log-normal, the records after ``last_day`` left out."""
    n, v = ids.len(), design.visits
    spec = lab_parameters(design.params)
    p = spec.height
    cv = spec["cv"].to_numpy()
    frac = np.arange(v) / (v - 1)  # 0 at baseline, 1 at the last visit
    visit_day = np.where(np.arange(v) == 0, 1, VISIT_DAYS * np.arange(v))
    # shape (n, p, v): log value = log centre + subject effect + visit noise + drift(group) x time
    subject_effect = rng.standard_normal((n, p, 1)) * (0.8 * cv)[None, :, None]
    noise = rng.standard_normal((n, p, v)) * (0.6 * cv)[None, :, None]
    drift = (spec["drift0"].to_numpy()[None, :, None] + spec["drift1"].to_numpy()[None, :, None] * arm[:, None, None]) \
        * frac[None, None, :]
    log_value = np.log(spec["centre"].to_numpy())[None, :, None] + subject_effect + noise + drift
    digits = np.where(spec["centre"].to_numpy() < 10.0, 2, 1)
    value = np.exp(log_value)
    value = np.clip(value, spec["low"].to_numpy()[None, :, None], spec["high"].to_numpy()[None, :, None])
    scale = (10.0 ** digits)[None, :, None]
    value = np.round(value * scale) / scale
    base = np.broadcast_to(value[:, :, :1], value.shape)
    keep = np.broadcast_to((visit_day[None, :] <= last_day[:, None])[:, None, :], value.shape).ravel()
    subj = np.broadcast_to(np.arange(n)[:, None, None], value.shape).ravel()[keep]
    par = np.broadcast_to(np.arange(p)[None, :, None], value.shape).ravel()[keep]
    vis = np.broadcast_to(np.arange(v)[None, None, :], value.shape).ravel()[keep]
    names = ["Baseline"] + [f"Week {4 * j}" for j in range(1, v)]
    m = subj.size
    frame = pl.DataFrame({
        "STUDYID": _const(STUDYID, m), "USUBJID": ids.gather(subj), "PARAMCD": spec["PARAMCD"].gather(par),
        "PARAM": spec["PARAM"].gather(par), "PARCAT1": spec["PARCAT1"].gather(par),
        "AVAL": value.ravel()[keep], "AVALU": spec["AVALU"].gather(par), "BASE": base.ravel()[keep],
        "AVISIT": _pick(names, vis), "AVISITN": (4.0 * vis), "ADY": visit_day[vis].astype(np.float64),
        "ADT": _dates(trtsdt[subj] + _days(visit_day[vis] - 1)),
        "ABLFL": _yes(vis == 0, "Y", None), "A1LO": spec["A1LO"].gather(par), "A1HI": spec["A1HI"].gather(par),
    })
    return frame


def _adverse_events(rng, ids, arm, trtsdt, last_day, died, design: Design) -> pl.DataFrame:
    """ADAE: Poisson counts per subject, Zipf-like preferred terms, onset before death or last contact."""
    n = ids.len()
    k = rng.poisson(design.aes_per_subject * np.array(AE_RATE)[arm])
    subj = np.repeat(np.arange(n), k)
    m = subj.size
    n_soc, n_pt = len(SOCS), len(SOCS[0][1])
    weights = 1.0 / np.arange(1, n_soc * n_pt + 1) ** 0.7
    term = rng.choice(n_soc * n_pt, m, p=weights / weights.sum())
    soc, pt = term % n_soc, term // n_soc
    window = np.minimum(last_day, TREATMENT_DAYS)[subj]
    day = 1 + np.floor(rng.random(m) * window).astype(np.int64)
    before = rng.random(m) < 0.05
    day = np.where(before, -rng.integers(1, 15, m), day)
    # a death within the treatment year: the subject's first AE is the fatal one, on the day of death
    first = np.cumsum(k) - k
    fatal_subjects = np.flatnonzero(died & (k > 0) & (last_day <= TREATMENT_DAYS))
    fatal = np.zeros(m, dtype=bool)
    fatal[first[fatal_subjects]] = True
    day = np.where(fatal, last_day[subj] + 1, day)  # OS AVAL days after the first dose (study day 1)
    before &= ~fatal
    serious = (rng.random(m) < 0.03) | fatal
    duration = rng.integers(1, 30, m)
    decod = _pick([t for _, terms in SOCS for t in terms], soc * n_pt + pt)
    start = trtsdt[subj] + _days(np.where(day > 0, day - 1, day))
    return pl.DataFrame({
        "STUDYID": _const(STUDYID, m), "USUBJID": ids.gather(subj), "AETERM": decod.str.to_uppercase(),
        "AEDECOD": decod, "AEBODSYS": _pick([s for s, _ in SOCS], soc),
        "AESEV": _pick(("MILD", "MODERATE", "SEVERE"), np.where(fatal, 2, rng.choice(3, m, p=[0.6, 0.3, 0.1]))),
        "AESER": _yes(serious),
        "AEREL": _pick(("NOT RELATED", "POSSIBLY RELATED", "RELATED"), rng.choice(3, m, p=[0.5, 0.3, 0.2])),
        "AEACN": _pick(("DOSE NOT CHANGED", "DRUG WITHDRAWN", "NOT APPLICABLE"), rng.choice(3, m, p=[0.85, 0.03, 0.12])),
        "AEOUT": _yes(fatal, "FATAL", "RECOVERED/RESOLVED"), "AESDTH": _yes(fatal),
        "TRTEMFL": _yes(~before), "ASTDT": _dates(start),
        "ASTDY": day.astype(np.float64), "AENDY": np.where(fatal, day, day + duration).astype(np.float64),
    })
