"""Quadrature rules for the path integral: pure functions from a step count to (alphas, weights).

Definitions follow Captum's ``approximation_methods`` so that results agree with Captum on the same settings.
"""

from __future__ import annotations

import functools

import numpy as np

QUADRATURE_RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


#: The rule that keeps every point taken when an interval is bisected
#: (:func:`~skig.engine._integration.refine_intervals`), the choice where quadrature error falls as ``1 / steps``.
NESTED_RULE = "riemann_trapezoid"


def nested(rule: str, max_steps: int) -> bool:
    """Whether adaptive steps by ``rule`` up to ``max_steps`` points can bisect intervals: the rule keeps the points
    already taken (the trapezoid rule does), and there is room for a bisection (3 points: 1 interval, then 2)."""
    return rule == NESTED_RULE and max_steps >= 3


def min_steps(rule: str) -> int:
    """The fewest points ``rule`` takes: 2 for the trapezoid rule (both ends), else 1."""
    return 2 if rule == "riemann_trapezoid" else 1


def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on [0, 1] and their weights for integrating along the path.

    Parameters
    ----------
    rule : {"riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"}
        The quadrature rule.
    n_steps : int
        Number of points (model evaluations per path). ``"riemann_trapezoid"`` needs at least 2.

    Returns
    -------
    alphas : ndarray of shape (n_steps,)
        Positions along the path, in [0, 1].
    weights : ndarray of shape (n_steps,)
        Weights summing to 1.

    Examples
    --------
    >>> alphas, weights = quadrature("riemann_middle", 4)
    >>> alphas
    array([0.125, 0.375, 0.625, 0.875])
    >>> float(weights.sum())
    1.0
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}.")
    if rule == "gausslegendre":
        nodes, node_weights = _legendre(n_steps)
        return 0.5 * (nodes + 1.0), 0.5 * node_weights
    if rule == "riemann_trapezoid":
        if n_steps < min_steps(rule):
            raise ValueError("rule='riemann_trapezoid' needs n_steps >= 2, got 1.")
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, n_steps), weights
    weights = np.full(n_steps, 1.0 / n_steps)
    if rule == "riemann_left":
        return np.linspace(0.0, 1.0 - 1.0 / n_steps, n_steps), weights
    if rule == "riemann_right":
        return np.linspace(1.0 / n_steps, 1.0, n_steps), weights
    if rule == "riemann_middle":
        return np.linspace(0.5 / n_steps, 1.0 - 0.5 / n_steps, n_steps), weights
    raise ValueError(f"rule must be one of {list(QUADRATURE_RULES)}, got {rule!r}.")


def _legendre(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1], computed once per step count (copies are handed out)."""
    nodes, weights = _legendre_cached(n_steps)
    return nodes.copy(), weights.copy()


@functools.lru_cache(maxsize=32)
def _legendre_cached(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    # numpy's companion-matrix eigenvalues cost O(n^3) (seconds at 1,000 nodes); scipy's Newton iteration on
    # asymptotic guesses is O(n^2) and as accurate (1e-15 here). numpy's below 100 keeps earlier results bit-exact.
    if n_steps <= 100:
        return np.polynomial.legendre.leggauss(n_steps)
    from scipy.special import roots_legendre

    return roots_legendre(n_steps)
