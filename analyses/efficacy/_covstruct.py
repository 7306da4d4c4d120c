"""Residual covariance structures for the MMRM: Sigma (k x k visits) from its parameters.

Each structure has two parameterisations:

* the *natural* one, SAS PROC MIXED's covariance parameters (``UN(i,j)`` covariances; ``CS``
  and ``Residual``; AR(1) ``rho`` and ``Residual``; TOEP lag covariances; the heterogeneous
  structures' variances ``Var(j)`` and correlations). Kenward-Roger's second-order term
  depends on the parameterisation, so the KR adjustment, the Hessian and the Satterthwaite
  gradients are taken in these parameters, as SAS does. ``dsigma``/``d2sigma`` give the exact
  first and second derivatives of Sigma (second ones are zero for the linear structures
  UN, CS, TOEP).
* the *optimisation* one, unconstrained, where every value gives a positive definite Sigma:
  log-Cholesky for UN; log variances; a bounded transform for the CS correlation;
  ``tanh`` for the AR(1) correlation; partial autocorrelations (Durbin-Levinson) through
  ``tanh`` for Toeplitz.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STRUCTURES", "CovStructure", "make_structure"]

STRUCTURES = ("us", "cs", "ar1", "toep", "csh", "ar1h", "toeph")
MIN_VISITS = {"us": 1, "cs": 2, "ar1": 2, "toep": 2, "csh": 2, "ar1h": 2, "toeph": 2}


def _levinson(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations rho_1..rho_q from partial autocorrelations (Durbin-Levinson)."""
    q = len(pacf)
    rho = np.zeros(q)
    phi = np.zeros(0)
    for n in range(q):
        a = pacf[n]
        if n == 0:
            rho[0] = a
            phi = np.array([a])
            continue
        # rho_{n+1} = sum_j phi_{n,j} rho_{n+1-j} + a * (1 - sum_j phi_{n,j} rho_j)
        prev = rho[:n]
        rho[n] = phi @ prev[::-1] + a * (1.0 - phi @ prev)
        phi = np.concatenate([phi - a * phi[::-1], [a]])
    return rho


def _pacf(rho: np.ndarray) -> np.ndarray:
    """Partial autocorrelations from autocorrelations (inverse of ``_levinson``)."""
    q = len(rho)
    out = np.zeros(q)
    phi = np.zeros(0)
    for n in range(q):
        if n == 0:
            a = rho[0]
        else:
            prev = rho[:n]
            a = (rho[n] - phi @ prev[::-1]) / (1.0 - phi @ prev)
        a = float(np.clip(a, -0.95, 0.95))
        out[n] = a
        phi = np.concatenate([phi - a * phi[::-1], [a]]) if n else np.array([a])
    return out


