#!/bin/sh
# `moelens analyze RUN --images SET` on a tiny vision run over the emoji fixture (6 concepts, 4
# styles), `moelens compare` across seeds and against a copy whose experts are permuted (Hungarian
# must recover the permutation), outputs loaded with numpy, and clear errors.
set -e
export OMP_NUM_THREADS=1
. tests/cli/lib/emoji.sh
emoji_test_dir
TR="--data $T/emoji --set batch=8 --set steps=5 --set eval_every=0 --set probe_images=24 --quiet"
./moelens train vision --out $T/a $TR --set seed=1
./moelens train vision --out $T/b $TR --set seed=2
./moelens analyze $T/a --images $T/emoji --help | grep -q -- '--rsa-stimuli'
AN="--images $T/emoji --folds 3 --perms 200 --mei 8 --quiet"
./moelens analyze $T/a $AN
./moelens analyze $T/b $AN --out $T/b/analysis
for f in vision.json gating.json gating.csv separability.json separability.csv mei.json \
    mei_e0_gate.png mei_e3_readout.png mei_e0_gate_synth.png mei_e3_readout_synth.png \
    tuning.json tuning.csv rsa.json; do
    test -s "$T/a/analysis/$f" || { echo "missing $f"; exit 1; }
done
/usr/bin/python3 - "$T/a/analysis" <<'PY'
import json, sys, numpy as np, csv
d = sys.argv[1]
E = json.load(open(f"{d}/vision.json"))["experts"]
g = json.load(open(f"{d}/gating.json"))
assert [l["level"] for l in g["levels"]] == ["group", "subgroup"]
m = np.load(f"{d}/gating_L1_mean.npy")
assert m.shape[1] == E and np.allclose(m.sum(1), 1, atol=1e-5)
assert np.allclose(np.load(f"{d}/gating_L0_top1.npy").sum(1), 1)
a = g["animacy"]
assert len(a["index"]) == E and all(-1 <= x <= 1 for x in a["index"]) and all(0 < p <= 1 for p in a["p"])
rows = list(csv.DictReader(open(f"{d}/separability.csv")))
assert {r["features"] for r in rows} == {"model"} | {f"expert{e}" for e in range(E)}
assert {r["target"] for r in rows} == {"group", "subgroup", "animate"}
for r in rows:
    assert float(r["ci95_lo"]) <= float(r["accuracy"]) <= float(r["ci95_hi"])
rdm = np.load(f"{d}/rsa_rdm.npy")
assert rdm.shape == (E, 6, 6) and np.allclose(rdm, rdm.transpose(0, 2, 1)) and np.allclose(rdm[:, range(6), range(6)], 0)
f = np.load(f"{d}/rsa_features.npy")
c = np.corrcoef(f[0])  # numpy's RDM agrees with ours
assert np.allclose(1 - c, rdm[0], atol=1e-5)
rho = np.load(f"{d}/tuning_readout_rho.npy")
assert rho.shape == (E, 4) and np.all(np.abs(rho[np.isfinite(rho)]) <= 1)
t = json.load(open(f"{d}/tuning.json"))
assert t["dims"][0].startswith("nmf0: ") and len(t["experts"][0]["top_readout"]) == 4
mi = np.load(f"{d}/mei_index.npy")
assert mi.shape == (E, 2, 8)
sy = np.load(f"{d}/mei_synth.npy")  # synthesised MEIs: images in [0,1], beating their noise start
assert sy.shape == (E, 2, 3, 16, 16) and sy.min() >= 0 and sy.max() <= 1
mj = json.load(open(f"{d}/mei.json"))
for e in mj["experts"]:
    for k in ["gate_synth", "readout_synth"]:
        assert e[k]["value_synthesised"] > e[k]["value_noise_start"], (e["expert"], k, e[k])
r = json.load(open(f"{d}/rsa.json"))  # stimuli balanced across the 3 fixture groups
assert sorted(r["stimuli_per_class"].values()) == [1, 2, 3] and "seeded" in r["stimulus_rule"]
gp = np.load(f"{d}/gate_probs.npy")
assert all(np.argsort(-gp[:, e], kind="stable")[0] == mi[e, 0, 0] for e in range(E))
PY
# a copy of run a whose experts are relabelled by a permutation: compare must recover it
cp -r $T/a $T/p
/usr/bin/python3 - "$T/a/analysis" "$T/p/analysis" <<'PY'
import sys, numpy as np, json
s, d = sys.argv[1:]
pi = [2, 0, 3, 1]  # copy's expert pi[e] is a's expert e
inv = np.argsort(pi)
for name in ["rsa_rdm.npy", "rsa_features.npy", "tuning_readout_rho.npy"]:
    np.save(f"{d}/{name}", np.load(f"{s}/{name}")[inv])
