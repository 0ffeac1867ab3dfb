"""Integrated Hessians (Janizek, Sturmfels and Lee, 2021): pairwise interactions on raw columns, per row.

With ``D = x - x'`` and the substitution ``t = a b`` in IG of IG, along the straight path ``x' + t D``:

    G_ij = delta_ij D_i int_0^1 (-ln t) d_i f dt + D_i D_j int_0^1 (-t ln t) d_ij f dt

so that each row of G sums to the feature's IG attribution, all of G to ``f(x) - f(x')``, and G is symmetric. On raw
columns, ``G_raw[I, J]`` sums ``G_ij`` over the encoded columns ``i`` of ``I`` and ``j`` of ``J``.

Smooth networks: Gauss rules for the weights ``-ln t`` and ``-t ln t`` (:mod:`._log_rules`); the second term needs
``v_I^T H v_J`` for the directions ``v_J``, ``D`` restricted to raw column ``J``'s encoded block. On a chain of affine
layers and elementwise activations (:func:`~.exact.read_chain` with ``smooth=True``: tanh, sigmoid, softplus, GELU,
SiLU, ELU, and hinges) with pre-activations ``z_l`` and output ``z``,

    v_I^T H v_J = sum_l sum_k g_lk s_l''(z_lk) (T_l)_kI (T_l)_kJ + (T_z^T H_h T_z)_IJ,     T_l = dz_l/dx V,

where ``g_l`` is the gradient of the explained ``h(z)`` with respect to the activations' outputs (one backward sweep)
and the tangents ``T_l`` go forward through the layers as batched products (forward mode, one column per raw column),
so the block is one product ``T^T diag(c) T`` per layer (:func:`_chain_second_terms`). Any other module takes one
Hessian-vector product per raw column (double backward through the model, batched over the raw columns). Either way
the cost is raw columns x nodes per path.

Piecewise-linear networks, exactly: on each segment ``[a_k, b_k]`` of the path (the exact engine's cuts) the module's
Jacobian ``A_k`` is constant; the gradient of the explained ``h(z)`` is ``A_k^T grad h(z(t))`` and jumps across each
cut by ``J_k``, parallel to the kink normal of the unit that switches there, so the Hessian along the path is
``A_k^T H_h A_k`` on segments plus ``J_k J_k^T / (J_k . D)`` delta masses at the cuts. Hence

    G = sum_k [diag(D (.) A_k^T int_seg (-ln t) grad h) + B_k^T (int_seg (-t ln t) H_h) B_k]
        + sum_cuts (-t_k ln t_k) u_k u_k^T / sum(u_k),      B_k = A_k diag(D) M,  u_k = M^T (D (.) J_k),

with ``M`` the encoded-to-raw map. A head linear in the module's output (raw output, a binary logit) has constant
``grad h`` and no ``H_h``: the segment integrals are closed forms, ``int_a^b -ln t dt = [t - t ln t]_a^b``. A smooth
head (sigmoid, softmax) is integrated along each segment by Gauss rules (see :func:`_head_moments`). Units switching
at the same ``t`` share one cut: their summed jump keeps rows summing to the attributions and the total, but its
rank-one split between columns is then that of the sum.
"""

from __future__ import annotations

import torch

from ._gradients import progress_bar
from ._log_rules import log_rule
from ._quadrature import quadrature
from .exact import Chain, Head, Hinge, Smooth, path_segments, read_chain

_TRACE = object()  # "read the module as a chain here"


# Gauss nodes per piece of a segment when integrating a smooth head (pieces span at most _HEAD_SPAN of any output).
_HEAD_NODES = 12
# Passes' worth of points an exact block holds (the exact engine's CPU chunks hold 4).
_EXACT_BLOCK_PASSES = 4
_HEAD_SPAN = 1.0
# Output matrices per batched product of rank-one terms (grouped by how many terms each has).
_OUTER_GROUP = 128