class CovStructure:
    """One covariance structure over k visits (see the module docstring)."""

    def __init__(self, name: str, k: int) -> None:
        self.name, self.k = name, k
        self.hetero = name in ("csh", "ar1h", "toeph")
        self.linear = name in ("us", "cs", "toep")
        lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
        self._lag = lag
        if name == "us":
            rows, cols = np.tril_indices(k)
            order = np.lexsort((cols, rows))  # UN(1,1), UN(2,1), UN(2,2), UN(3,1), ...
            self._tri = (rows[order], cols[order])
            self.names = [f"UN({i + 1},{j + 1})" for i, j in zip(*self._tri)]
        elif name == "cs":
            self.names = ["CS", "Residual"]
        elif name == "ar1":
            self.names = ["AR(1)", "Residual"]
        elif name == "toep":
            self.names = [f"TOEP({h + 1})" for h in range(1, k)] + ["Residual"]
        else:
            var = [f"Var({j + 1})" for j in range(k)]
            corr = {"csh": ["CSH"], "ar1h": ["ARH(1)"], "toeph": [f"TOEPH({h})" for h in range(1, k)]}[name]
            self.names = var + corr
        self.n = len(self.names)

    # ---- natural parameters -> Sigma and its derivatives ----------------------------------
    def _corr(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correlation matrix C and dC/dr (nr, k, k) for the correlation parameters r."""
        k, lag = self.k, self._lag
        if self.name in ("cs", "csh"):
            c = np.where(lag == 0, 1.0, r[0])
            return c, (lag != 0).astype(float)[None]
        if self.name in ("ar1", "ar1h"):
            c = r[0] ** lag
            d = np.where(lag == 0, 0.0, lag * r[0] ** np.maximum(lag - 1, 0))
            return c, d[None]
        full = np.concatenate([[1.0], r])
        c = full[lag]
        d = np.stack([(lag == h).astype(float) for h in range(1, k)])
        return c, d

    def sigma(self, psi: np.ndarray) -> np.ndarray:
        k = self.k
        if self.name == "us":
            s = np.zeros((k, k))
            s[self._tri] = psi
            return s + np.tril(s, -1).T
        if self.name == "cs":
            return psi[0] * np.ones((k, k)) + psi[1] * np.eye(k)
        if self.name == "toep":
            full = np.concatenate([[psi[-1]], psi[:-1]])
            return full[self._lag]
        if self.name == "ar1":
            return psi[1] * psi[0] ** self._lag
        sd = np.sqrt(psi[:k])
        c, _ = self._corr(psi[k:])
        return sd[:, None] * c * sd[None, :]

    def dsigma(self, psi: np.ndarray) -> np.ndarray:
        """dSigma/dpsi_h, shape (n, k, k)."""
        k = self.k
        out = np.zeros((self.n, k, k))
        if self.name == "us":
            i, j = self._tri
            out[np.arange(self.n), i, j] = 1.0
            out[np.arange(self.n), j, i] = 1.0
            return out
        if self.name == "cs":
            out[0] = 1.0
            out[1] = np.eye(k)
            return out
        if self.name == "toep":
            for h in range(1, k):
                out[h - 1] = (self._lag == h)
            out[-1] = np.eye(k)
            return out
        if self.name == "ar1":
            c, dc = self._corr(psi[:1])
            out[0] = psi[1] * dc[0]
            out[1] = c
            return out
        sd = np.sqrt(psi[:k])
        c, dc = self._corr(psi[k:])
        for a in range(k):
            e = np.zeros(k)
            e[a] = 0.5 / sd[a]
            out[a] = e[:, None] * c * sd[None, :] + sd[:, None] * c * e[None, :]
        out[k:] = sd[None, :, None] * dc * sd[None, None, :]
        return out

    def d2sigma(self, psi: np.ndarray) -> np.ndarray | None:
        """d2Sigma/dpsi_h dpsi_j, shape (n, n, k, k); None for the linear structures."""
        if self.linear:
            return None
        n = self.n
        if self.name == "ar1":
            out = np.zeros((n, n, self.k, self.k))
            lag, r = self._lag, psi[0]
            out[0, 0] = psi[1] * np.where(lag < 2, 0.0, lag * (lag - 1) * r ** np.maximum(lag - 2, 0))
            out[0, 1] = out[1, 0] = np.where(lag == 0, 0.0, lag * r ** np.maximum(lag - 1, 0))
            return out
        # heterogeneous: central differences of the exact first derivatives
        out = np.zeros((n, n, self.k, self.k))
        for h in range(n):
            step = 1e-5 * max(abs(psi[h]), 1e-2)
            up, dn = psi.copy(), psi.copy()
            up[h] += step
            dn[h] -= step
            out[h] = (self.dsigma(up) - self.dsigma(dn)) / (2 * step)
        return 0.5 * (out + out.transpose(1, 0, 2, 3))

    def from_sigma(self, sigma: np.ndarray) -> np.ndarray:
        """Natural parameters of a covariance matrix that has this structure."""
        k, lag = self.k, self._lag
        if self.name == "us":
            return sigma[self._tri]
        if self.name == "cs":
            return np.array([sigma[0, 1], sigma[0, 0] - sigma[0, 1]])
        if self.name == "ar1":
            return np.array([sigma[0, 1] / sigma[0, 0], sigma[0, 0]])
        if self.name == "toep":
            return np.concatenate([[sigma[0, h] for h in range(1, k)], [sigma[0, 0]]])
        var = np.diag(sigma).copy()
        corr = sigma / np.sqrt(np.outer(var, var))
        if self.name in ("csh", "ar1h"):
            return np.concatenate([var, [corr[0, 1]]])
        return np.concatenate([var, [corr[0, h] for h in range(1, k)]])

    # ---- optimisation parameters --------------------------------------------------------
    def _cs_lower(self) -> float:
        return -1.0 / (self.k - 1)

    def natural(self, theta: np.ndarray) -> np.ndarray:
        """Natural parameters from the unconstrained optimisation parameters."""
        k = self.k
        if self.name == "us":
            lo = np.zeros((k, k))
            lo[np.tril_indices(k)] = theta
            lo[np.diag_indices(k)] = np.exp(np.diag(lo))
            return (lo @ lo.T)[self._tri]
        if self.name in ("cs", "csh"):
            lo = self._cs_lower()
            rho = np.array([lo + (1 - lo) / (1 + np.exp(-theta[-1]))])
        elif self.name in ("ar1", "ar1h"):
            rho = np.tanh(theta[-1:])
        else:
            rho = _levinson(np.tanh(theta[-(k - 1):]))
        if self.hetero:
            return np.concatenate([np.exp(theta[:k]), rho])
        var = np.exp(theta[0])
        if self.name == "cs":
            return np.array([var * rho[0], var * (1 - rho[0])])
        if self.name == "ar1":
            return np.array([rho[0], var])
        return np.concatenate([var * rho, [var]])

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d natural / d theta (n, n): exact for UN, central differences otherwise (no N cost)."""
        if self.name == "us":
            k = self.k
            lo = np.zeros((k, k))
            lo[np.tril_indices(k)] = theta
            lo[np.diag_indices(k)] = np.exp(np.diag(lo))
            ti, tj = np.tril_indices(k)
            jac = np.zeros((self.n, len(theta)))
            for col, (a, b) in enumerate(zip(ti, tj)):
                dl = np.zeros((k, k))
                dl[a, b] = lo[a, b] if a == b else 1.0
                ds = dl @ lo.T + lo @ dl.T
                jac[:, col] = ds[self._tri]
            return jac
        jac = np.zeros((self.n, len(theta)))
        for h in range(len(theta)):
            up, dn = theta.copy(), theta.copy()
            up[h] += 1e-6
            dn[h] -= 1e-6
            jac[:, h] = (self.natural(up) - self.natural(dn)) / 2e-6
        return jac

    def start(self, emp: np.ndarray) -> np.ndarray:
        """Optimisation parameters near an empirical covariance matrix ``emp``."""
        k = self.k
        var = np.clip(np.diag(emp), 1e-8, None)
        sd = np.sqrt(var)
        corr = emp / np.outer(sd, sd)
        if self.name == "us":
            try:
                lo = np.linalg.cholesky(emp)
            except np.linalg.LinAlgError:
                lo = np.diag(sd)
            lo = lo.copy()
            lo[np.diag_indices(k)] = np.log(np.diag(lo))
            return lo[np.tril_indices(k)]
        lag = self._lag
        if self.name in ("cs", "csh"):
            lo = self._cs_lower()
            r = float(np.clip(corr[lag > 0].mean(), lo + 0.05 * (1 - lo), 0.95))
            u = (r - lo) / (1 - lo)
            tail = np.array([np.log(u / (1 - u))])
        elif self.name in ("ar1", "ar1h"):
            tail = np.array([np.arctanh(float(np.clip(corr[lag == 1].mean(), -0.9, 0.9)))])
        else:
            rho = np.array([corr[lag == h].mean() for h in range(1, k)])
            tail = np.arctanh(_pacf(np.clip(rho, -0.9, 0.9)))
        head = np.log(var) if self.hetero else np.array([np.log(var.mean())])
        return np.concatenate([head, tail])

    def valid(self, psi: np.ndarray) -> bool:
        """Whether natural parameters give a positive definite Sigma."""
        if not np.all(np.isfinite(psi)):
            return False
        try:
            np.linalg.cholesky(self.sigma(psi))
        except np.linalg.LinAlgError:
            return False
        return True


def make_structure(name: str, k: int) -> CovStructure:
    return CovStructure(name, k)
