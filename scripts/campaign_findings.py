#!/usr/bin/env python3
"""The README's hierarchy findings from a campaign's results directories.

    python3 scripts/campaign_findings.py CAMPAIGN_DIR

CAMPAIGN_DIR holds one results directory per preset, named after it: paper, fixed-network,
fixed-per-class, coarse-to-fine, finetune-gap (made by `grainsweep run sweeps/NAME.yaml --out
CAMPAIGN_DIR/NAME`); missing ones are skipped.

The replicate is the seed: a cell's value is first averaged within each seed over every axis the
cell does not fix, then the seeds' values give a mean and a 95% t-interval. A comparison ("fine
minus coarse") is a paired difference per seed, matched on every other axis before averaging.
Standard library only.
"""
import csv
import math
import os
import statistics
import sys
from collections import defaultdict

# Two-sided 95% Student t quantiles by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t95(df):
    if df in T95:
        return T95[df]
    keys = sorted(k for k in T95 if k <= df)
    return T95[keys[-1]] if keys else T95[1]


def load(directory):
    path = os.path.join(directory, "results.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def per_seed(rows, where, value):
    """Mean of `value(r)` per seed over the rows `where` selects."""
    cells = defaultdict(list)
    for r in rows:
        if where(r):
            v = value(r)
            if v is not None:
                cells[r["seed"]].append(v)
    return {s: statistics.mean(v) for s, v in cells.items()}


def summary(by_seed):
    v = list(by_seed.values())
    if not v:
        return None
    m = statistics.mean(v)
    h = t95(len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return m, h, len(v)


def fmt(s, digits=3):
    if s is None:
        return ""
    m, h, n = s
    return f"{m:.{digits}f}" if math.isnan(h) else f"{m:.{digits}f} ± {h:.{digits}f}"


def cell(rows, where, metric="hard_acc"):
    return summary(per_seed(rows, where, lambda r: float(r[metric])))


def paired(rows, a, b, key, metric="hard_acc"):
    """Per seed, the mean over matched `key(r)` of metric(a) - metric(b); then mean ± CI."""
    av, bv = defaultdict(list), defaultdict(list)
    for r in rows:
        if a(r):
            av[(r["seed"], key(r))].append(float(r[metric]))
        if b(r):
            bv[(r["seed"], key(r))].append(float(r[metric]))
    diffs = defaultdict(list)
    for k in av:
        if k in bv:
            diffs[k[0]].append(statistics.mean(av[k]) - statistics.mean(bv[k]))
    return summary({s: statistics.mean(d) for s, d in diffs.items()})


def table(title, rows_order, cols_order, value, note=""):
    print(f"\n{title}\n")
    print("| " + " | ".join([""] + [str(c) for c in cols_order]) + " |")
    print("| " + " | ".join(["---"] * (len(cols_order) + 1)) + " |")
    for r in rows_order:
        print("| " + " | ".join([str(r)] + [fmt(value(r, c)) for c in cols_order]) + " |")
    if note:
        print(f"\n{note}")


g = lambda r: int(r["granularity"])
sup = lambda r: r["pretrain"] == "supervised"
scratch = lambda r: r["pretrain"] == "none"


def paper(rows):
    print(f"## paper: {len(rows)} tasks, seeds {sorted({r['seed'] for r in rows})}")
    grans = sorted({g(r) for r in rows if sup(r)})
    rares = sorted({r["rare_freq"] for r in rows}, key=float)
    widths = sorted({r["width"] for r in rows}, key=int)
    noises = sorted({r["noise"] for r in rows}, key=float)
    variant = lambda r: "from scratch" if scratch(r) else r["alignment"]
    table("hard_acc by label variant (rows) and granularity (columns); mean over rare_freq, noise, width; ± 95% over seeds",
          ["aligned", "misaligned", "random"], grans,
          lambda v, gr: cell(rows, lambda r: sup(r) and variant(r) == v and g(r) == gr))
    print(f"\nfrom scratch (filters = K*k*width, any granularity): {fmt(cell(rows, scratch))}")
    for metric in ("hard_acc", "easy_acc"):
        table(f"{metric}, aligned, by rare_freq and granularity; last column from scratch", rares, grans + ["scratch"],
              lambda rf, gr: cell(rows, (lambda r: scratch(r) and r["rare_freq"] == rf) if gr == "scratch"
                                  else (lambda r: sup(r) and r["alignment"] == "aligned" and r["rare_freq"] == rf and g(r) == gr), metric))
    for name, values, col in (("width", widths, "width"), ("noise", noises, "noise")):
        table(f"hard_acc, aligned, by {name} and granularity; last column from scratch", values, grans + ["scratch"],
              lambda v, gr: cell(rows, (lambda r: scratch(r) and r[col] == v) if gr == "scratch"
                                 else (lambda r: sup(r) and r["alignment"] == "aligned" and r[col] == v and g(r) == gr)))
    key = lambda r: (r["rare_freq"], r["noise"], r["width"])
    al = lambda gr: (lambda r: sup(r) and r["alignment"] == "aligned" and g(r) == gr)
    print("\nPaired differences of hard_acc (per seed, matched on rare_freq, noise, width), mean ± 95%:\n")
    print(f"- leaf (g=8) − coarse (g=1): {fmt(paired(rows, al(8), al(1), key))}")
    best = max(grans, key=lambda gr: cell(rows, al(gr))[0])
    print(f"- best granularity: g={best}; g={best} − leaf (g=8): {fmt(paired(rows, al(best), al(8), key))}")
    print(f"- g=32 − g=8 (labels finer than the features): {fmt(paired(rows, al(32), al(8), key))}")
    print(f"- coarse (g=1) − from scratch: {fmt(paired(rows, al(1), scratch, key))}")
    print(f"- leaf (g=8) − from scratch: {fmt(paired(rows, al(8), scratch, key))}")
    for gr in grans:
        mis = lambda r, gr=gr: sup(r) and r["alignment"] == "misaligned" and g(r) == gr
        rnd = lambda r, gr=gr: sup(r) and r["alignment"] == "random" and g(r) == gr
        print(f"- g={gr}: misaligned − aligned {fmt(paired(rows, mis, al(gr), key))}; random − aligned {fmt(paired(rows, rnd, al(gr), key))}")
    for w in widths:
        kw = lambda r: (r["rare_freq"], r["noise"])
        inw = lambda f, w=w: (lambda r: f(r) and r["width"] == w)
        print(f"- width {w}: leaf − coarse {fmt(paired(rows, inw(al(8)), inw(al(1)), kw))}; coarse − scratch "
              f"{fmt(paired(rows, inw(al(1)), inw(scratch), kw))}; leaf − scratch {fmt(paired(rows, inw(al(8)), inw(scratch), kw))}")
    gap = lambda r: float(r["pretrain_hard_acc"]) - float(r["hard_acc"])
    table("The gap: pretrained network's own hard accuracy (classes mapped to superclasses) minus after fine-tuning; aligned",
          rares, grans, lambda rf, gr: summary(per_seed(rows, lambda r: sup(r) and r["alignment"] == "aligned" and r["rare_freq"] == rf and g(r) == gr, gap)))
    table("head_fine_weight (share of the fine-tuned head's weight on fine-feature filters), aligned", rares, grans,
          lambda rf, gr: cell(rows, lambda r: sup(r) and r["alignment"] == "aligned" and r["rare_freq"] == rf and g(r) == gr, "head_fine_weight"))
    conv = [r for r in rows]
    print(f"\nfine-tuning: {sum(float(r['finetune_converged']) == 1 for r in conv)} of {len(conv)} tasks converged by the rule; "
          f"epochs run median {statistics.median(float(r['finetune_epochs_run']) for r in conv):.0f}, "
          f"max {max(float(r['finetune_epochs_run']) for r in conv):.0f}")


def fixed(rows, name):
    print(f"\n## {name}: {len(rows)} tasks")
    grans = sorted({g(r) for r in rows if sup(r)})
    rares = sorted({r["rare_freq"] for r in rows}, key=float)
    variants = sorted({r["alignment"] for r in rows if sup(r)})
    for v in variants:
        table(f"hard_acc, {v}, by rare_freq and granularity (mean over noise); last column from scratch", rares, grans + ["scratch"],
              lambda rf, gr: cell(rows, (lambda r: scratch(r) and r["rare_freq"] == rf) if gr == "scratch"
                                  else (lambda r: sup(r) and r["alignment"] == v and r["rare_freq"] == rf and g(r) == gr)))
    key = lambda r: (r["rare_freq"], r["noise"])
    al = lambda gr: (lambda r: sup(r) and r["alignment"] == "aligned" and g(r) == gr)
    print(f"\n- leaf (g=8) − coarse (g=1): {fmt(paired(rows, al(8), al(1), key))}")
    print(f"- coarse (g=1) − from scratch: {fmt(paired(rows, al(1), scratch, key))}")
    print(f"- leaf (g=8) − from scratch: {fmt(paired(rows, al(8), scratch, key))}")
    print(f"- g=32 − g=8: {fmt(paired(rows, al(32), al(8), key))}")
    if "misaligned" in variants:
        mis = lambda r: sup(r) and r["alignment"] == "misaligned" and g(r) == 8
        print(f"- misaligned − aligned at g=8: {fmt(paired(rows, mis, al(8), key))}")


def coarse_to_fine(rows):
    print(f"\n## coarse-to-fine: {len(rows)} tasks (accuracies on the 16 leaf labels; chance 0.0625)")
    grans = sorted({g(r) for r in rows if sup(r)})
    rares = sorted({r["rare_freq"] for r in rows}, key=float)
    for metric in ("hard_acc", "easy_acc"):
        table(f"{metric} (leaf labels), by rare_freq and pretraining granularity; last column from scratch", rares, grans + ["scratch"],
              lambda rf, gr: cell(rows, (lambda r: scratch(r) and r["rare_freq"] == rf) if gr == "scratch"
                                  else (lambda r: sup(r) and r["rare_freq"] == rf and g(r) == gr), metric))
    key = lambda r: r["rare_freq"]
    at = lambda gr: (lambda r: sup(r) and g(r) == gr)
    print(f"\n- coarse (g=1) − from scratch, hard: {fmt(paired(rows, at(1), scratch, key))}")
    print(f"- leaf (g=8) − from scratch, hard: {fmt(paired(rows, at(8), scratch, key))}")


def gap(rows):
    print(f"\n## finetune-gap: {len(rows)} tasks (g = 8, aligned)")
    def variant(r):
        v = f"{r['finetune']}/{r['finetune_head']}" + (f"/lr {r['finetune_filter_lr']}" if r["finetune"] == "full" else "")
        if r.get("finetune_epochs") == "0":
            v += "/not fine-tuned"
        if float(r.get("train_hard_frac", "0")) > 0:
            v += f"/hard {r['train_hard_frac']}"
        return v
    variants = sorted({variant(r) for r in rows})
    rares = sorted({r["rare_freq"] for r in rows}, key=float)
    for n in sorted({r["finetune_samples"] for r in rows}, key=int):
        table(f"hard_acc with {n} fine-tuning samples, by variant and rare_freq; pretrained network itself in the last row",
              variants + ["pretrained"], rares,
              lambda v, rf: cell(rows, lambda r: r["finetune_samples"] == n and r["rare_freq"] == rf and variant(r) == "probe/new",
                                 "pretrain_hard_acc") if v == "pretrained"
              else cell(rows, lambda r: variant(r) == v and r["finetune_samples"] == n and r["rare_freq"] == rf))
    table("filter_change by variant and fine-tuning samples", [v for v in variants if v.startswith("full")],
          sorted({r["finetune_samples"] for r in rows}, key=int),
          lambda v, n: cell(rows, lambda r: variant(r) == v and r["finetune_samples"] == n, "filter_change"))
    table("head_fine_weight by variant and rare_freq (512 samples)", variants, rares,
          lambda v, rf: cell(rows, lambda r: variant(r) == v and r["rare_freq"] == rf and r["finetune_samples"] == "512", "head_fine_weight"))


def main(root):
    for name in ("paper", "fixed-network", "fixed-per-class", "coarse-to-fine", "finetune-gap"):
        rows = load(os.path.join(root, name))
        if rows is None:
            continue
        if name == "paper":
            paper(rows)
        elif name.startswith("fixed"):
            fixed(rows, name)
        elif name == "coarse-to-fine":
            coarse_to_fine(rows)
        else:
            gap(rows)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results")
