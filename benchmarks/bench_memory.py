"""Peak memory of ``explain`` on many rows, per method, each case in its own subprocess so peaks do not mix.

A tanh MLP 30 -> 64 -> 64 -> 1, 16 steps, ``batch_size="auto"`` unless the case says otherwise, input a float64
array of 1,000,000 rows x 30 features (240 MB). Prints each case's peak resident memory above what the process held
before the input existed, as a multiple of the input's size. Run: ``python benchmarks/bench_memory.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

N_FEATURES, N_STEPS = 30, 16

#: name -> (Explainer keyword arguments, rows as a fraction of --rows). Cases whose peak grows with the rows
#: times the baselines run on fewer rows, so that the machine survives; their ratio is what to read.
CASES = {
    "ig": ({"method": "ig"}, 1.0),
    "smoothgrad (4 samples)": ({"method": "smoothgrad", "n_samples": 4}, 1.0),
    "expected, 64 background": ({"method": "expected", "baseline": "sample", "n_baselines": 64}, 1.0),
    "expected, 1,000 background": ({"method": "expected", "baseline": "sample", "n_baselines": 1000}, 1.0),
    "guided, 16 baselines, batch 1024": (
        {"method": "guided", "baseline": "sample", "n_baselines": 16, "batch_size": 1024},
        0.01,
    ),
}


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_case(name: str, n_rows: int) -> None:
    """In the child: explain ``n_rows`` rows with the case's method and print its memory as JSON."""
    import numpy as np
    import torch

    import skig

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 1),
    )
    kwargs, _ = CASES[name]
    rng = np.random.RandomState(0)
    explainer = skig.Explainer(model, n_steps=N_STEPS, output="raw", random_state=0, **kwargs)
    explainer.fit(rng.normal(size=(2000, N_FEATURES)))
    explainer.explain(rng.normal(size=(100, N_FEATURES)))  # warm-up: lazy imports, thread pool
    before = _rss_bytes()
    X = rng.normal(size=(n_rows, N_FEATURES))
    start = time.perf_counter()
    explanation = explainer.explain(X)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    json.dump(
        {
            "rows": n_rows,
            "input": X.nbytes,
            "before": before,
            "peak": peak,
            "seconds": seconds,
            "values": float(np.abs(explanation.values.to_numpy()).mean()),
        },
        sys.stdout,
    )


def main(n_rows: int, cases: list[str]) -> None:
    print(
        f"explain() peak memory, tanh MLP {N_FEATURES}->64->64->1, {N_STEPS} steps, float64 input, "
        "one subprocess per case"
    )
    print(f"{'case':<34}{'rows':>10}{'input MB':>10}{'peak MB':>10}{'above start MB':>16}{'x input':>9}{'s':>7}")
    for name in cases:
        rows = int(n_rows * CASES[name][1])
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--case", name, "--rows", str(rows)], capture_output=True, text=True
        )
        if child.returncode != 0:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            reason = child.stderr.strip().splitlines()[-1:] or [f"killed by signal {-child.returncode}"]
            print(f"{name:<34}{rows:>10}  failed (largest child so far {usage:.0f} MB): {reason[0]}")
            continue
        result = json.loads(child.stdout)
        above = result["peak"] - result["before"]
        print(
            f"{name:<34}{rows:>10}{result['input'] / 2**20:>10.0f}{result['peak'] / 2**20:>10.0f}"
            f"{above / 2**20:>16.0f}{above / result['input']:>9.2f}{result['seconds']:>7.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", choices=list(CASES), action="append", help="run only these cases (default all)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_case(args.case[0], args.rows)
    else:
        main(args.rows, args.case or list(CASES))
