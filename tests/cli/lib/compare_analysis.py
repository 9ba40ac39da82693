"""Compares two analysis folders file by file (a sharded `analyze` against one process): the same
files; integer .npy arrays, the routing counts and co-occurrences (float64 arrays of whole counts),
the traces and the per-token CSV identical byte for byte; every other number within TOL: JSON and
float .npy relative to the larger value, CSV (printed rounded, %.6f or %.6g) relative to the larger
of it and 1; strings equal. Timings (analyze.json "seconds", prune.json "seconds") are skipped.
Prints the largest difference met in each kind.
usage: compare_analysis.py DIR_A DIR_B TOL  (exit 1 on a difference)
"""
import json
import math
import os
import sys

import numpy as np

EXACT = {"routing_counts.npy", "routing_cooc.npy", "trace_ids.npy", "trace_weights.npy",
         "trace_tokens.npy", "trace_domains.npy", "lens_tokens.csv", "lift_domain.npy",
         "lift_class.npy", "routing_stats.csv", "lift_domain.csv", "lift_class.csv"}
worst = {"json/npy": [0.0, "-"], "csv": [0.0, "-"]}


def fail(msg):
    sys.exit(f"compare_analysis: {msg}")


def number(a, b, where, floor=1e-30, kind="json/npy"):
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return
    r = abs(a - b) / max(abs(a), abs(b), floor)
    if r > worst[kind][0]:
        worst[kind] = [r, where]


def walk(a, b, where):
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            fail(f"{where}: keys differ")
        for k in a:
            if k != "seconds":
                walk(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            fail(f"{where}: lengths differ")
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{where}[{i}]")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        if not isinstance(b, (int, float)):
            fail(f"{where}: {a!r} vs {b!r}")
        number(a, b, where)
    elif a != b:
        fail(f"{where}: {a!r} vs {b!r}")


def field(x):
    try:
        return float(x)
    except ValueError:
        return None


def csv(pa, pb, name):
    la, lb = open(pa).read().splitlines(), open(pb).read().splitlines()
    if len(la) != len(lb):
        fail(f"{name}: {len(la)} vs {len(lb)} lines")
    for i, (x, y) in enumerate(zip(la, lb)):
        fx, fy = x.split(","), y.split(",")
        if len(fx) != len(fy):
            fail(f"{name}:{i + 1}: fields differ")
        for u, v in zip(fx, fy):
            nu, nv = field(u), field(v)
            if nu is None or nv is None:
                if u != v:
                    fail(f"{name}:{i + 1}: {u!r} vs {v!r}")
            else:
                number(nu, nv, f"{name}:{i + 1}", 1.0, "csv")


def npy(pa, pb, name):
    x, y = np.load(pa), np.load(pb)
    if x.shape != y.shape or x.dtype != y.dtype:
        fail(f"{name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
    if x.dtype.kind in "iub":
        if not np.array_equal(x, y):
            fail(f"{name}: integer arrays differ")
        return
    for u, v in zip(x.ravel().tolist(), y.ravel().tolist()):
        number(u, v, name)


da, db, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
files = sorted(os.listdir(da))
if files != sorted(os.listdir(db)):
    fail(f"files differ: {sorted(set(files) ^ set(os.listdir(db)))}")
same = 0
for name in files:
    pa, pb = os.path.join(da, name), os.path.join(db, name)
    if open(pa, "rb").read() == open(pb, "rb").read():
        same += 1
    elif name in EXACT:
        fail(f"{name}: not identical")
    elif name.endswith(".json"):
        walk(json.load(open(pa)), json.load(open(pb)), name)
    elif name.endswith(".csv"):
        csv(pa, pb, name)
    elif name.endswith(".npy"):
        npy(pa, pb, name)
    else:
        fail(f"{name}: differs")
print(f"compare_analysis: {len(files)} files, {same} identical; largest difference: " +
      "; ".join(f"{k} {w[0]:.2g} ({w[1]})" for k, w in worst.items()))
if max(w[0] for w in worst.values()) > tol:
    sys.exit(1)
