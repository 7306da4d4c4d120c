"""The Guyot et al. (2012) algorithm for one curve: digitised Kaplan-Meier points -> patient times and events.

Method: Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival data:
reconstructing the data from published Kaplan-Meier survival curves. BMC Med Res Methodol 2012;12:9,
section "Methods", implemented from its description (no code of theirs was used).

Input: the digitised points (T_k, S_k) of one arm, cleaned (``inputs.clean_curves``: sorted, S
non-increasing, starting at (0, 1), with a point at every published at-risk time), the published
numbers at risk n_i at times t_i (t_1 = 0) and, when reported, the arm's total number of events D.
Interval i runs from the point at t_i (index lower_i) to the point before t_{i+1} (upper_i).

For each interval but the last:

1. first guess of the number censored in it: nc_i = round(n_i S(t_{i+1}) / S(t_i) - n_{i+1}), at least 0;
2. the nc_i censoring times are spread evenly over [t_i, t_{i+1}):
   t_i + j (t_{i+1} - t_i) / (nc_i + 1), j = 1..nc_i; c_k counts those in [T_k, T_{k+1});
3. at each point k of the interval, in order, the events that make the reconstructed KM follow the
   digitised curve: d_k = round(n_k (1 - S_k / KM_k-)), KM_k- the reconstructed KM before T_k, then
   n_{k+1} = n_k - d_k - c_k and KM_k = KM_k- (1 - d_k / n_k);
4. the reconstructed number at risk at t_{i+1} is compared with the published n_{i+1}; while they
   differ, nc_i += (reconstructed - published) and steps 2-3 are run again (when the adjustment
   cycles, or nc_i would go below 0 or above the number at risk, the nc_i closest to the published
   number is kept, the first tried of equally close ones; the difference is reported in the summary).

The last interval has no published number at its end. With the total events D reported, nc is
adjusted as in step 4 until the reconstructed events of the whole arm equal D (the "total events"
variant; with an at-risk number at time 0 only, the whole curve is that one interval). Without D,
censoring in the last interval is assumed to go on at the average rate of the earlier intervals:
nc = round(censored so far x (last time - t_last) / (t_last - 0)), at most the number at risk (0
when there is no earlier interval: the curve alone says nothing about censoring).
Whoever is still at risk after the last point is censored at the last digitised time.

The loops run over intervals, adjustment iterations and the digitised points of one curve (step 3 is a
recursion: each d_k depends on the KM reached before it); patient rows are built with ``numpy.repeat``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ArmReconstruction", "reconstruct_arm", "MAX_ADJUSTMENTS"]

#: most adjustments of one interval's censoring count (steps 2-4) before the closest one is kept
MAX_ADJUSTMENTS = 200


@dataclass(frozen=True, eq=False)
class ArmReconstruction:
    """One arm's reconstructed patients and how well the reconstruction met the published numbers.

    ``time`` and ``event`` (1 = event, 0 = censored) have one entry per patient, events first at each time.
    ``risk_time`` / ``risk_published`` / ``risk_reconstructed``: the at-risk table and the number the
    reconstruction has at risk at each of its times. ``events_target`` is the reported total (None when
    not reported).
    """

    time: np.ndarray
    event: np.ndarray
    risk_time: np.ndarray
    risk_published: np.ndarray
    risk_reconstructed: np.ndarray
    events_target: int | None

    @property
    def n(self) -> int:
        return int(self.time.size)

    @property
    def events(self) -> int:
        return int(self.event.sum())


def _round(x: float) -> int:
    """Round half up (the paper's round; Python's own round goes to the even neighbour)."""
    return int(np.floor(x + 0.5))


def _censor_times(start: float, end: float, nc: int) -> np.ndarray:
    """Step 2: nc times spread evenly over [start, end), none at either end."""
    return start + np.arange(1, nc + 1) * (end - start) / (nc + 1)


def _interval(t: np.ndarray, s: np.ndarray, lo: int, up: int, end: float, nc: int, n0: int,
              km0: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Steps 2-3 for points lo..up: (events per point, censorings per point, at risk after, KM after).

    ``end`` is the time the censorings are spread up to; censorings beyond the number at risk are not made.
    """
    cens = _censor_times(t[lo], end, nc)
    edges = np.append(t[lo:up + 1], np.inf)
    counts = np.diff(np.searchsorted(cens, edges, side="left"))  # censorings in [T_k, T_k+1)
    d = np.zeros(up - lo + 1, dtype=np.int64)
    c = np.zeros(up - lo + 1, dtype=np.int64)
    n, km = n0, km0
    for j in range(up - lo + 1):  # step 3, one digitised point at a time
        k = lo + j
        if n > 0 and km > 0:
            d[j] = min(max(_round(n * (1.0 - s[k] / km)), 0), n)
            if d[j]:
                km *= 1.0 - d[j] / n
        c[j] = min(int(counts[j]), n - d[j])
        n -= d[j] + c[j]
    return d, c, n, km


