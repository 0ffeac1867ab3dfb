"""What exact integration reads of a module before any path: whether it is piecewise-linear, its units, and its
engine (the chain it is, checked against the module, or the general engine), read once per ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._steps import Chain
from ._trace import trace_module, violation_message

#: ``engine=`` of :func:`exact_path_integrals` and :func:`read_module`: "auto" takes the chain engine where the
#: module reads as a chain, the general engine otherwise.
EXACT_ENGINES = ("auto", "chain", "general")


#: Path ends :func:`read_module` reads (more than ``fit`` probes).
READ_ENDS = 64


class NotPiecewiseLinear(ValueError):
    """A module that is not piecewise-linear in its input: exact integration does not apply.

    ``violations`` names its calls that are not (see :func:`~._trace.piecewise_linear_violations`); ``n_hinges``
    counts the hinge units (ReLU and other piecewise-linear calls) its traced pass went through, beside them: where
    there are some, the gradient along a path jumps where they cross their thresholds.
    """

    def __init__(self, violations: list[str], n_hinges: int = 0) -> None:
        super().__init__(violation_message(violations))
        self.violations, self.n_hinges = violations, n_hinges


@dataclass(frozen=True)
class ModuleReading:
    """What exact integration reads of a module before any path: checked once, reused while the weights are the same.

    Parameters
    ----------
    engine : {"chain", "general"}
        The engine its paths go through.
    units : int
        Piecewise-linear units one forward pass of a row evaluates (sizes the first chunk of paths).
    chain : Chain or None
        The module read as a chain (the chain engine), else None.
    weights : tuple of (name, Tensor)
        The module's parameters and buffers the chain was read from (empty for the general engine, which reads the
        module itself at every pass).
    """

    engine: str
    units: int
    chain: Chain | None = None
    weights: tuple[tuple[str, torch.Tensor], ...] = ()

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ModuleReading)
            and (self.engine, self.units) == (other.engine, other.units)
            and [name for name, _ in self.weights] == [name for name, _ in other.weights]
            and all(_same_tensor(a, b) for (_, a), (_, b) in zip(self.weights, other.weights, strict=True))
        )

    __hash__ = None

    def fits(self, module: torch.nn.Module) -> bool:
        """Whether this reading describes ``module`` (the chain's weights equal the module's)."""
        if self.chain is None:
            return True
        current = module.state_dict(keep_vars=False)
        if len(current) != len(self.weights):
            return False
        return all(name in current and _same_tensor(current[name], tensor) for name, tensor in self.weights)


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.device == b.device and a.dtype == b.dtype and torch.equal(a, b)


def read_module(
    module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, engine: str = "auto"
) -> ModuleReading:
    """Check that ``module`` is piecewise-linear on a few path ends, count its units and choose its engine, from
    one traced forward pass.

    Parameters
    ----------
    module : torch.nn.Module
        A private copy in eval mode.
    starts, ends : Tensor of shape (m, d)
        A few path starts and ends (the first :data:`READ_ENDS` ends, the first two starts and the midpoints of the
        first two paths are read).
    engine : {"auto", "chain", "general"}, default="auto"
        ``"auto"``: the chain engine where the module reads as a chain (checked against the module), the general
        engine otherwise; ``"chain"`` refuses a module that is no chain; ``"general"`` never reads a chain.

    Raises
    ------
    NotPiecewiseLinear
        If the module makes a call that is not affine or piecewise-linear in its input (a ValueError whose
        ``violations`` name the calls).
    ValueError
        If ``engine="chain"`` and the module is no chain of affine layers and hinges.
    """
    if engine not in EXACT_ENGINES:
        raise ValueError(f"engine must be one of {list(EXACT_ENGINES)}, got {engine!r}.")
    probe = _read_rows(starts, ends)
    output, tracer = trace_module(module, probe, chain=engine != "general" and probe.ndim == 2)
    if tracer.violations:
        raise NotPiecewiseLinear(tracer.violations, tracer.n_units)
    chain = None if tracer.chain is None else _checked(tracer.chain.chain(output), output, probe)
    if chain is None:
        if engine == "chain":
            raise ValueError(
                "engine='chain' needs a module that is a chain of affine layers and hinges (Linear, BatchNorm, "
                "ReLU, LeakyReLU, PReLU, abs); this one is not: use engine='general' or 'auto'."
            )
        return ModuleReading("general", tracer.n_units)
    return _chain_reading(module, tracer.n_units, chain)


def read_chain_only(module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> ModuleReading | None:
    """``module`` read as a chain of affine layers and hinges on a few path ends (checked against the module), with
    the weights it was read from, or None where it is none: what quadrature's chain passes run
    (:mod:`skig.engine._chain_passes`), and what exact integration reads of a chain (the completeness guard
    re-integrates by it). Unlike :func:`read_module`, a module that is not piecewise-linear is no error.
    """
    probe = _read_rows(starts, ends)
    if probe.ndim != 2:
        return None
    output, tracer = trace_module(module, probe, chain=True)
    chain = None if tracer.violations or tracer.chain is None else _checked(tracer.chain.chain(output), output, probe)
    if chain is None:
        return None
    return _chain_reading(module, tracer.n_units, chain)


def _read_rows(starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    # Up to READ_ENDS ends are read (all of fit's probe rows: a module may branch on its input): its violations
    # found, its chain checked against them.
    return torch.cat((probe_rows(starts, ends), ends[2:READ_ENDS]))


def _chain_reading(module: torch.nn.Module, units: int, chain: Chain) -> ModuleReading:
    weights = tuple((name, tensor.detach()) for name, tensor in module.state_dict(keep_vars=True).items())
    return ModuleReading("chain", units, chain, weights)


def chain_still_fits(reading: ModuleReading, module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor) -> bool:
    """Whether the chain of ``reading`` is ``module`` now: the same weights, and it reproduces the module on this
    call's path ends."""
    return reading.fits(module) and chain_reproduces(reading.chain, module, probe_rows(starts, ends))


