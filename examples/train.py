#!/usr/bin/env python3
"""A tiny training script to sweep with grainsweep's `command` family (standard library only).

It fits a logistic-regression classifier by gradient descent to seeded synthetic data, and
speaks the protocol grainsweep reads from a program's stdout, one JSON object per line:

    {"epoch": 3, "loss": 0.41, "accuracy": 0.87}        # a point of the learning curve
    {"result": {"loss": 0.12, "accuracy": 0.93}}        # the final metrics (once, at the end)

Anything else it prints is ignored. A non-zero exit, or no result line, fails the task.

    python3 examples/train.py --lr 0.1 --epochs 20 --noise 0.5 --seed 0
"""
import argparse
import json
import math
import os
import random
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    dim = 8
    truth = [rng.gauss(0, 1) for _ in range(dim)]
    data = []
    for _ in range(args.samples):
        x = [rng.gauss(0, 1) for _ in range(dim)]
        margin = sum(a * b for a, b in zip(truth, x)) + rng.gauss(0, args.noise)
        data.append((x, 1.0 if margin > 0 else 0.0))

    w = [0.0] * dim
    print(f"training on {len(data)} samples with {os.environ.get('OMP_NUM_THREADS', '?')} thread(s)", file=sys.stderr)
    loss = accuracy = float("nan")
    for epoch in range(1, args.epochs + 1):
        grad = [0.0] * dim
        loss = 0.0
        correct = 0
        for x, y in data:
            z = sum(a * b for a, b in zip(w, x))
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            loss -= y * math.log(max(p, 1e-12)) + (1 - y) * math.log(max(1 - p, 1e-12))
            correct += (p > 0.5) == (y > 0.5)
            for i in range(dim):
                grad[i] += (p - y) * x[i]
        loss /= len(data)
        accuracy = correct / len(data)
        w = [wi - args.lr * gi / len(data) for wi, gi in zip(w, grad)]
        print(json.dumps({"epoch": epoch, "loss": loss, "accuracy": accuracy}), flush=True)
    print(json.dumps({"result": {"loss": loss, "accuracy": accuracy}}), flush=True)


if __name__ == "__main__":
    main()
