#!/bin/sh
# studies/beyond_routing.sh --quick on the emoji fixture: three seeds trained, analysed on the
# held-out styles, compared, reported; a re-run reuses the trained seeds; bad options are refused.
set -e
export OMP_NUM_THREADS=1
. tests/cli/lib/emoji.sh
emoji_test_dir
sh studies/beyond_routing.sh --help | grep -q -- "--quick"
sh studies/beyond_routing.sh --quick --images "$T/emoji" --out "$T/study" 2>"$T/log"
for s in 1 2 3; do
    test -s "$T/study/vision-seed$s/eval.json"
    test -s "$T/study/vision-seed$s/analysis/mei_e0_gate_synth.png"
done
test -s "$T/study/compare/compare_vision.json"
test -s "$T/study/report.html"
grep -q 'id="vcompare"' "$T/study/report.html"
./moelens report "$T/study/vision-seed1" --out "$T/seed1.html" >/dev/null
grep -q "Routing by style" "$T/seed1.html"
/usr/bin/python3 - "$T/study" <<'PY'
import json, sys
d = sys.argv[1]
for s in (1, 2, 3):
    v = json.load(open(f"{d}/vision-seed{s}/analysis/vision.json"))
    assert v["split"] == "heldout" and v["images_total"] == 12, v
    c = json.load(open(f"{d}/vision-seed{s}/config.json"))
    assert c["seed"] == str(s) and c["aug_pair_style"] == 0.5, c
    e = json.load(open(f"{d}/vision-seed{s}/eval.json"))  # google / twitter / fluent-* left out
    assert 0 <= e["probe_family_out"] <= 1, e
    g = v["gate_summary"]  # the held-out split's two styles: routing by style measured
    assert 0 <= g["mi_style_bits"] <= 1 and 0 < g["mi_style_p"] <= 1, g
    assert sorted(g["style_top1_max"]) == ["openmoji-black", "openmoji-color"], g
    assert all(0 < x <= 1 for x in g["style_top1_max"].values()), g
assert len(json.load(open(f"{d}/compare/compare_vision.json"))["runs"]) == 3
PY
sh studies/beyond_routing.sh --quick --images "$T/emoji" --out "$T/study" 2>"$T/log2"
[ "$(grep -c 'trained already' "$T/log2")" -eq 3 ]
if sh studies/beyond_routing.sh --bogus 2>"$T/err"; then exit 1; fi
grep -q "unknown option '--bogus'" "$T/err"
echo ok
