"""Gauss rules for the logarithmic weights of Integrated Hessians: ``-ln t`` and ``-t ln t`` on [0, 1].

Integrated Hessians (Janizek et al., 2021) integrate the gradient against ``-ln t`` and the Hessian against
``-t ln t`` along the path. Both weights are singular (or not smooth) at t = 0, where Gauss-Legendre converges
slowly; a Gauss rule *for the weight* integrates ``weight(t) p(t)`` exactly for polynomials ``p`` of degree up to
``2 n - 1`` and converges spectrally for smooth integrands. The rules come from the modified Chebyshev algorithm
(Gautschi, *Orthogonal Polynomials*, 2004, §2.1.7) on the closed-form modified moments of the weights against the
monic shifted Legendre polynomials, which is well conditioned for these weights, then Golub-Welsch.
"""

from __future__ import annotations

import functools
from math import comb

import numpy as np

#: Most nodes of a log-weighted rule: the moments of the monic polynomials fall as 4**-k and stay representable
#: in float64 up to here; rules converge to float64 precision long before.
MAX_LOG_NODES = 128


def log_rule(n_nodes: int, power: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on (0, 1) and weights of the n-point Gauss rule for the weight ``t**power * (-ln t)``.

    Parameters
    ----------
    n_nodes : int
        Number of nodes, 1 to ``MAX_LOG_NODES``.
    power : {0, 1}
        0 for ``-ln t`` (weights sum to 1), 1 for ``-t ln t`` (weights sum to 1/4).

    Returns
    -------
    nodes, weights : ndarray of shape (n_nodes,)

    Examples
    --------
    >>> nodes, weights = log_rule(4, 0)
    >>> round(float(weights @ nodes**3), 12)  # integral of -ln(t) t^3 on [0, 1] is 1/16
    0.0625
    """
    if not 1 <= n_nodes <= MAX_LOG_NODES:
        raise ValueError(f"log-weighted rules have 1 to {MAX_LOG_NODES} nodes, got {n_nodes}.")
    if power not in (0, 1):
        raise ValueError(f"power must be 0 or 1, got {power}.")
    nodes, weights = _log_rule(n_nodes, power)
    return nodes.copy(), weights.copy()


@functools.lru_cache(maxsize=16)
def _log_rule(n_nodes: int, power: int) -> tuple[np.ndarray, np.ndarray]:
    n_moments = 2 * n_nodes
    # Monic shifted Legendre on [0, 1]: p_{k+1} = (t - 1/2) p_k - b_k p_{k-1}, b_k = k^2 / (4 (4 k^2 - 1)).
    a = np.full(n_moments + 1, 0.5)
    k = np.arange(n_moments + 1, dtype=np.float64)
    b = np.where(k > 0, k**2 / (4.0 * (4.0 * k**2 - 1.0)), 0.0)
    # integral_0^1 -ln(t) P_k(2t - 1) dt = (-1)^k / (k (k + 1)) for k >= 1, and 1 for k = 0; p_k = P_k / C(2k, k).
    moments = np.array(
        [1.0] + [(-1.0) ** j / (j * (j + 1)) / comb(2 * j, j) for j in range(1, n_moments + 2)], dtype=np.float64
    )
    if power == 1:  # t p_k = p_{k+1} + a_k p_k + b_k p_{k-1}
        shifted = moments[1 : n_moments + 2] + a[: n_moments + 1] * moments[: n_moments + 1]
        shifted[1:] += b[1 : n_moments + 1] * moments[:n_moments]
        moments = shifted
    alpha, beta = _modified_chebyshev(moments[:n_moments], a, b, n_nodes)
    jacobi = np.diag(alpha) + np.diag(np.sqrt(beta[1:]), 1) + np.diag(np.sqrt(beta[1:]), -1)
    nodes, vectors = np.linalg.eigh(jacobi)
    return nodes, beta[0] * vectors[0] ** 2


def _modified_chebyshev(moments: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Recurrence coefficients of the first ``n`` monic orthogonal polynomials from ``2 n`` modified moments."""
    alpha, beta = np.zeros(n), np.zeros(n)
    previous = np.zeros(2 * n)
    current = moments.copy()
    alpha[0] = a[0] + moments[1] / moments[0]
    beta[0] = moments[0]
    for k in range(1, n):
        following = np.zeros(2 * n)
        for index in range(k, 2 * n - k):
            following[index] = (
                current[index + 1]
                - (alpha[k - 1] - a[index]) * current[index]
                - beta[k - 1] * previous[index]
                + b[index] * current[index - 1]
            )
        alpha[k] = a[k] + following[k + 1] / following[k] - current[k] / current[k - 1]
        beta[k] = following[k] / current[k - 1]
        previous, current = current, following
    return alpha, beta
