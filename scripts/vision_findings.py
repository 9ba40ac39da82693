#!/usr/bin/python3
"""The numbers of docs/findings.md's vision section, from a finished Beyond Routing study folder
(studies/beyond_routing.sh: SEEDDIR/analysis/*, compare/compare_vision.json) and its image set.

usage: scripts/vision_findings.py STUDY IMAGES

Per seed, on the analysed held-out images: the gate summary (usage, entropy, MI(top-1; group)
with its shuffled null); the gate's animacy index (largest |A| and its permutation p); whether
animacy dominates the partition: MI(top-1 expert; animate) against MI(top-1; B) for every one of
the 31 bipartitions B of the six groups (animacy is by subgroup: plants are inanimate, so it is
not itself one of them); readout separability (animate, group) per expert; tuning (the ridge R²
of the semantic dimensions, the largest |rho|); then the cross-seed matching from compare."""
import csv, itertools, json, math, os, sys
import numpy as np


def mi_bits(x, y):
    xs, ys = np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]
    t = np.zeros((xs.max() + 1, ys.max() + 1))
    np.add.at(t, (xs, ys), 1)
    p = t / t.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log2(p[nz] / (px @ py)[nz])).sum())


def seed_rows(run, images):
    a = os.path.join(run, "analysis")
    v = json.load(open(os.path.join(a, "vision.json")))
    g = v["gate_summary"]
    split = np.load(os.path.join(images, "split.npy"))
    held = np.where(split == 1)[0][np.load(os.path.join(a, "images_index.npy"))]
    concept = np.load(os.path.join(images, "concept.npy"))[held]
    group = np.load(os.path.join(images, "labels.npy"))[0][held]
    animate = {int(r["id"]): int(r["animate"]) for r in csv.DictReader(open(os.path.join(images, "concepts.csv")))}
    anim = np.array([animate[int(c)] for c in concept])
    top1 = np.load(os.path.join(a, "top1.npy"))
    mi_anim = mi_bits(top1, anim)
    splits = [mi_bits(top1, np.isin(group, s)) for r in range(1, 4)
              for s in itertools.combinations(range(6), r) if r < 3 or 0 in s]
    gat = json.load(open(os.path.join(a, "gating.json")))["animacy"]
    amax = int(np.argmax(np.abs(gat["index"])))
    sep = json.load(open(os.path.join(a, "separability.json")))["results"]
    acc = lambda tgt: [r for r in sep if r["target"] == tgt and r["features"].startswith("expert")]
    tun = json.load(open(os.path.join(a, "tuning.json")))["experts"]
    return {
        "usage": (g["usage_min"], g["usage_max"]), "entropy_frac": g["entropy_frac"],
        "mi_group": g["mi_bits"], "mi_null": g["mi_null_bits"], "mi_p": g["mi_p"],
        "animacy_index": gat["index"][amax], "animacy_p": gat["p"][amax],
        "mi_animate": mi_anim, "bipartitions": len(splits),
        "rank_animate": 1 + sum(s > mi_anim for s in splits), "best_bipartition": max(splits),
        "sep_animate": [(r["accuracy"], r["ci95_lo"], r["ci95_hi"]) for r in acc("animate")],
        "sep_group": [(r["accuracy"], r["ci95_lo"], r["ci95_hi"]) for r in acc("group")],
        "chance_animate": acc("animate")[0]["chance_majority"],
        "chance_group": acc("group")[0]["chance_majority"],
        "ridge_r2_readout": [e["ridge_cv_r2_readout"] for e in tun],
        "max_rho_readout": max(abs(d["rho"]) for e in tun for d in e["top_readout"]),
        "rsa_within": v.get("rsa_within_mean_offdiag_rho"),
    }


def main():
    study, images = sys.argv[1], sys.argv[2]
    runs = sorted(d for d in os.listdir(study) if d.startswith("vision-seed"))
    out = {r: seed_rows(os.path.join(study, r), images) for r in runs}
    cmp = json.load(open(os.path.join(study, "compare", "compare_vision.json")))
    out["compare"] = [{"pair": (p["a"], p["b"]),
                       **{k: {x: p[k][x] for x in ("matched_mean", "null_mean", "null_sd", "p")}
                          for k in ("rsa", "cka", "tuning")},
                       "animacy_pearson": p["animacy"]["pearson"], "animacy_p": p["animacy"]["p"]}
                      for p in cmp["pairs"]]
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
