"""Where the bare forward/backward is fastest, in points per pass and in activation bytes per pass, across widths.

The data behind skig's automatic pass size on CPU: MLPs 30 -> w -> ... -> w -> 1 of several widths and depths, a
bare frozen-parameter forward and backward over the same path points at powers of 2 points per pass. For each
model it prints the time per point at every pass size relative to its best, and the pass's bytes as
:func:`skig.engine.chunk_points` counts them (input, gradient and the activations autograd keeps) at the best size
and at the size skig picks. Run: ``python benchmarks/bench_chunk.py [--rounds 5] [--threads 2] [--timer wall]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from skig.engine import chunk_points
from skig.engine._gradients import point_bytes

N_FEATURES = 30
#: (hidden width, hidden layers, activation)
MODELS = [
    (32, 2, "relu"),
    (64, 2, "relu"),
    (64, 2, "tanh"),
    (128, 2, "relu"),
    (128, 4, "tanh"),
    (256, 2, "relu"),
    (512, 2, "relu"),
    (1024, 2, "relu"),
]
CHUNKS = [2**k for k in range(8, 17)]
#: Points per model: about the same work for each, and at least every pass size up to 65,536 for narrow ones.
N_POINTS = {32: 2**16, 64: 2**16, 128: 2**16, 256: 2**15, 512: 2**14, 1024: 2**13}


def make_model(width: int, depth: int, activation: str) -> torch.nn.Module:
    torch.manual_seed(0)
    layers, width_in = [], N_FEATURES
    for _ in range(depth):
        layers += [torch.nn.Linear(width_in, width), torch.nn.ReLU() if activation == "relu" else torch.nn.Tanh()]
        width_in = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(width_in, 1)).requires_grad_(False)


def main(rounds: int, threads: int, timer: str) -> None:
    torch.set_num_threads(threads)
    clock = time.perf_counter if timer == "wall" else time.process_time
    print(f"bare forward+backward, frozen parameters, torch threads: {threads}, best of {rounds} rounds ({timer} time)")
    print("time per point relative to the model's best pass size; bytes per point as chunk_points counts them")
    print(f"{'model':<22}{'B/point':>8}" + "".join(f"{c:>7}" for c in CHUNKS) + f"{'best MB':>9}{'auto':>7}")
    for width, depth, activation in MODELS:
        model = make_model(width, depth, activation)
        n_points = N_POINTS[width]
        chunks = [chunk for chunk in CHUNKS if chunk <= n_points]
        points = torch.randn(n_points, N_FEATURES)
        probe = points[:8]

        def run(chunk, model=model, points=points):
            for lo in range(0, len(points), chunk):
                part = points[lo : lo + chunk].clone().requires_grad_(True)
                torch.autograd.grad(model(part).sum(), part)

        for chunk in chunks:
            run(chunk)  # warm-up
        best = {chunk: float("inf") for chunk in chunks}
        for _ in range(rounds):
            for chunk in chunks:
                start = clock()
                run(chunk)
                best[chunk] = min(best[chunk], clock() - start)
        fastest = min(best, key=best.get)
        per_point = point_bytes(model, probe)
        name = f"{width}x{depth} {activation}"
        print(
            f"{name:<22}{per_point:>8}"
            + "".join(f"{best[c] / best[fastest]:>7.2f}" if c in best else f"{'':>7}" for c in CHUNKS)
            + f"{fastest * per_point / 2**20:>9.1f}{chunk_points(model, probe, 'auto'):>7}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--timer", choices=("wall", "cpu"), default="wall", help="cpu: process time, for a busy machine"
    )
    args = parser.parse_args()
    main(args.rounds, args.threads, args.timer)
