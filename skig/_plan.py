"""The plan ``fit`` resolves an explainer's settings into, once: the attribution method (from the registry), the
integrator (fixed steps, adaptive steps, or exact with its engine chosen) and the memory budget.

``explain``, the report and the Spark/Dask adapters read the plan; no one else interprets ``rule``, ``n_steps`` or
``batch_size``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .engine import METHODS, AttributionMethod, module_device
from .engine._gradients import point_bytes, points_per_pass
from .engine._integration import AdaptiveSteps, ExactIntegration, FixedSteps, Integrator
from .engine._quadrature import NESTED_RULE, nested
from .engine.exact import NotPiecewiseLinear, read_module
from .engine.exact._reading import read_chain_only
from .models import PredictionOnly

#: The parameters the plan resolves; changing one after ``fit`` takes effect at the next ``explain``.
PLANNED = (
    "n_steps",
    "tol",
    "max_steps",
    "n_samples",
    "noise_level",
    "fraction",
    "max_dist",
    "batch_size",
    "n_threads",
)
#: The parameters whose meaning ``fit`` checked against the model: changing one needs ``fit`` again.
CHECKED_AT_FIT = ("method", "rule", "gradient_rule")


@dataclass(frozen=True)
class MemoryBudget:
    """How many path points go through the model in one forward/backward pass.

    Parameters
    ----------
    batch_size : int or "auto"
        The explainer's ``batch_size``.
    bytes_per_point : int
        What one path point holds during a pass (its input, its gradient and the activations autograd keeps),
        measured once at ``fit``.
    """

    batch_size: int | str
    bytes_per_point: int

    def max_points(self, device: torch.device) -> int:
        """Path points per pass on ``device`` (with ``"auto"``: cache-sized on a CPU, a share of free CUDA memory)."""
        return points_per_pass(self.batch_size, self.bytes_per_point, device)


class _Learned(dict):
    """What a plan learned while explaining (:attr:`Plan.learned`): dropped when the plan is pickled or copied, so a
    fitted explainer ships without it and learns again."""

    def __reduce__(self):
        return (_Learned, ())


@dataclass(frozen=True)
class Plan:
    """Every setting of an explainer, resolved once at ``fit`` (``Explainer.plan_``).

    Parameters
    ----------
    method : type of AttributionMethod
        The attribution method, from the registry (:data:`~skig.engine.METHODS`).
    integrator : Integrator
        How path integrals are taken: :class:`~skig.engine.FixedSteps`, :class:`~skig.engine.AdaptiveSteps` or
        :class:`~skig.engine.ExactIntegration` (with its engine, ``"chain"`` or ``"general"``, and the module as
        ``fit`` read it).
    budget : MemoryBudget
        Path points per pass.
    params : mapping
        The explainer's parameters the plan was resolved from (those it resolves: :data:`CHECKED_AT_FIT` and
        :data:`PLANNED`).
    """

    method: type[AttributionMethod]
    integrator: Integrator
    budget: MemoryBudget
    params: Mapping
    #: What this plan (and the copies :meth:`bound` makes) learned about the module while explaining: under
    #: ``"exactly"``, :meth:`exactly`'s plan (None where exact integration does not apply). Not pickled.
    learned: dict = dataclasses.field(default_factory=_Learned, compare=False, repr=False)

    def attribution_method(self, random_state, noise_scale) -> AttributionMethod:
        """The method object for one explanation, with its random draws from ``random_state``."""
        extra = {"noise_scale": noise_scale} if "noise_level" in self.method.parameters else {}
        return self.method(self.params, self.integrator, random_state, **extra)

    def bound(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> Plan:
        """This plan for one explanation's private copy of the module (see :meth:`Integrator.bind`)."""
        integrator = self.integrator.bind(module, starts, ends)
        return self if integrator is self.integrator else dataclasses.replace(self, integrator=integrator)

    def with_interactions(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> Plan:
        """This plan for an explanation with interactions: ``rule="auto"`` integrates exactly wherever exact
        integration applies, also for methods whose ``auto_exact`` is false (Expected IG). A piecewise-linear
        network's Hessian is zero almost everywhere, so only exact integration finds its interactions, and the
        attributions must come from the same exact lines for each row's matrix to sum to them."""
        if self.integrator.exact or self.params["rule"] != "auto" or self.method.auto_exact:
            return self
        return self.exactly(module, starts, ends) or self

    def exactly(self, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> Plan | None:
        """This plan integrating exactly where exact integration applies to ``module`` (straight paths, the model's
        own gradient, a piecewise-linear module off MPS), else None: the completeness guard re-integrates by it,
        where no quadrature error is left to mistake for a jump."""
        if self.integrator.exact:
            return self
        if "exactly" in self.learned:  # the module read once, not at every call whose guard re-checks rows
            known = self.learned["exactly"]
            return None if known is None else known.bound(module, starts, ends)
        params = {**self.params, "rule": "auto"}  # what rule="auto" resolves to wherever exact integration applies
        integrator = resolve_integrator(params, self.method, None, module, ends, starts, exact_if_possible=True)
        known = dataclasses.replace(self, integrator=integrator) if integrator.exact else None
        self.learned["exactly"] = known
        return known

    def points_per_row(self, n_baselines: int) -> int:
        """Model evaluations (path points) one row costs: sizes batches of rows (Spark, Dask)."""
        return int(self.method.points_per_row(self.params, self.integrator.points_per_path, n_baselines))

    def applicable_settings(self) -> dict[str, bool]:
        """Whether each setting that depends on the method changes its numbers (see the method's own)."""
        return self.method.applicable_settings(self.integrator)

    def stability_changes(self, random_state) -> list[tuple[str, object]]:
        """The one-setting changes that can move the result: (parameter, new value) pairs; other seeds follow
        ``random_state`` (the explainer's)."""
        return self.method.stability_changes({**self.params, "random_state": random_state}, self.integrator)

    @property
    def n_threads(self) -> int | None:
        """Threads the passes run on (``None``: torch's thread count at ``explain``)."""
        return self.params["n_threads"]

    def changed(self, params: Mapping) -> list[str]:
        """The parameters this plan resolved whose value in ``params`` differs from ``fit``'s."""
        return [name for name in (*CHECKED_AT_FIT, *PLANNED) if not _same(params[name], self.params[name])]

    def updated(self, params: Mapping) -> Plan:
        """This plan for the explainer's current parameters: itself when none it resolved changed since ``fit``;
        re-resolved without the model when only step counts, samples, tolerances or ``batch_size`` did.

        Raises
        ------
        ValueError
            If ``method``, ``rule`` or ``gradient_rule`` changed since ``fit``, which checked them against the model.
        """
        changed = self.changed(params)
        if not changed:
            return self
        refit = [name for name in changed if name in CHECKED_AT_FIT]
        if refit:
            shown = ", ".join(f"{name}={params[name]!r}" for name in refit)
            raise ValueError(f"{shown} changed since fit, which checked it against the model; call fit again.")
        from ._fit_checks import check_parameters

        check_parameters(params)
        integrator = self.integrator
        if not integrator.exact:
            integrator = _quadrature_integrator(integrator.rule, params, integrator.reading)
        budget = dataclasses.replace(self.budget, batch_size=params["batch_size"])
        return Plan(self.method, integrator, budget, _resolved(params))


def make_plan(params: Mapping, adapter, snapshot: torch.nn.Module, rows: torch.Tensor, baselines: torch.Tensor) -> Plan:
    """Resolve the explainer's parameters into a plan, reading the model once.

    Parameters
    ----------
    params : mapping
        The explainer's parameters (``get_params(deep=False)``), already checked one by one.
    adapter : ModelAdapter
        The model, for its description in messages.
    snapshot : torch.nn.Module
        The explainer's private copy of the module, on the device it explains on.
    rows, baselines : Tensor
        A few encoded reference rows and the encoded baselines, in the module's dtype and on its device.
    """
    method = METHODS[params["method"]]
    module = PredictionOnly(snapshot)
    integrator = resolve_integrator(params, method, adapter, module, rows, baselines)
    budget = MemoryBudget(params["batch_size"], point_bytes(module, rows))
    return Plan(method, integrator, budget, _resolved(params))


def resolve_integrator(
    params: Mapping,
    method: type[AttributionMethod],
    adapter,
    module: torch.nn.Module,
    rows: torch.Tensor,
    baselines: torch.Tensor,
    *,
    exact_if_possible: bool = False,
) -> Integrator:
    """The integrator: ``rule="auto"`` is exact on piecewise-linear nets, Gauss-Legendre otherwise.

    Exact integration follows the true gradient along straight lines: Guided IG's path and the deconvolution and
    guided-backprop rules are neither, so ``"exact"`` is refused there and ``"auto"`` falls back (as on MPS
    devices, which lack the float64 it places breakpoints in). Methods whose error is not the quadrature's
    (``auto_exact`` false: Expected IG, whose sampling error dominates) get Gauss-Legendre from ``"auto"``, unless
    ``exact_if_possible`` (interactions, see :meth:`Plan.with_interactions`).
    """
    rule, gradient = params["rule"], params["gradient_rule"]
    if rule not in ("auto", "exact") or (rule == "auto" and not method.auto_exact and not exact_if_possible):
        # Quadrature passes skip autograd on a chain of affine layers and hinges, where the gradient is the model's.
        chain = gradient == "standard" and module_device(module).type != "mps"
        reading = read_chain_only(module, baselines, rows) if chain else None
        return _quadrature_integrator(rule if rule != "auto" else "gausslegendre", params, reading)
    if not method.straight_path or gradient != "standard":
        if rule == "exact":
            why = (
                f"{method.label}'s path is not a straight line"
                if not method.straight_path
                else f"gradient_rule={gradient!r} does not give the model's gradient"
            )
            raise ValueError(
                f"rule='exact' integrates the true gradient along straight lines, but {why}; use rule='auto' or a "
                "quadrature rule such as 'gausslegendre'."
            )
        return _quadrature_integrator("gausslegendre", params)
    if module_device(module).type == "mps":
        # Exact integration places breakpoints in float64, which Apple's MPS devices lack.
        if rule == "exact":
            raise ValueError("rule='exact' needs float64, which MPS devices lack; use rule='auto' or device='cpu'.")
        return _quadrature_integrator("gausslegendre", params)
    try:
        return ExactIntegration(read_module(module, baselines, rows))  # one traced pass: violations and engine
    except NotPiecewiseLinear as error:
        violations, hinged = error.violations, error.n_hinges > 0
    if rule == "exact":
        raise ValueError(
            f"rule='exact' needs a piecewise-linear network (ReLU, LeakyReLU, PReLU, ReLU6/Hardtanh, clamp between "
            f"affine layers), but {adapter.description} computes {violations[:5]}; use rule='auto' (Gauss-Legendre "
            "for smooth networks) or a quadrature rule."
        )
    if hinged and isinstance(params["n_steps"], str) and nested(NESTED_RULE, params["max_steps"]):
        # The gradient jumps where the hinges cross zero, so quadrature error falls only about as 1 / steps: adaptive
        # steps by the trapezoid rule put their points where the jumps are (refine_intervals).
        return _quadrature_integrator(NESTED_RULE, params)
    return _quadrature_integrator("gausslegendre", params)


def _quadrature_integrator(rule: str, params: Mapping, reading=None) -> Integrator:
    if isinstance(params["n_steps"], str):  # "auto": the only string n_steps takes
        return AdaptiveSteps(rule, tol=params["tol"], max_steps=params["max_steps"], reading=reading)
    return FixedSteps(rule, params["n_steps"], reading=reading)


def _resolved(params: Mapping) -> dict:
    return {name: params[name] for name in (*CHECKED_AT_FIT, *PLANNED)}


def _same(a, b) -> bool:
    """Whether two scalar parameter values are the same (``1 == 1.0 == True`` are not)."""
    return type(a) is type(b) and bool(a == b)
