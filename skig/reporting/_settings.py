"""What applies to the method an explainer uses: the settings that change its numbers, the stability checks that
can move its ranking, and whether its attributions add up (so that a completeness verdict means something).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..engine import METHODS

#: Plain names of the methods, as a reviewer reads them (the registry's labels).
METHOD_NAMES = {name: method.label for name, method in METHODS.items()}

#: What each setting that does not belong to one method does, in one line (methods describe their own parameters).
MEANINGS = {
    "method": "attribution method",
    "output": "output space explained",
    "target": "class (or output) explained",
    "baseline": "where every path starts (see the baseline table)",
    "gradient_rule": "how gradients pass back through ReLU modules",
    "features": "attributions on raw columns or on the encoded columns the model reads",
    "n_steps": "model evaluations per path",
    "rule": "how the path integral is computed: 'exact' on piecewise-linear nets, else a quadrature rule",
    "tol": "completeness tolerance per row for n_steps='auto' (relative to |prediction - base value|)",
    "max_steps": "most steps a row may get with n_steps='auto'",
    "n_baselines": "background rows drawn (sample) or centroids (kmeans)",
    "baseline_weights": "weights of the given baseline rows",
    "random_state": "seed of every random draw",
}
#: The parameters some method reads (each method says which apply to it).
_METHOD_PARAMETERS = tuple(dict.fromkeys(name for method in METHODS.values() for name in method.parameters))
#: Settings that never change the numbers (where and how fast they are computed, what the output is called).
NO_EFFECT = {"model", "progress", "batch_size", "n_threads", "device", "outcome"}
_DRAWN_BASELINES = ("sample", "kmeans")


def _drawn_baseline(explainer) -> bool:
    return isinstance(explainer.baseline, str) and explainer.baseline in _DRAWN_BASELINES


def applicable_settings(explainer) -> dict[str, object]:
    """The fitted explainer's parameters that change its numbers for the method it uses, in a reading order.

    Which settings apply is the method's knowledge under the integrator ``fit`` chose (``explainer.plan_``). A
    ``rule`` resolved to something else than its value (``"auto"``) shows both. A parameter this table does not know
    (added to the explainer later) is listed: hiding a setting that matters is worse than showing one that does not.
    """
    params = explainer.get_params(deep=False)
    plan = explainer.plan_
    by_method = plan.applicable_settings()
    applies = {
        "method": True,
        "output": True,
        "target": True,
        "baseline": True,
        "baseline_weights": not isinstance(params["baseline"], str) and params["baseline_weights"] is not None,
        "n_baselines": _drawn_baseline(explainer),
        "gradient_rule": True,
        "features": True,
        **by_method,
        "random_state": by_method["random_state"] or _drawn_baseline(explainer),
    }
    for name in _METHOD_PARAMETERS:  # other methods' parameters do not apply
        applies.setdefault(name, False)
    settings = {name: params[name] for name, used in applies.items() if used and name in params}
    if "rule" in settings and settings["rule"] != plan.integrator.rule:
        settings["rule"] = f"{settings['rule']} ({plan.integrator.rule})"
    settings.update({name: value for name, value in params.items() if name not in applies and name not in NO_EFFECT})
    return settings


def meaning(name: str, method: str) -> str:
    """What setting ``name`` does for ``method``, in one line ("" for a setting this table does not know)."""
    return METHODS[method].parameters.get(name) or MEANINGS.get(name, "")


def completeness_applies(explainer) -> str | None:
    """None when attributions should add up to prediction - base value; else why a verdict cannot apply."""
    method = explainer.plan_.method
    if not method.additive:
        return (
            f"{method.name} attributions are {method.non_additive_values}: they are not meant to add up to "
            "prediction - base value, so no completeness verdict applies. The numbers below are for information."
        )
    if explainer.gradient_rule != "standard":
        return (
            f"gradient_rule={explainer.gradient_rule!r} does not follow the model's true gradients, so attributions "
            "do not add up to prediction - base value and no completeness verdict applies. The numbers below say how "
            "far they are."
        )
    return None


def completeness_hint(explainer, exp) -> str:
    """What can bring a failed completeness audit within the tolerance, for this method and integration."""
    method, integrator = explainer.plan_.method, explainer.plan_.integrator
    if "noise_level" in method.parameters:
        return (
            "lower noise_level: this method's delta includes the smoothing offset mean f(x + noise) - f(x), which "
            "more steps cannot remove"
        )
    if "n_samples" in method.parameters:
        return f"raise n_samples (now {explainer.n_samples}): the delta is the sampling error over the background"
    if integrator.exact:
        return (
            "the integral is exact here, so more steps cannot help: what remains is floating-point rounding "
            "(explain a float64 copy of the model) or a part of the model that is not piecewise linear "
            "(use rule='gausslegendre')"
        )
    if integrator.adaptive:
        steps = exp.n_steps
        capped = 0 if steps is None else int((steps >= explainer.max_steps).sum())
        if capped:
            return f"raise max_steps (now {explainer.max_steps}; {capped} rows reached it)"
        return f"lower tol (now {explainer.tol}): every row met it, but the audit's tolerance is stricter"
    hint = f"raise n_steps (now {explainer.n_steps}) or use n_steps='auto'"
    if "rule" in applicable_settings(explainer) and str(explainer.rule_).startswith("riemann"):
        hint += f", or use rule='gausslegendre' ({explainer.rule_} converges slowly)"
    return hint


def stability_changes(explainer) -> list[tuple[str, object]]:
    """The one-setting changes that can move a stochastic or approximate result: (parameter, new value) pairs.

    Other seeds only for methods that draw at explain time; half and double the budget (steps, samples or the
    auto-steps tolerance) only where the method has one (the method's knowledge, under the fitted integrator).
    """
    return explainer.plan_.stability_changes(explainer.random_state)


def no_stability_reason(explainer) -> str:
    """Why no stability check applies (when :func:`stability_changes` is empty)."""
    return (
        f"{explainer.plan_.method.label} draws nothing at random and its integral is exact here, so no setting other "
        "than the model, the baseline and the data can change the ranking."
    )


def _spearman(a: pd.Series, b: pd.Series) -> float:
    a, b = a.align(b)
    if a.nunique() < 2 or b.nunique() < 2:
        return 1.0 if a.rank().equals(b.rank()) else float("nan")
    return float(a.rank().corr(b.rank()))


def stability(explainer, X, exp, max_rows: int, random_state=0) -> pd.DataFrame:
    """Rank correlation of the global importance when only one setting changes (see :func:`stability_changes`).

    The fitted state (baselines, background) is kept: only what the explaining pass reads changes. ``exp`` is the
    report's explanation of ``X``, reused as the reference when no sample is needed.
    """
    changes = stability_changes(explainer)
    if not changes:
        return pd.DataFrame(columns=["changed", "from", "to", "rank correlation"])
    if len(X) <= max_rows:
        sample, reference = X, exp.importance()
    else:
        sample = X.sample(max_rows, random_state=np.random.RandomState(random_state))
        reference = explainer.explain(sample).importance()
    rows = []
    for name, value in changes:
        other = copy.copy(explainer).set_params(**{name: value})
        before = explainer.get_params(deep=False)[name]
        rows.append((name, before, value, _spearman(reference, other.explain(sample).importance())))
    return pd.DataFrame(rows, columns=["changed", "from", "to", "rank correlation"])
