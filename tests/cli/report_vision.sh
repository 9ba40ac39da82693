#!/bin/sh
# `moelens report` on a tiny vision run with its analysis (emoji fixture, as analyze_vision.sh) and
# on a sweep of two seeds with `moelens compare`: rendered by headless Chromium, the DOM must hold
# the vision figures (gating heatmaps, entropy, animacy, separability intervals, MEI grids and
# synthesised MEIs, tuning, RDMs, training curves, cross-seed matching), each non-empty, and
# nothing left to the catch-all
# except a constructed extra file.
set -e
export OMP_NUM_THREADS=1
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "report_vision: chromium not found: install the Debian package 'chromium' (make setup does)" >&2
    exit 1
fi
. tests/cli/lib/emoji.sh
emoji_test_dir
TR="--data $T/emoji --set batch=8 --set steps=6 --set eval_every=3 --set probe_images=24 --quiet"
AN="--images $T/emoji --folds 3 --perms 100 --mei 8 --quiet"
for s in 1 2; do
    ./moelens train vision --out $T/sw/v-seed$s $TR --set seed=$s
    ./moelens analyze $T/sw/v-seed$s $AN
done
./moelens compare $T/sw/v-seed1 $T/sw/v-seed2 --out $T/sw/compare --perms 20 >/dev/null
# one file no section knows: it must still reach the catch-all
/usr/bin/python3 -c "import numpy as np; np.save('$T/sw/v-seed1/analysis/extra_vector.npy', np.arange(5.0))"
./moelens report $T/sw/v-seed1 >/dev/null
./moelens report $T/sw >/dev/null
FLAGS="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
--disable-component-update --disable-sync --user-data-dir=$T/profile"
for r in v-seed1 sweep; do
    R=$T/sw/report.html; [ $r = sweep ] || R=$T/sw/$r/report.html
    if grep -o 'https\?://[^" ]*' "$R" | grep -v '^http://www.w3.org/2000/svg$' | grep -q .; then
        echo "report_vision: $R references the network" >&2; exit 1
    fi
    # shellcheck disable=SC2086
    timeout 120 "$CHROME" $FLAGS --dump-dom "file://$R" > "$T/$r.html" 2> "$T/chrome.log" || { tail "$T/chrome.log"; exit 1; }
done
D=$T/v-seed1.html
need() { grep -qF -- "$2" "$1" || { echo "report_vision: missing in the DOM: $2" >&2; exit 1; }; }
for s in 'id="training"' 'id="vgating"' 'id="vseparability"' 'id="vmei"' 'id="vtuning"' 'id="vrsa"' \
    'Contrastive loss' 'Linear probe accuracy' 'Gate usage per class' \
    'Mean gate weight: category × expert, level group' 'Top-1 share: category × expert, level subgroup' \
    'Gate entropy per category, level group' 'Animacy index per expert' 'e3 p = ' \
    'Separability of group' 'Separability of subgroup' 'Separability of animate' \
    'Semantic tuning (readout response)' 'Semantic tuning (gate response)' 'nmf0: tag:' \
    'Synthesised: gate logit' 'RDM of expert 0' 'Expert × expert CKA' 'Expert RDM vs model RDM' \
    'Numbers: <code>analysis/gating_L0_mean.npy</code>' 'id="files-analysis"' 'extra_vector.npy'; do
    need $D "$s"
done
# the catch-all holds only the constructed file
others=$(sed -n '/id="files-analysis"/,$p' $D | grep -o '<figure' | wc -l)
[ "$others" -eq 1 ] || { echo "expected only extra_vector.npy in the catch-all, got $others figures" >&2; exit 1; }
! grep -q "no finite values" $D || { echo "a vision figure has no data" >&2; exit 1; }
series=$(grep -o '<path class="series"' $D | wc -l)
ci=$(grep -o '<line class="ci"' $D | wc -l)
mei=$(grep -o '<image [^>]*href="data:image/png;base64,iVBORw0KGgo[A-Za-z0-9+/=]\{100,\}"' $D | wc -l)
cells=$(grep -o '<rect x=[^>]*fill="#[0-9a-f]\{6\}"><title>[^<]* × e[0-9]*: [0-9.e-]*</title>' $D | wc -l)
echo "vision run DOM: $series series, $ci intervals, $mei MEI grids, $cells category/expert cells"
[ "$series" -ge 7 ] || { echo "expected ≥ 7 drawn series, got $series" >&2; exit 1; }
[ "$ci" -ge 15 ] || { echo "expected 3 targets × 5 feature intervals, got $ci" >&2; exit 1; }
[ "$mei" -eq 16 ] || { echo "expected 16 MEI images (4 experts × gate/readout × dataset/synthesised), got $mei" >&2; exit 1; }
[ "$cells" -ge 40 ] || { echo "expected the category × expert heatmap cells, got $cells" >&2; exit 1; }
S=$T/sweep.html
for s in 'id="vcompare"' 'Cross-seed matching: v-seed1 vs v-seed2' 'RDM ρ: π(e) (similarity)' \
    'Numbers: <code>compare/pair0_1_rsa.npy</code>' 'Animacy of matched experts'; do
    need $S "$s"
done
bars=$(sed -n '/id="vcompare"/,$p' $S | grep -o '<rect class="bar"' | wc -l)
[ "$bars" -ge 8 ] || { echo "expected matched/identity/null bars, got $bars" >&2; exit 1; }
echo ok