def _search(run, nc: int, limit: int, miss) -> tuple[int, tuple]:
    """Step 4: adjust nc by the miss until it is 0, cycles or leaves [0, limit]; the closest nc and its run."""
    tried: dict[int, tuple] = {}
    for _ in range(MAX_ADJUSTMENTS):
        nc = min(max(nc, 0), limit)
        if nc in tried:
            break
        result = run(nc)
        tried[nc] = result
        off = miss(result)
        if off == 0:
            return nc, result
        nc += off
    best = min(tried, key=lambda k: abs(miss(tried[k])))  # on a tie, the one tried first
    return best, tried[best]


def _censor_rows(t: np.ndarray, lo: int, end: float, nc: int, c: np.ndarray) -> np.ndarray:
    """The censoring times made in one interval: of the times in [T_k, T_k+1), the first c_k."""
    cens = _censor_times(t[lo], end, nc)
    edges = t[lo:lo + c.size]
    bin_of = np.searchsorted(edges, cens, side="right") - 1
    rank = np.arange(cens.size) - np.searchsorted(bin_of, bin_of, side="left")
    return cens[rank < c[bin_of]]


def reconstruct_arm(t: np.ndarray, s: np.ndarray, risk_t: np.ndarray, risk_n: np.ndarray,
                    total_events: int | None = None) -> ArmReconstruction:
    """Guyot's algorithm for one arm (module docstring).

    ``t``, ``s``: cleaned digitised points (t[0] = 0, s[0] = 1, s non-increasing, every ``risk_t`` among ``t``);
    ``risk_t``, ``risk_n``: the at-risk table (risk_t[0] = 0, risk_n non-increasing);
    ``total_events``: the reported total events of the arm, or None.
    """
    t = np.asarray(t, dtype=float)
    s = np.asarray(s, dtype=float)
    risk_t = np.asarray(risk_t, dtype=float)
    risk_n = np.asarray(risk_n, dtype=np.int64)
    lower = np.searchsorted(t, risk_t, side="left")
    upper = np.append(lower[1:] - 1, t.size - 1)
    d_all = np.zeros(t.size, dtype=np.int64)
    censored: list[np.ndarray] = []
    at_start = np.zeros(risk_t.size, dtype=np.int64)
    n, km = int(risk_n[0]), 1.0
    last = risk_t.size - 1
    for i in range(risk_t.size):
        lo, up = int(lower[i]), int(upper[i])
        at_start[i] = n
        if i < last:
            end = t[lower[i + 1]]
            ratio = s[lower[i + 1]] / s[lo] if s[lo] > 0 else 0.0
            guess = _round(risk_n[i] * ratio - risk_n[i + 1])
            target = int(risk_n[i + 1])
            nc, (d, c, n_after, km_after) = _search(
                lambda k, lo=lo, up=up, end=end, n=n, km=km: _interval(t, s, lo, up, end, k, n, km),
                guess, n, lambda r, target=target: r[2] - target)
        else:
            end = t[up]
            done = int(d_all[:lo].sum())
            before = int(sum(x.size for x in censored))
            rate_guess = _round(before * (t[up] - t[lo]) / (t[lo] - t[0])) if i > 0 and t[lo] > t[0] else 0
            run = lambda k, lo=lo, up=up, end=end, n=n, km=km: _interval(t, s, lo, up, end, k, n, km)  # noqa: E731
            if total_events is None:
                nc = min(rate_guess, n)
                d, c, n_after, km_after = run(nc)
            else:
                nc, (d, c, n_after, km_after) = _search(
                    run, rate_guess, n, lambda r: done + int(r[0].sum()) - int(total_events))
        d_all[lo:up + 1] = d
        censored.append(_censor_rows(t, lo, end, nc, c))
        n, km = n_after, km_after
    event_times = np.repeat(t, d_all)
    cens = np.concatenate(censored + [np.full(n, t[-1])])
    time = np.concatenate([event_times, cens])
    event = np.concatenate([np.ones(event_times.size, dtype=np.int64), np.zeros(cens.size, dtype=np.int64)])
    order = np.lexsort((1 - event, time))  # by time, events before censorings at the same time
    return ArmReconstruction(time[order], event[order], risk_t, risk_n, at_start,
                             None if total_events is None else int(total_events))
