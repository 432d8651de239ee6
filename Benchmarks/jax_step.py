"""Reference implementation of the grainsweep pretraining step in JAX on CPU.

The same step as TrainingCore's PretrainStep: z = X W + b over P patches, pooled = sum_p ReLU(z),
logits F_j = (s/m) sum_r pooled[j*m + r], mean softmax cross-entropy, W -= lr * grad.
Prints one line per run and the median, in the format run-core.sh parses.
Threads: run under `taskset` (run-core.sh does) and XLA's intra-op thread count set below.
"""
import argparse, os, statistics, sys, time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--runs", type=int, default=5)
p.add_argument("--seconds", type=float, default=1.0)
args = p.parse_args()
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
    f" --xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'}"
    f" intra_op_parallelism_threads={args.threads}")

import jax, jax.numpy as jnp
import numpy as np

K, k, g, d, P, m, B = 2, 8, 8, 64, 8, 16, 128
C = K * g
F = C * m
s, b, lr = 1.0, 0.0, 1.0
N = 4096

rng = np.random.default_rng(0)
X = jnp.asarray(rng.normal(0, 0.5 / np.sqrt(d), (N, P, d)).astype(np.float32))
Y = jnp.asarray(rng.integers(0, C, N).astype(np.int32))
W = jnp.asarray(rng.normal(0, 0.01 / np.sqrt(d), (d, F)).astype(np.float32))
batches = [(X[i:i + B], Y[i:i + B]) for i in range(0, N, B)]

def loss_fn(w, x, y):
    z = jnp.einsum("bpd,df->bpf", x, w) + b
    pooled = jnp.maximum(z, 0).sum(axis=1)
    logits = (s / m) * pooled.reshape(x.shape[0], C, m).sum(-1)
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(x.shape[0]), y])

@jax.jit
def step(w, x, y):
    l, gr = jax.value_and_grad(loss_fn)(w, x, y)
    return w - lr * gr, l

def run(w, steps):
    for i in range(steps):
        x, y = batches[i % len(batches)]
        w, l = step(w, x, y)
    w.block_until_ready()
    return w

W = run(W, 50)  # compile and warm up
flops = 4 * P * d * F
rates = []
for r in range(args.runs):
    steps = 20
    while True:
        t0 = time.perf_counter(); W = run(W, steps); dt = time.perf_counter() - t0
        if dt > args.seconds * 0.5: break
        steps *= 2
    rate = steps * B / dt
    rates.append(rate)
    print(f"jax run={r + 1} threads={args.threads} samples_per_s={int(rate)} gflops={rate * flops / 1e9:.2f}", flush=True)
med = statistics.median(rates)
print(f"jax median shape=small threads={args.threads} samples_per_s={int(med)} gflops={med * flops / 1e9:.2f}")