def probe_rows(starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """The rows a module is read on: the first two starts and ends and their midpoints."""
    return torch.cat((starts[:2], ends[:2], (starts[:2] + ends[:2]) / 2))


@dataclass
class _Prepared:
    """What one call integrates with: the chain the module is (or None), the width of its piecewise-linear units,
    and the points a path has made so far on average (to size chunks)."""

    chain: Chain | None
    width: int
    points_per_path: float
    seen: bool = False

    def measured(self, points_per_path: float) -> None:
        """Take in the points per path of a chunk just integrated."""
        if self.seen:
            points_per_path = 0.75 * self.points_per_path + 0.25 * points_per_path
        self.points_per_path, self.seen = points_per_path, True


def prepare(module: torch.nn.Module, starts: torch.Tensor, ends: torch.Tensor, reading: ModuleReading) -> _Prepared:
    """What this call integrates with: the chain ``reading`` holds, checked against the module on this call's own
    rows (a module that is a chain only on some rows is read again here), and the units' width."""
    chain = reading.chain
    if chain is not None:
        probe = probe_rows(starts, ends)
        if not chain_reproduces(chain, module, probe):
            chain = compile_chain(module, probe)
    # Before any path is seen, assume each crosses every unit once: more than most models need.
    return _Prepared(chain, max(1, reading.units), 2.0 + reading.units)


def compile_chain(module: torch.nn.Module, probe: torch.Tensor, smooth: bool = False) -> Chain | None:
    """``module`` as a chain of affine steps and hinges (with ``smooth=True`` also elementwise smooth activations,
    :class:`~._steps.Smooth`), or None if its forward pass is anything else.

    The chain is read from one forward pass on ``probe`` (rows of the module's input) and checked against the
    module on those rows: a chain that does not reproduce the module to float rounding is not used.
    """
    if probe.ndim != 2:
        return None
    output, tracer = trace_module(module, probe, chain=True, smooth=smooth)
    return _checked(tracer.chain.chain(output), output, probe)


def _checked(chain: Chain | None, output: torch.Tensor, probe: torch.Tensor) -> Chain | None:
    """``chain`` if it reproduces ``output`` (the module's on ``probe``) to float rounding, else None."""
    return chain if chain is not None and _agrees(chain, output.detach(), probe) else None


def chain_reproduces(chain: Chain, module: torch.nn.Module, probe: torch.Tensor) -> bool:
    """Whether ``chain`` reproduces ``module`` on the rows ``probe`` to float rounding."""
    with torch.no_grad():
        return _agrees(chain, module(probe.detach()), probe)


def _agrees(chain: Chain, output: torch.Tensor, probe: torch.Tensor) -> bool:
    with torch.no_grad():
        expected = output.reshape(output.shape[0], -1)
        found = chain.forward(probe.detach())
    if found.shape != expected.shape:
        return False
    tolerance = 1e3 * torch.finfo(expected.dtype).eps * (1.0 + float(expected.abs().max()))
    return bool(((found - expected).abs() <= tolerance).all())
