"""The closed-form normal and chi-square probabilities (analyses/probability.py) against scipy.special.

scipy is the reference here (it is installed with trialkit's dependencies); the survival stage uses the
closed forms to avoid scipy.special's import time.
"""

import math

import numpy as np
import pytest
from scipy.special import chdtrc, ndtr, ndtri

from trialkit.analyses.probability import chisq_upper, conf_z, normal_quantile, normal_two_sided_p


@pytest.mark.parametrize("p", [1e-12, 0.001, 0.05, 0.5, 0.8, 0.9, 0.95, 0.975, 0.995, 0.999999])
def test_normal_quantile_matches_scipy_ndtri(p):
    assert normal_quantile(p) == pytest.approx(float(ndtri(p)), rel=1e-12)


def test_conf_z_is_the_two_sided_critical_value():
    assert conf_z(0.95) == pytest.approx(1.959963984540054, rel=1e-14)
    assert conf_z(0.90) == pytest.approx(float(ndtri(0.95)), rel=1e-14)


@pytest.mark.parametrize("z", [0.0, 0.3, -1.96, 3.5, -8.0, 20.0, 37.5])
def test_two_sided_normal_p_matches_scipy_for_numbers_and_arrays(z):
    ref = float(2 * ndtr(-abs(z)))
    assert normal_two_sided_p(z) == pytest.approx(ref, rel=1e-12)
    arr = normal_two_sided_p(np.array([z, np.nan]))
    assert arr[0] == pytest.approx(ref, rel=1e-12) and math.isnan(arr[1])


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 8, 11, 30, 101, 1000])
@pytest.mark.parametrize("x", [1e-8, 0.5, 1.0, 3.84, 10.0, 47.3, 250.0, 1200.0])
def test_chisq_upper_tail_matches_scipy_chdtrc(df, x):
    ref = float(chdtrc(df, x))
    assert chisq_upper(x, df) == pytest.approx(ref, rel=1e-10, abs=1e-300)


def test_chisq_upper_tail_edges():
    assert chisq_upper(0.0, 3) == 1.0
    assert math.isnan(chisq_upper(float("nan"), 2))
    with pytest.raises(ValueError, match="positive integer"):
        chisq_upper(1.0, 1.5)
