import numpy as np
import pytest

from skig.engine import QUADRATURE_RULES as RULES
from skig.engine import quadrature


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_steps", [2, 3, 7, 64])
def test_weights_sum_to_one_and_alphas_in_unit_interval(rule, n_steps):
    alphas, weights = quadrature(rule, n_steps)
    assert alphas.shape == weights.shape == (n_steps,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (alphas >= 0).all() and (alphas <= 1).all()
    assert (weights > 0).all()


@pytest.mark.parametrize(
    "rule, alphas, weights",
    [
        ("riemann_left", [0, 0.25, 0.5, 0.75], [0.25] * 4),
        ("riemann_right", [0.25, 0.5, 0.75, 1.0], [0.25] * 4),
        ("riemann_middle", [0.125, 0.375, 0.625, 0.875], [0.25] * 4),
        ("riemann_trapezoid", [0, 1 / 3, 2 / 3, 1], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    ],
)
def test_riemann_rules_match_captum_definitions(rule, alphas, weights):
    got_alphas, got_weights = quadrature(rule, 4)
    np.testing.assert_allclose(got_alphas, alphas, atol=1e-15)
    np.testing.assert_allclose(got_weights, weights, atol=1e-15)


@pytest.mark.parametrize("n_steps", [1, 2, 5, 10])
def test_gauss_legendre_is_exact_for_polynomials_up_to_degree_2n_minus_1(n_steps):
    alphas, weights = quadrature("gausslegendre", n_steps)
    for degree in range(2 * n_steps):
        assert weights @ alphas**degree == pytest.approx(1 / (degree + 1), rel=1e-12)


def test_midpoint_converges_quadratically():
    errors = []
    for n_steps in (8, 16):
        alphas, weights = quadrature("riemann_middle", n_steps)
        errors.append(abs(weights @ np.exp(alphas) - (np.e - 1)))
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.01)


@pytest.mark.parametrize("rule, n_steps", [("riemann_trapezoid", 1), ("gausslegendre", 0), ("simpson", 4)])
def test_invalid_arguments_raise(rule, n_steps):
    with pytest.raises(ValueError):
        quadrature(rule, n_steps)


@pytest.mark.parametrize("rule", RULES)
def test_matches_captum_approximation_methods(rule):
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters(rule)
    n_steps = 9
    ours_alphas, ours_weights = quadrature(rule, n_steps)
    np.testing.assert_allclose(ours_alphas, alphas(n_steps), atol=1e-7)  # Captum builds Riemann alphas in float32
    expected = np.asarray(step_sizes(n_steps))
    if rule == "riemann_trapezoid":
        # Captum's trapezoid weights sum to (n-1)/n, which breaks completeness; ours are the trapezoid rule proper.
        expected = expected * n_steps / (n_steps - 1)
    np.testing.assert_allclose(ours_weights, expected, atol=1e-12)


@pytest.mark.parametrize("n_steps", [101, 1000, 8192])
def test_large_gauss_legendre_rules_are_exact_on_polynomials_and_fast_to_build(n_steps):
    alphas, weights = quadrature("gausslegendre", n_steps)
    assert alphas.shape == (n_steps,) and (alphas > 0).all() and (alphas < 1).all()
    assert abs(weights.sum() - 1.0) < 1e-13
    # exact for degree <= 2n - 1: the integral of a^k over [0, 1] is 1 / (k + 1)
    for k in (1, 7, 60):
        assert abs((weights * alphas**k).sum() - 1 / (k + 1)) < 1e-13
    again, _ = quadrature("gausslegendre", n_steps)
    again[0] = -1.0  # callers get their own copy of the cached rule
    assert quadrature("gausslegendre", n_steps)[0][0] == alphas[0]
