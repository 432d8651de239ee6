"""fp32 matmul peak as numpy (OpenBLAS) measures it: n x n by n x n, 2 n^3 flops per product."""
import argparse, statistics, time
import numpy as np
from threadpoolctl import threadpool_limits, threadpool_info

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--runs", type=int, default=5)
p.add_argument("--n", type=int, default=2048)
args = p.parse_args()
n = args.n
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
with threadpool_limits(limits=args.threads):
    info = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    print(f"numpy blas {info}")
    a @ b
    rates = []
    for r in range(args.runs):
        reps = 0
        t0 = time.perf_counter()
        while True:
            a @ b
            reps += 1
            dt = time.perf_counter() - t0
            if dt > 0.5: break
        rate = 2 * n ** 3 * reps / dt / 1e9
        rates.append(rate)
        print(f"numpy run={r + 1} threads={args.threads} gflops={rate:.2f}", flush=True)
print(f"numpy median threads={args.threads} gflops={statistics.median(rates):.2f}")
