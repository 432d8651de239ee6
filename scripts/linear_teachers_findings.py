#!/usr/bin/env python3
"""Tables of the linear_teachers preset (sweeps/linear-teachers.yaml) for docs/SCIENCE.md.

Usage: python3 scripts/linear_teachers_findings.py RESULTS_DIR/results.csv

Each cell is the mean of the final target risk over seeds with the half-width of a 95% Student
t-interval; ratios are means over seeds of per-seed ratios (the same seed = the same target
samples and teachers), with their intervals.
"""
import csv, math, sys
from collections import defaultdict

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 29: 2.045}

def summary(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float('nan'), n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, T975.get(n - 1, 1.96) * s / math.sqrt(n), n

def fmt(xs):
    m, h, n = summary(xs)
    return f"{m:.3g} ± {h:.2g}"

rows = list(csv.DictReader(open(sys.argv[1])))
def key(r, *names):
    return tuple(r[n] for n in names)
by = defaultdict(dict)  # condition -> seed -> risk
for r in rows:
    cond = key(r, 'model', 'depth', 'relation', 'difference_in', 'frozen_layers', 'pretrain', 'target_samples')
    by[cond][r['seed']] = float(r['risk'])
ns = sorted({int(r['target_samples']) for r in rows})
steps = [float(r['steps']) for r in rows]
conv = [float(r['converged']) for r in rows]
print(f"{len(rows)} tasks; converged {sum(conv):.0f}; steps median {sorted(steps)[len(steps)//2]:.0f}, max {max(steps):.0f}")
walls = [float(r['wall_seconds']) for r in rows]
print(f"wall seconds: total {sum(walls):.1f}, max {max(walls):.2f}")

def risks(model, depth, relation, diff, frozen, pretrain, n):
    return by.get((model, str(depth), relation, diff, str(frozen), pretrain, str(n)), {})

def ratio(a, b):
    seeds = sorted(set(a) & set(b))
    return [a[s] / b[s] for s in seeds]

print("\nClaim 1 (linear; perturbation epsilon=1 in the top/bottom 10 of 50 eigen-directions): risk")
print("| n | top, fine-tuned | top, scratch | bottom, fine-tuned | bottom, scratch | bottom FT / scratch | top FT / scratch |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for n in ns:
    tf, ts = risks('linear', 1, 'perturbed', 'top', 0, 'exact', n), risks('linear', 1, 'perturbed', 'top', 0, 'none', n)
    bf, bs = risks('linear', 1, 'perturbed', 'bottom', 0, 'exact', n), risks('linear', 1, 'perturbed', 'bottom', 0, 'none', n)
    if not tf: continue
    print(f"| {n} | {fmt(list(tf.values()))} | {fmt(list(ts.values()))} | {fmt(list(bf.values()))} | {fmt(list(bs.values()))} | {fmt(ratio(bf, bs))} | {fmt(ratio(tf, ts))} |")

print("\nClaim 3 (ReLU m=128, pretrained on 200 source samples): risk")
print("| n | top, fine-tuned | top, scratch | bottom, fine-tuned | bottom, scratch | bottom FT / scratch | top FT / scratch |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for n in ns:
    tf, ts = risks('relu', 1, 'perturbed', 'top', 0, 'source', n), risks('relu', 1, 'perturbed', 'top', 0, 'none', n)
    bf, bs = risks('relu', 1, 'perturbed', 'bottom', 0, 'source', n), risks('relu', 1, 'perturbed', 'bottom', 0, 'none', n)
    if not tf: continue
    print(f"| {n} | {fmt(list(tf.values()))} | {fmt(list(ts.values()))} | {fmt(list(bf.values()))} | {fmt(list(bs.values()))} | {fmt(ratio(bf, bs))} | {fmt(ratio(tf, ts))} |")

print("\nClaim 2 (scaled target alpha=2, epsilon=0.1 in random directions): risk by depth")
depths = sorted({int(r['depth']) for r in rows if r['relation'] == 'scaled' and r['frozen_layers'] == '0'})
print("| n | " + " | ".join(f"L={L}" for L in depths) + f" | L={depths[-1]} / L=1 |")
print("| --- |" + " --- |" * (len(depths) + 1))
for n in ns:
    cells = []
    for L in depths:
        model = 'linear' if L == 1 else 'deep_linear'
        cells.append(fmt(list(risks(model, L, 'scaled', 'random', 0, 'exact', n).values())))
    deep = risks('deep_linear', depths[-1], 'scaled', 'random', 0, 'exact', n)
    lin = risks('linear', 1, 'scaled', 'random', 0, 'exact', n)
    print(f"| {n} | " + " | ".join(cells) + f" | {fmt(ratio(deep, lin))} |")

print("\nClaim 2, frozen first layer (depth 3): risk")
print("| n | scaled, trained | scaled, frozen | rotated 45°, trained | rotated 45°, frozen |")
print("| --- | --- | --- | --- | --- |")
for n in ns:
    cells = [fmt(list(risks('deep_linear', 3, rel, 'random', fr, 'exact', n).values())) for rel in ['scaled', 'rotated'] for fr in [0, 1]]
    print(f"| {n} | " + " | ".join(cells) + " |")