def smooth_interactions(
    scalar_fn, starts: torch.Tensor, ends: torch.Tensor, targets: torch.Tensor, to_raw: torch.Tensor, n_nodes: int,
    max_points: int, owner: torch.Tensor, weight: torch.Tensor, n_out: int, chain: Chain | None = None,
    head: Head | None = None,
) -> torch.Tensor:  # fmt: skip
    """Integrated Hessians of straight paths by Gauss rules for the log weights, summed with weights into their
    owners: (n_out, R, R) float64.

    Parameters
    ----------
    scalar_fn : callable
        ``scalar_fn(points, targets) -> (m,)``, twice differentiable.
    starts, ends : Tensor of shape (P, d)
        Path ends, in the model's dtype and on its device.
    targets : Tensor of shape (P,)
    to_raw : Tensor of shape (d, R)
        0/1 map of encoded columns to raw columns, float64.
    n_nodes : int
        Nodes of each of the two log-weighted rules.
    max_points : int
        Most points per forward/backward pass; the second term's points count once per raw column.
    owner, weight : Tensor of shape (P,)
        The output matrix each path adds to (a row), and its weight there (a baseline's weight).
    n_out : int
        Number of output matrices.
    chain, head : Chain and callable, optional
        ``scalar_fn`` as ``head(chain(points), targets)`` (the chain read with ``smooth=True``): the second term by
        forward tangents through the chain (:func:`_chain_second_terms`); without them, by Hessian-vector products
        of ``scalar_fn``.
    """
    n_paths, n_encoded = starts.shape
    n_raw = to_raw.shape[1]
    dtype, device = starts.dtype, starts.device
    out = torch.zeros(n_out, n_raw, n_raw, dtype=torch.float64, device=device)
    nodes1, weights1 = (torch.as_tensor(v, device=device) for v in log_rule(n_nodes, 0))
    nodes2, weights2 = (torch.as_tensor(v, device=device) for v in log_rule(n_nodes, 1))
    mask = to_raw.t().to(dtype)  # (R, d)
    per_pass = max(1, max_points // (n_nodes * max(1, n_raw)))
    for lo in range(0, n_paths, per_pass):
        rows = slice(lo, lo + per_pass)
        start, step, target = starts[rows], ends[rows] - starts[rows], targets[rows]
        m = start.shape[0]
        into, scale = owner[rows], weight[rows].double()
        # First term: gradients at the -ln t nodes.
        points = (start.unsqueeze(1) + nodes1.to(dtype).view(1, -1, 1) * step.unsqueeze(1)).reshape(-1, n_encoded)
        with torch.enable_grad():
            points.requires_grad_(True)
            value = scalar_fn(points, target.repeat_interleave(n_nodes))
            (grad,) = torch.autograd.grad(value.sum(), points, allow_unused=True)
        if grad is not None:
            first = (grad.double().view(m, n_nodes, n_encoded) * weights1.view(1, -1, 1)).sum(1)
            out.index_add_(0, into, torch.diag_embed((first * step.double()) @ to_raw) * scale.view(-1, 1, 1))
        # Second term: v_I^T H v_J for the directions v_J, D restricted to raw column J, at the -t ln t nodes.
        points = (start.unsqueeze(1) + nodes2.to(dtype).view(1, -1, 1) * step.unsqueeze(1)).reshape(-1, n_encoded)
        if chain is not None:
            second = _chain_second_terms(
                chain, head, points, target.repeat_interleave(n_nodes), step.unsqueeze(1) * mask, weights2
            )
            out.index_add_(0, into, 0.5 * (second + second.transpose(1, 2)) * scale.view(-1, 1, 1))
            continue
        directions = (step.view(m, 1, 1, n_encoded) * mask.view(1, 1, n_raw, n_encoded)).expand(
            m, n_nodes, n_raw, n_encoded
        )
        hvp = _hessian_products(
            scalar_fn, points, target.repeat_interleave(n_nodes), directions.reshape(-1, n_raw, n_encoded)
        )
        if hvp is None:
            continue
        hvp = (hvp.double().view(m, n_nodes, n_raw, n_encoded) * weights2.view(1, -1, 1, 1)).sum(1)  # (m, R, d)
        second = (hvp * step.double().unsqueeze(1)) @ to_raw  # (m, J, I)
        out.index_add_(0, into, 0.5 * (second + second.transpose(1, 2)) * scale.view(-1, 1, 1))
    return out


def _chain_second_terms(
    chain: Chain, head: Head, points: torch.Tensor, targets: torch.Tensor, directions: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """``sum_n weights[n] V^T H(points[p, n]) V`` per path ``p`` for ``f = head(chain(x))``: (m, J, J) float64.

    ``points`` (m * n, d) are the ``n`` nodes of each of ``m`` paths, ``directions`` (m, J, d) the columns of each
    path's ``V``. A forward pass keeps each activation's first and second derivatives; a backward sweep from the
    head's gradient gives the gradient ``g_l`` at each activation's output; then tangents ``T = dz_l/dx V`` go forward
    (``J`` per point, one batched product per layer; before the first activation they are the same at every node of
    a path), and each activation adds ``T^T diag(sum_n w_n g_l s_l''(z_l)) T`` at its input. A head not linear in the
    chain's output adds ``T_z^T H_h T_z``.
    """
    m, n_directions, _ = directions.shape
    n_nodes = points.shape[0] // max(1, m)
    dtype = points.dtype
    with torch.no_grad():
        firsts, seconds, x = [], [], points
        for step in chain.steps:
            if isinstance(step, (Smooth, Hinge)):
                if isinstance(step, Smooth):
                    first, second = step.derivatives(x)
                else:
                    first, second = step.backward(torch.ones_like(x), x), None
                firsts.append(first)
                seconds.append(second)
            x = step.forward(x)
        flat = _shaped(head, chain.output_shape)
        grad_out, hessian_out = (
            (_head_grad(flat, x, targets), None)
            if getattr(head, "linear", False)
            else _head_grad_hessian(flat, x, targets)
        )
        # Backward: the signal at each activation's output, weighted by the quadrature and its second derivative.
        curvatures = [None] * len(firsts)
        grad, level = grad_out.to(dtype), len(firsts)
        node_weights = weights.to(dtype).repeat(m).unsqueeze(1)  # (m * n, 1)
        for step in reversed(chain.steps):
            if isinstance(step, (Smooth, Hinge)):
                level -= 1
                if seconds[level] is not None:
                    curvatures[level] = (grad * seconds[level] * node_weights).view(m, n_nodes, -1)
                grad = grad * firsts[level]
            else:
                grad = step.backward(grad)
        # Forward tangents, contracted at each activation with its curvature: (m, J, width) until the first
        # activation, then (m, J, n, width), laid out so that every product runs on contiguous blocks without copies.
        block = torch.zeros(m, n_directions, n_directions, dtype=torch.float64, device=points.device)
        tangent, per_node, level = directions, False, 0
        for step in chain.steps:
            if not isinstance(step, (Smooth, Hinge)):
                tangent = step.linear_part(tangent)
                continue
            curvature = curvatures[level]
            if curvature is not None:
                if per_node:
                    flat = tangent.reshape(m, n_directions, -1)
                    scaled = (tangent * curvature.unsqueeze(1)).reshape(m, n_directions, -1)
                else:
                    flat, scaled = tangent, tangent * curvature.sum(1).unsqueeze(1)
                block += torch.bmm(scaled, flat.transpose(1, 2)).double()
            if not per_node:
                tangent, per_node = tangent.unsqueeze(2), True
            tangent = tangent * firsts[level].view(m, 1, n_nodes, -1)
            level += 1
        if hessian_out is not None:
            if not per_node:
                tangent = tangent.unsqueeze(2).expand(m, n_directions, n_nodes, tangent.shape[-1])
            outer = hessian_out.to(dtype).view(m, n_nodes, *hessian_out.shape[1:]) * weights.to(dtype).view(1, -1, 1, 1)
            block += torch.einsum("mjnk,mnkl,minl->mji", tangent, outer, tangent).double()
    return block


def _hessian_products(
    scalar_fn, points: torch.Tensor, targets: torch.Tensor, directions: torch.Tensor
) -> torch.Tensor | None:
    """Hessian-vector products ``H(points[p]) directions[p, j]`` of ``scalar_fn``: (m, J, d), or None where the
    function is affine in its input.

    One forward pass and one backward pass (keeping its graph) at the ``m`` points, then the ``J`` products as one
    batched backward pass through the gradient (``is_grads_batched``: autograd's vmap). A model one of whose
    operations cannot be batched so is taken the plain way instead: the points repeated once per direction.
    """
    m, n_directions, n_encoded = directions.shape
    with torch.enable_grad():
        leaf = points.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar_fn(leaf, targets).sum(), leaf, create_graph=True, allow_unused=True)
        if grad is None or not grad.requires_grad:  # affine in the input: no second term
            return None
        try:
            (hvp,) = torch.autograd.grad(
                grad, leaf, directions.transpose(0, 1), is_grads_batched=True, allow_unused=True
            )
        except RuntimeError:
            hvp = _repeated_hessian_products(scalar_fn, points, targets, directions)
        else:
            hvp = None if hvp is None else hvp.transpose(0, 1)
    return hvp


def _repeated_hessian_products(scalar_fn, points, targets, directions):
    """:func:`_hessian_products` with the points repeated once per direction (no batched backward)."""
    m, n_directions, n_encoded = directions.shape
    repeated = points.detach().unsqueeze(1).expand(m, n_directions, n_encoded).reshape(-1, n_encoded)
    with torch.enable_grad():
        repeated.requires_grad_(True)
        value = scalar_fn(repeated, targets.repeat_interleave(n_directions))
        (grad,) = torch.autograd.grad(value.sum(), repeated, create_graph=True, allow_unused=True)
        (hvp,) = torch.autograd.grad(grad, repeated, directions.reshape(-1, n_encoded), allow_unused=True)
    return None if hvp is None else hvp.view(m, n_directions, n_encoded)


def exact_interactions(
    module: torch.nn.Module, head: Head, starts: torch.Tensor, ends: torch.Tensor, targets: torch.Tensor,
    to_raw: torch.Tensor, max_points: int, owner: torch.Tensor, weight: torch.Tensor, n_out: int, chain=_TRACE,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Integrated Hessians of straight paths through a piecewise-linear module, exact up to rounding (and the head's
    Gauss rules), summed with weights into their owners: (n_out, R, R) float64, and the segments each path crossed.

    Parameters
    ----------
    module : torch.nn.Module
        Piecewise-linear, returning the raw output (m,) or (m, K); a private copy, parameters frozen.
    head : callable
        ``head(raw, targets) -> (m,)``, smooth; its ``linear`` attribute marks heads linear in the raw output.
    starts, ends : Tensor of shape (P, d)
    targets : Tensor of shape (P,)
    to_raw : Tensor of shape (d, R)
    max_points : int
        Most points per forward/backward pass.
    owner, weight : Tensor of shape (P,)
        The output matrix each path adds to (a row), and its weight there (a baseline's weight).
    n_out : int
        Number of output matrices.
    chain : Chain or None, optional
        The module read as a chain (:func:`~skig.engine.exact.read_chain`), None if it is none; read here when not
        given.
    """
    n_paths = starts.shape[0]
    n_raw = to_raw.shape[1]
    device = starts.device
    diagonal = torch.zeros(n_out, n_raw, dtype=torch.float64, device=device)
    if chain is _TRACE:
        chain = read_chain(module, starts, ends)
    lo_t, hi_t, path, chain_gradients = path_segments(module, starts, ends, chain=chain, max_points=max_points)
    crossed = torch.bincount(path, minlength=n_paths)
    if n_paths == 0:
        return torch.zeros(n_out, n_raw, n_raw, dtype=torch.float64, device=device), crossed
    step = (ends - starts).double()
    # Segment gradients at midpoints: exact, since the module is affine on each open segment. A linear head needs
    # only the gradient of the explained output (one backward pass); a smooth one the module's whole Jacobian.
    middle = (lo_t + hi_t) / 2
    seg_targets = targets[path]
    linear = getattr(head, "linear", False)
    if linear and chain_gradients is not None:
        raw_mid, jacobian, shape = _chain_jacobians(module, starts, head, seg_targets, chain_gradients, max_points)
    else:
        raw_mid, jacobian, shape = _jacobians(module, starts, ends, path, middle, max_points, head if linear else None,
                                              seg_targets)  # fmt: skip
    scaled = jacobian * step[path].unsqueeze(1)
    blocks = _raw_blocks(scaled, to_raw)  # B_k: (S, K, R); for a linear head K = 1, the explained output's gradient
    seg_weight = weight.double()[path]
    seg_owner = owner[path]
    # Cuts: segment k and k + 1 of the same path meet at hi_t[k].
    same = path[1:] == path[:-1]
    left = same.nonzero().squeeze(1)
    at = hi_t[left]
    if linear:
        # grad h is constant: blocks hold the explained output's gradient, and a cut's jump is the difference of
        # its two segments' blocks.
        raw = blocks[:, 0]
        del scaled, jacobian, blocks
        first = (_minus_log_integral(hi_t) - _minus_log_integral(lo_t)) * seg_weight
        diagonal.index_add_(0, seg_owner, raw * first.unsqueeze(1))
        out = _cut_outer(diagonal, seg_owner[left], (raw[1:] - raw[:-1])[same], at, seg_weight[left], n_out)
    else:
        slope = scaled.sum(2)  # dz/dt on each segment: (S, K)
        del scaled, jacobian
        head = _shaped(head, shape)

        def line(k: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            """The module's output at positions ``t`` of segment ``k``'s line (extended affinely)."""
            return raw_mid[k] + (t - middle[k]).unsqueeze(1) * slope[k]

        first, curvature = _head_moments(head, line, lo_t, hi_t, slope, seg_targets)
        diagonal.index_add_(0, seg_owner, torch.einsum("sk,skr->sr", first, blocks) * seg_weight.unsqueeze(1))
        # B_k^T C_k B_k = sum_c B_k[c]^T (C_k B_k)[c]: one outer product per (segment, output).
        n_k = blocks.shape[1]
        out = _grouped_outer(
            seg_owner.repeat_interleave(n_k),
            (blocks * seg_weight.view(-1, 1, 1)).reshape(-1, n_raw),
            (curvature @ blocks).reshape(-1, n_raw),
            n_out,
        )
        right = left + 1
        grad_left = _head_grad(head, line(left, at), seg_targets[left])
        grad_right = _head_grad(head, line(right, at), seg_targets[right])
        jump = torch.einsum("ck,ckr->cr", grad_right, blocks[right]) - torch.einsum(
            "ck,ckr->cr", grad_left, blocks[left]
        )  # u = M^T (D (.) J): (C, R)
        out += _cut_outer(diagonal, seg_owner[left], jump, at, seg_weight[left], n_out)
    out = 0.5 * (out + out.transpose(1, 2))  # symmetric in exact arithmetic; rounding only
    return out + torch.diag_embed(diagonal), crossed


def _raw_blocks(values: torch.Tensor, to_raw: torch.Tensor) -> torch.Tensor:
    """``values @ to_raw`` for (S, K, d) values: encoded columns summed into raw ones, by one matrix product (none
    when every encoded column is its own raw column)."""
    n_encoded, n_raw = to_raw.shape
    if n_encoded == n_raw and torch.equal(to_raw, torch.eye(n_raw, dtype=to_raw.dtype, device=to_raw.device)):
        return values
    return (values.reshape(-1, n_encoded) @ to_raw).view(*values.shape[:-1], n_raw)


def _cut_outer(
    diagonal: torch.Tensor, rows: torch.Tensor, jump: torch.Tensor, at: torch.Tensor, weight: torch.Tensor, n_out: int
) -> torch.Tensor:
    """The cuts' rank-one terms ``(-t ln t) w u u^T / sum(u)`` summed per output matrix: (n_out, R, R).

    ``rows`` (C,) are the output matrices, ``jump`` (C, R) the jumps ``u`` on raw columns, ``at`` their positions
    and ``weight`` their lines' weights. A jump orthogonal to the path (units cut at one t whose jumps cancel along D)
    has no rank-one form: it is added to ``diagonal`` (in place), which keeps rows summing to the jump.
    """
    scale = -at * torch.log(at) * weight
    total = jump.sum(1)
    flat = total.abs() <= 1e-9 * torch.linalg.vector_norm(jump, 1, dim=1)
    if bool(flat.any()):
        diagonal.index_add_(0, rows[flat], jump[flat] * scale[flat].unsqueeze(1))
        rank_one = ~flat
        rows, jump, scale, total = rows[rank_one], jump[rank_one], scale[rank_one], total[rank_one]
    return _grouped_outer(rows, jump * (scale / total).unsqueeze(1), jump, n_out)


def _grouped_outer(rows: torch.Tensor, left: torch.Tensor, right: torch.Tensor, n_out: int) -> torch.Tensor:
    """``out[r] = sum over i with rows[i] == r of outer(left[i], right[i])``: (n_out, R, R), by padded bmm.

    Output matrices go in groups of similar counts (ordered by count), each group's vectors gathered into a padded
    (group, longest, R) block, so that the padding and the copies stay near the size of the inputs.
    """
    width = left.shape[1]
    out = torch.zeros(n_out, width, width, dtype=torch.float64, device=left.device)
    if rows.numel() == 0:
        return out
    if not bool((rows[1:] >= rows[:-1]).all()):
        order = torch.argsort(rows, stable=True)
        rows, left, right = rows[order], left[order], right[order]
    counts = torch.bincount(rows, minlength=n_out)
    firsts = torch.cumsum(counts, 0) - counts  # each matrix's vectors are left[firsts[r] : firsts[r] + counts[r]]
    by_count = torch.argsort(counts)
    longest = int(counts.max())
    per_group = max(1, min(_OUTER_GROUP, (4 * rows.numel() + 1) // longest))
    for lo in range(0, n_out, per_group):
        group = by_count[lo : lo + per_group]
        size = int(counts[group[-1]])
        if size == 0:
            continue
        within = torch.arange(size, device=rows.device)
        valid = within < counts[group].unsqueeze(1)  # (group, size)
        at = torch.where(valid, firsts[group].unsqueeze(1) + within, 0)
        out[group] = (left[at] * valid.unsqueeze(2)).transpose(1, 2) @ right[at]
    return out


def _chain_jacobians(module, starts, head, targets, gradients, max_points):
    """For a linear head on a chain: the explained output's gradient on each segment (S, 1, d), by backward sweeps
    through the chain in passes of ``max_points`` segments; the raw output at the start point (for its shape)."""
    with torch.no_grad():
        probe = module(starts[:1])
    shape = probe.shape[1:]
    flat = probe.detach().reshape(1, -1).double()
    # A linear head's gradient is the same at every output: taken at the start's, per target.
    grad_out = _head_grad(_shaped(head, shape), flat.expand(len(targets), -1), targets)
    parts = [
        gradients(grad_out[lo : lo + max_points], slice(lo, lo + max_points))
        for lo in range(0, len(targets), max_points)
    ]
    jacobian = torch.cat(parts).unsqueeze(1) if parts else starts.new_zeros(0, 1, starts.shape[1])
    return flat.expand(len(targets), -1), jacobian, shape


def _jacobians(module, starts, ends, path, at, max_points, linear_head, targets):
    """The module's raw output (S, K) at position ``at`` of each path and its input Jacobian (S, K, d), float64, and
    the shape of one row of the module's output.

    With ``linear_head`` (a head linear in the raw output), the gradient of the explained output instead of the
    Jacobian, as (S, 1, d): one backward pass with the head's constant gradient.
    """
    dtype = starts.dtype
    n_encoded = starts.shape[1]
    outputs, jacobians = [], []
    with torch.no_grad():
        probe = module(starts[:1])
    shape = probe.shape[1:]
    n_out = 1 if linear_head is not None else probe.reshape(1, -1).shape[1]
    per_pass = max(1, max_points // n_out)
    for lo in range(0, len(path), per_pass):
        owner, t = path[lo : lo + per_pass], at[lo : lo + per_pass]
        points = torch.addcmul(starts[owner], t.to(dtype).unsqueeze(1), (ends - starts)[owner])
        m = points.shape[0]
        repeated = points.unsqueeze(1).expand(m, n_out, n_encoded).reshape(-1, n_encoded)
        with torch.enable_grad():
            repeated = repeated.detach().requires_grad_(True)
            raw = module(repeated)
            if linear_head is not None:
                flat = raw.detach().reshape(m, -1)
                picks = _head_grad(_shaped(linear_head, shape), flat, targets[lo : lo + per_pass]).reshape(raw.shape)
            else:
                raw = raw.reshape(m, n_out, n_out)
                flat = raw.detach()[:, 0, :]
                picks = torch.eye(n_out, dtype=raw.dtype, device=raw.device).expand(m, n_out, n_out)
            (grad,) = torch.autograd.grad(raw, repeated, picks.to(raw.dtype), allow_unused=True)
        outputs.append(flat.double())
        jacobians.append(
            torch.zeros(m, n_out, n_encoded, dtype=torch.float64, device=points.device)
            if grad is None
            else grad.double().view(m, n_out, n_encoded)
        )
    return torch.cat(outputs), torch.cat(jacobians), shape


def _shaped(head: Head, shape: torch.Size) -> Head:
    """``head`` taking flat (m, K) outputs, reshaped to what the module returns."""

    def flat(z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return head(z.reshape(-1, *shape), targets)

    flat.linear = getattr(head, "linear", False)
    return flat


def _head_grad(head: Head, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``grad h`` at output points ``z`` (m, K), float64."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(head(z, targets).sum(), z, allow_unused=True)
    return torch.zeros_like(z) if grad is None else grad.detach()


def _head_grad_hessian(head: Head, z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``grad h`` (m, K) and ``H_h`` (m, K, K) at output points ``z``, float64."""
    width = z.shape[1]
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        value = head(z, targets)
        (grad,) = torch.autograd.grad(value.sum(), z, create_graph=True, allow_unused=True)
        if grad is None:
            return torch.zeros_like(z), z.new_zeros(z.shape[0], width, width)
        rows = []
        for column in range(width):
            if not grad.requires_grad:
                rows.append(torch.zeros_like(z))
                continue
            (row,) = torch.autograd.grad(grad[:, column].sum(), z, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(z) if row is None else row)
    return grad.detach(), torch.stack(rows, 1).detach()


def _minus_log_integral(t: torch.Tensor) -> torch.Tensor:
    """``int_0^t -ln s ds = t - t ln t`` (0 at t = 0)."""
    return torch.where(t > 0, t - t * torch.log(t.clamp(min=1e-300)), torch.zeros_like(t))


def _head_moments(head: Head, line, lo_t, hi_t, slope, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Per segment, ``int (-ln t) grad h(z(t)) dt`` (S, K) and ``int (-t ln t) H_h(z(t)) dt`` (S, K, K).

    Each segment is cut into pieces along which no output moves more than ``_HEAD_SPAN``; on a piece ``[p, q]``:
    a piece starting at 0 takes the log-weighted Gauss rules scaled to ``[0, q]`` (``-ln t = -ln q - ln s`` for
    ``t = q s``); one with ``q <= 2 p``, whose weight is analytic well around it, Gauss-Legendre with the weight
    evaluated; any other (near 0) is ``[0, q]`` minus ``[0, p]`` along the segment's line extended, over which the
    outputs move at most twice the span. Each rule has ``_HEAD_NODES`` nodes.
    """
    device = lo_t.device
    n_segments, width = slope.shape
    span = (slope.abs().amax(1) * (hi_t - lo_t)).clamp(min=0)
    pieces = torch.ceil(span / _HEAD_SPAN).clamp(min=1).long()
    owner = torch.repeat_interleave(torch.arange(n_segments, device=device), pieces)
    offsets = torch.cumsum(pieces, 0) - pieces
    within = torch.arange(owner.shape[0], device=device) - offsets[owner]
    count = pieces[owner].double()
    p = lo_t[owner] + (hi_t[owner] - lo_t[owner]) * within.double() / count
    q = lo_t[owner] + (hi_t[owner] - lo_t[owner]) * (within.double() + 1) / count
    gl_s, gl_w = (torch.as_tensor(v, device=device) for v in quadrature("gausslegendre", _HEAD_NODES))
    l_s, l_w = (torch.as_tensor(v, device=device) for v in log_rule(_HEAD_NODES, 0))
    tl_s, tl_w = (torch.as_tensor(v, device=device) for v in log_rule(_HEAD_NODES, 1))
    entries = []  # (segment, t, weight of grad h, weight of H_h) per node

    def from_zero(pieces_at: torch.Tensor, end: torch.Tensor, sign: float) -> None:
        """Nodes of sign * int_0^end on the given pieces."""
        seg, c = owner[pieces_at].unsqueeze(1), end.unsqueeze(1)
        log_c = torch.log(c)
        # grad term: c [(-ln c) sum w_GL phi(c s) + sum w_L phi(c s_L)]; Hessian term: c^2 [(-ln c) sum w_GL s psi(c s)
        # + sum w_TL psi(c s_TL)].
        entries.append((seg, c * gl_s, sign * c * (-log_c) * gl_w, sign * c**2 * (-log_c) * gl_w * gl_s))
        entries.append((seg, c * l_s, sign * c * l_w, torch.zeros_like(c * l_w)))
        entries.append((seg, c * tl_s, torch.zeros_like(c * tl_w), sign * c**2 * tl_w))

    at_zero = p <= 0
    near = (p > 0) & (q <= 2 * p)
    far = (p > 0) & ~near
    if bool(at_zero.any()):
        from_zero(at_zero.nonzero().squeeze(1), q[at_zero], 1.0)
    if bool(far.any()):
        index = far.nonzero().squeeze(1)
        from_zero(index, q[far], 1.0)
        from_zero(index, p[far], -1.0)
    if bool(near.any()):
        index = near.nonzero().squeeze(1)
        a, b = p[near].unsqueeze(1), q[near].unsqueeze(1)
        t = a + (b - a) * gl_s
        log_t = torch.log(t)
        entries.append((owner[index].unsqueeze(1), t, (b - a) * gl_w * -log_t, (b - a) * gl_w * -t * log_t))
    segment = torch.cat([s.expand_as(t).reshape(-1) for s, t, _, _ in entries])
    t = torch.cat([t.reshape(-1) for _, t, _, _ in entries])
    w1 = torch.cat([w.expand_as(t_).reshape(-1) for _, t_, w, _ in entries])
    w2 = torch.cat([w.expand_as(t_).reshape(-1) for _, t_, _, w in entries])
    first = torch.zeros(n_segments, width, dtype=torch.float64, device=device)
    curvature = torch.zeros(n_segments, width, width, dtype=torch.float64, device=device)
    chunk = 2**16
    for lo in range(0, segment.shape[0], chunk):
        seg = segment[lo : lo + chunk]
        grad, hessian = _head_grad_hessian(head, line(seg, t[lo : lo + chunk]), targets[seg])
        first.index_add_(0, seg, grad * w1[lo : lo + chunk].unsqueeze(1))
        curvature.index_add_(0, seg, hessian * w2[lo : lo + chunk].view(-1, 1, 1))
    return first, curvature


def interaction_matrices(
    problem, starts_of: torch.Tensor, weights: torch.Tensor, to_raw: torch.Tensor, *, exact: bool, n_nodes: int
) -> torch.Tensor:
    """Integrated (or Expected) Hessians of every row of ``problem``: (n, R, R) float64 on the CPU.

    Rows go in blocks whose lines hold about ``problem.max_points`` points (segments of exact paths, counted from
    the blocks before; nodes times raw columns for smooth ones), so memory stays bounded as for attributions; each
    line's matrix is added into its row's with its weight as it is computed, never held per line.

    Parameters
    ----------
    problem : Problem
        Rows, targets, the explained function (and its module and head apart), the memory bound.
    starts_of : Tensor of shape (n, L)
        The index into ``problem.baselines`` of each of row's ``L`` lines.
    weights : Tensor of shape (n, L)
        Each line's weight (summing to 1 per row).
    to_raw : Tensor of shape (d, R)
        0/1 map of encoded to raw columns, float64.
    exact : bool
        Exact integration through a piecewise-linear module, or Gauss rules with ``n_nodes`` for smooth ones.
    """
    n_rows, n_lines = starts_of.shape
    n_raw = to_raw.shape[1]
    device = problem.inputs.device
    out = torch.zeros(n_rows, n_raw, n_raw, dtype=torch.float64)
    to_raw = to_raw.to(device)
    # Points per line: segments of exact paths (a first guess, then what the blocks before saw), else the smooth
    # rules' nodes, once for the gradient and once per raw column for the Hessian-vector products.
    per_line = 64.0 if exact else float(n_nodes * (1 + max(1, n_raw)))
    bar = progress_bar(problem.progress, n_rows, "interactions")
    chain = _TRACE
    lo = 0
    while lo < n_rows:
        # Exact paths hold their cut levels a block at a time, a few passes' worth as the exact engine's chunks do.
        budget = problem.max_points * (_EXACT_BLOCK_PASSES if exact else 1)
        block = max(1, int(budget // (n_lines * per_line)))
        rows = slice(lo, min(lo + block, n_rows))
        m = rows.stop - rows.start
        starts = problem.baselines[starts_of[rows].reshape(-1)]
        ends = problem.inputs[rows].repeat_interleave(n_lines, 0)
        targets = problem.targets[rows].repeat_interleave(n_lines)
        owner = torch.arange(m, device=device).repeat_interleave(n_lines)
        weight = weights[rows].reshape(-1).to(device, torch.float64)
        if exact:
            if chain is _TRACE:
                chain = read_chain(problem.module, starts, ends)
            values, crossed = exact_interactions(
                problem.module, problem.head, starts, ends, targets, to_raw, problem.max_points, owner, weight, m, chain
            )
            per_line = 1.25 * max(1.0, float(crossed.double().mean()))
        else:
            if chain is _TRACE:  # a chain of affine layers and smooth activations takes forward tangents
                readable = problem.module is not None and problem.head is not None
                chain = read_chain(problem.module, starts, ends, smooth=True) if readable else None
            values = smooth_interactions(
                problem.scalar_fn, starts, ends, targets, to_raw, n_nodes, problem.max_points, owner, weight, m,
                chain, problem.head if chain is not None else None,
            )  # fmt: skip
        out[rows] = values.cpu()
        bar.update(m)
        lo = rows.stop
    bar.close()
    return out
