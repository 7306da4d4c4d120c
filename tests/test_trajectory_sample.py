"""Trajectory figures at any number of subjects: a stated, seeded sample above a figure's share of lines."""

from __future__ import annotations

import numpy as np
import polars as pl

from trialkit.analyses.biomarkers import figures as bf

ARMS = ["Placebo", "Low", "High"]


def records(per_arm: int, params: tuple[str, ...] = ("ALB", "ALT"), visits: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    rows = {"USUBJID": [], "ARM": [], "PARAMCD": [], "VISITN": [], "AVAL": []}
    for a, arm in enumerate(ARMS):
        for i in range(per_arm):
            for p in params:
                for v in range(visits):
                    rows["USUBJID"].append(f"S-{a}-{i:05d}")
                    rows["ARM"].append(arm)
                    rows["PARAMCD"].append(p)
                    rows["VISITN"].append(float(v))
                    rows["AVAL"].append(float(rng.normal(40, 5)))
    return pl.DataFrame(rows)


def summaries(data: pl.DataFrame) -> pl.DataFrame:
    return (data.group_by("PARAMCD", "ARM", "VISITN").agg(pl.col("AVAL").mean().alias("mean"), pl.len().alias("n"))
            .with_columns(pl.format("Visit {}", pl.col("VISITN")).alias("visit"), pl.lit("Chemistry").alias("category"),
                          pl.col("PARAMCD").alias("param_label"), pl.lit("g/L").alias("unit"))
            .rename({"PARAMCD": "param", "ARM": "arm", "VISITN": "visitn"}))


def subject_lines(fig) -> list[int]:
    """Thin subject lines per panel (group means are drawn with markers)."""
    return [sum(1 for line in ax.get_lines() if line.get_marker() in ("None", None, "")) for ax in fig.axes
            if ax.get_visible()]


def caption(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts)


def test_a_large_group_is_drawn_by_a_sample_and_the_caption_says_how_many_of_how_many_and_how():
    data = records(400)
    traj = bf.sample_trajectories(data, ARMS)
    fig = bf.figure_trajectories(traj, summaries(data), ["ALB", "ALT"], ARMS, "Chemistry")
    share = bf.TRAJECTORY_LINES // (2 * 3)
    assert subject_lines(fig) == [3 * share, 3 * share]
    text = caption(fig).replace("\n", " ")
    assert f"Placebo {share} of 400; Low {share} of 400; High {share} of 400" in text
    assert f"default_rng({bf.TRAJECTORY_SEED})" in text and "group means of AVAL by visit over every subject" in text


def test_a_small_trial_draws_every_subject_and_says_so():
    data = records(10)
    fig = bf.figure_trajectories(data, summaries(data), ["ALB", "ALT"], ARMS, "Chemistry")
    assert subject_lines(fig) == [30, 30]
    assert "Thin lines: individual subjects" in caption(fig) and "random sample" not in caption(fig)


def test_every_panel_and_figure_draws_a_subset_of_the_same_seeded_subjects_whatever_the_record_order():
    data = records(400)
    traj = bf.sample_trajectories(data, ARMS)
    again = bf.sample_trajectories(data.sample(fraction=1.0, shuffle=True, seed=7), ARMS)
    few, _ = traj.drawn(50)
    many, _ = traj.drawn(120)
    subjects = lambda df, p: set(df.filter(pl.col("PARAMCD") == p).get_column("USUBJID"))  # noqa: E731
    assert subjects(few, "ALB") == subjects(few, "ALT")
    assert subjects(few, "ALB") <= subjects(many, "ALB")
    assert subjects(again.drawn(50)[0], "ALB") == subjects(few, "ALB")
    assert few.group_by("ARM").agg(pl.col("USUBJID").n_unique()).get_column("USUBJID").to_list() == [50, 50, 50]


def test_a_sampled_trajectory_svg_stays_under_a_megabyte():
    from trialkit.analyses.figures import render

    data = records(2000, params=("ALB", "ALT", "AST", "TBIL", "CREAT", "SODIUM", "INR"), visits=8)
    fig = bf.figure_trajectories(data, summaries(data), ["ALB", "ALT", "AST", "TBIL", "CREAT", "SODIUM", "INR"], ARMS,
                                 "Chemistry")
    assert len(render(fig, *fig.get_size_inches(), tight=False)["svg"]) < 1_000_000
