#!/usr/bin/env python3
"""Summarises a hierarchy sweep's results.csv into the tables of the README's findings.

    python3 scripts/findings.py results/paper-lite/results.csv [SEEDS]

SEEDS, if given, keeps seeds 0..SEEDS-1 only (complete replicates of a sweep stopped early).

Means over seeds (and over the other axes where a table marginalises them), with the number of
tasks behind each cell. Standard library only.
"""
import csv
import statistics
import sys
from collections import defaultdict


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def table(rows, key, value="hard_acc", where=lambda r: True):
    cells = defaultdict(list)
    for r in rows:
        if where(r):
            cells[key(r)].append(float(r[value]))
    return {k: (statistics.mean(v), len(v)) for k, v in cells.items()}


def show(title, cells, row_key, col_key, rows_order, cols_order, fmt="{:.3f}"):
    print(f"\n{title}")
    print("| " + " | ".join([""] + [str(c) for c in cols_order]) + " |")
    print("|" + "---|" * (len(cols_order) + 1))
    for r in rows_order:
        line = [str(r)]
        for c in cols_order:
            v = cells.get((r, c))
            line.append(fmt.format(v[0]) if v else "")
        print("| " + " | ".join(line) + " |")


def main(path, seeds=None):
    rows = load(path)
    if seeds is not None:
        rows = [r for r in rows if int(r["seed"]) < seeds]
    g = lambda r: int(r["granularity"])
    aligned = lambda r: r["pretrain"] == "supervised" and r["alignment"] == "aligned"
    scratch = lambda r: r["pretrain"] == "none"
    grans = sorted({g(r) for r in rows})
    rares = sorted({r["rare_freq"] for r in rows}, key=float)
    noises = sorted({r["noise"] for r in rows}, key=float)
    widths = sorted({r["width"] for r in rows}, key=int)
    print(f"{len(rows)} tasks from {path}")
    for metric in ("hard_acc", "easy_acc"):
        cells = table(rows, lambda r: (r["rare_freq"], g(r)), metric, aligned)
        base = table(rows, lambda r: (r["rare_freq"], "scratch"), metric, scratch)
        cells.update(base)
        show(f"{metric}, aligned labels, by rare_freq (rows) and granularity (columns); mean over noise, width, seeds",
             cells, None, None, rares, grans + ["scratch"])
    cells = table(rows, lambda r: (r["noise"], g(r)), "hard_acc", aligned)
    cells.update(table(rows, lambda r: (r["noise"], "scratch"), "hard_acc", scratch))
    show("hard_acc, aligned, by noise and granularity; mean over rare_freq, width, seeds", cells, None, None, noises, grans + ["scratch"])
    cells = table(rows, lambda r: (r["width"], g(r)), "hard_acc", aligned)
    cells.update(table(rows, lambda r: (r["width"], "scratch"), "hard_acc", scratch))
    show("hard_acc, aligned, by width and granularity; mean over rare_freq, noise, seeds", cells, None, None, widths, grans + ["scratch"])
    variant = lambda r: "scratch" if scratch(r) else r["alignment"]
    cells = table(rows, lambda r: (variant(r), g(r)), "hard_acc")
    show("hard_acc by label variant and granularity; mean over rare_freq, noise, width, seeds", cells, None, None,
         ["aligned", "misaligned", "random", "scratch"], grans)
    cells = table(rows, lambda r: (variant(r), g(r)), "easy_acc")
    show("easy_acc by label variant and granularity", cells, None, None, ["aligned", "misaligned", "random", "scratch"], grans)
    for name in ("fine_align", "common_align"):
        cells = table(rows, lambda r: (r["rare_freq"], g(r)), name, aligned)
        show(f"{name}, aligned, by rare_freq and granularity", cells, None, None, rares, grans)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/paper-lite/results.csv",
         int(sys.argv[2]) if len(sys.argv) > 2 else None)
