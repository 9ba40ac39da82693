"""Compares two runs' metrics.jsonl step by step: the largest relative difference of the training
loss, aux loss, grad norm and validation loss, and whether the integer counts agree exactly: the
routing statistics (max_share = most-picked expert's count / tokens, dead experts) and the
evaluated tokens per domain.
usage: compare_metrics.py A/metrics.jsonl B/metrics.jsonl TOL  (exit 1 when over TOL or differing)
"""
import json
import sys


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
if len(a) != len(b):
    sys.exit(f"{len(a)} vs {len(b)} metrics lines")
worst = {"loss": 0.0, "aux": 0.0, "grad_norm": 0.0, "val_loss": 0.0}
routing_same, steps = True, 0
for x, y in zip(a, b):
    for key in worst:
        if key in x:
            worst[key] = max(worst[key], rel(x[key], y[key]))
    if "val_domains" in x:  # evaluated token counts: integers, equal however the work was split
        routing_same &= x["val_tokens"] == y["val_tokens"] and all(
            x["val_domains"][d]["tokens"] == y["val_domains"][d]["tokens"] for d in x["val_domains"])
    if "experts" in x:
        steps += 1
        for ex, ey in zip(x["experts"], y["experts"]):
            routing_same &= ex["max_share"] == ey["max_share"] and ex["dead"] == ey["dead"]
print(f"{steps} steps: max relative difference " +
      ", ".join(f"{k} {v:.2e}" for k, v in worst.items()) +
      f"; routing and token counts {'identical' if routing_same else 'DIFFER'}")
sys.exit(0 if routing_same and max(worst.values()) <= tol else 1)