g = json.load(open(f"{s}/gating.json"))
g["animacy"]["index"] = [g["animacy"]["index"][i] for i in inv]
json.dump(g, open(f"{d}/gating.json", "w"))
PY
./moelens compare $T/a $T/b $T/p --out $T/cmp --perms 50 > $T/cmp.txt
/usr/bin/python3 - "$T/cmp" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
j = json.load(open(f"{d}/compare_vision.json"))
p02 = [p for p in j["pairs"] if (p["a"], p["b"]) == (0, 2)][0]
for what in ["rsa", "cka", "tuning"]:
    assert p02[what]["match"] == [2, 0, 3, 1], (what, p02[what]["match"])
    assert abs(p02[what]["matched_mean"] - 1) < 1e-6
assert abs(p02["animacy"]["pearson"] - 1) < 1e-9
s = np.load(f"{d}/pair0_1_rsa.npy")
assert s.shape == (4, 4) and np.all(np.abs(s) <= 1 + 1e-12)
PY
grep -q "animacy of matched experts" $T/cmp.txt
# --split heldout: only the held-out styles (2 of 7) are analysed
./moelens analyze $T/a --images $T/emoji --split heldout --only gating --out $T/held --quiet
/usr/bin/python3 -c "import json; v = json.load(open('$T/held/vision.json')); assert (v['split'], v['images_total']) == ('heldout', 12), v"
if ./moelens analyze $T/a --images $T/emoji --split nope 2>$T/err; then exit 1; fi
grep -q "expected all, train or heldout" $T/err
# the gate's own conv blocks and the style information loss train and analyse end to end (the
# loss is logged per step, the tower's tensors are in the checkpoint, synthesised gate MEIs too)
./moelens train vision --out $T/tower $TR --set seed=1 --set gate_blocks=2 --set gate_source=relu \
    --set gate_style_mi=1
grep -q '"gate_style_mi"' $T/tower/metrics.jsonl
grep -q 'gate_tower.block.1.conv.weight' $T/tower/model.safetensors
./moelens analyze $T/tower --images $T/emoji --only gating,mei --mei 4 --synth-steps 5 --quiet
test -s $T/tower/analysis/mei_e0_gate_synth.png
# --gate-stats: the model's own gate statistics or ones re-estimated on the held-out images
# (the run's default); the routing probabilities differ, and the summary says which it used
./moelens analyze $T/a --images $T/emoji --split heldout --only gating --out $T/heldm \
    --gate-stats model --quiet
/usr/bin/python3 - "$T" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
m, a = json.load(open(f"{d}/heldm/vision.json")), json.load(open(f"{d}/held/vision.json"))
assert m["gate_summary"]["gate_stats"] == "training", m["gate_summary"]
assert a["gate_summary"]["gate_stats"] == "adapted to these images", a["gate_summary"]
pm, pa = np.load(f"{d}/heldm/gate_probs.npy"), np.load(f"{d}/held/gate_probs.npy")
assert pm.shape == pa.shape and np.abs(pm - pa).max() > 1e-4
PY
if ./moelens analyze $T/a --images $T/emoji --gate-stats running 2>$T/err; then exit 1; fi
grep -q "expected model or adapted" $T/err
# errors: one line, non-zero exit, nothing written
if ./moelens analyze $T/a 2>$T/err; then exit 1; fi
grep -q "needs --images" $T/err
if ./moelens analyze $T/a --images $T/emoji --only nope 2>$T/err; then exit 1; fi
grep -q "unknown vision analysis 'nope'" $T/err
if ./moelens analyze $T/a --images $T/missing --out $T/none 2>$T/err; then exit 1; fi
[ "$(wc -l <$T/err)" -eq 1 ] && [ ! -e $T/none ]
if ./moelens compare $T/a 2>$T/err; then exit 1; fi
grep -q "at least 2 runs" $T/err
./moelens analyze $T/a --images $T/emoji --only rsa --out $T/rsaonly --rsa-stimuli 4 --quiet
cp $T/rsaonly/rsa_* $T/b/analysis/ # b now on 4 stimuli, a on 6
if ./moelens compare $T/a $T/b 2>$T/err; then exit 1; fi
grep -q "different stimuli" $T/err
echo ok
