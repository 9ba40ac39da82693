#!/bin/sh
# `moelens report` checked in a real browser: a tiny LM run (plus analysis outputs if `moelens
# analyze` exists, and constructed .npy files for the catch-all section) is rendered by headless
# Chromium; the DOM must hold the figures and the screenshot must not be blank.
set -e
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "report_browser: chromium not found: install the Debian package 'chromium' (make setup does)" >&2
    exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
F=tests/fixtures/text
./moelens data text --quiet --only en,fr,code --domain en=fortune:$F/en.txt --domain fr=fortune:$F/fr.txt \
    --domain code=fortune:$F/code.txt --vocab 300 --out "$T/text" > /dev/null
./moelens train lm --out "$T/run" --data "$T/text" --set d_model=32 --set n_layer=2 --set n_head=2 \
    --set seq_len=32 --set batch=4 --set expert_hidden=64 --set n_experts=4 --set steps=12 --set warmup=2 \
    --set eval_every=6 --set eval_batches=1 --set log_every=2 --set ckpt_every=0 2> "$T/train.log"
if ./moelens analyze --help > /dev/null 2>&1; then ./moelens analyze "$T/run" > /dev/null 2>&1 || true; fi
# routing sensitivity on three minimal pairs (its own section)
printf 'the cat sat here\tthe dog sat here\nla maison est belle\tla voiture est belle\nint x = 1;\tint y = 1;\n' > "$T/pairs.tsv"
./moelens analyze "$T/run" --only sensitivity --pairs "$T/pairs.tsv" --mask-top 2 --sens-ppl-tokens 256 --quiet
# constructed outputs for the catch-all section: a matrix (heatmap) and an image stack (PNG grid)
mkdir -p "$T/run/analysis"
/usr/bin/python3 - "$T/run/analysis" <<'PY'
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/extra_matrix.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
img = np.zeros((4, 8, 8, 3), np.uint8); img[:, 2:6, 2:6, 0] = 255; img[1:, :, :, 2] = 90
np.save(d + "/extra_images.npy", img)
PY
./moelens report "$T/run" | grep -q "report.html"
R="$T/run/report.html"
grep -q "<svg" "$R"
# no network: the only URL allowed is the SVG namespace
if grep -o 'https\?://[^" ]*' "$R" | grep -v '^http://www.w3.org/2000/svg$' | grep -q .; then
    echo "report_browser: report.html references the network" >&2; exit 1
fi
FLAGS="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
--disable-component-update --disable-sync --user-data-dir=$T/profile"
# shellcheck disable=SC2086
timeout 120 "$CHROME" $FLAGS --dump-dom "file://$R" > "$T/dom.html" 2> "$T/chrome1.log" || { tail "$T/chrome1.log"; exit 1; }
# shellcheck disable=SC2086
timeout 120 "$CHROME" $FLAGS --window-size=1200,3000 --screenshot="$T/shot.png" "file://$R" > /dev/null 2> "$T/chrome2.log" \
    || { tail "$T/chrome2.log"; exit 1; }
svgs=$(grep -o "<svg" "$T/dom.html" | wc -l)
paths=$(grep -o '<path class="series"' "$T/dom.html" | wc -l)
images=$(grep -o '<image ' "$T/dom.html" | wc -l)
rects=$(grep -o '<rect' "$T/dom.html" | wc -l)
echo "dom: $svgs svg, $paths series paths, $images images, $rects rects"
[ "$svgs" -ge 7 ] || { echo "expected at least 7 figures in the DOM, got $svgs" >&2; exit 1; }
[ "$paths" -ge 8 ] || { echo "expected at least 8 drawn series, got $paths" >&2; exit 1; }
[ "$images" -eq 4 ] || { echo "expected the 4-image grid, got $images images" >&2; exit 1; }
[ "$rects" -ge 13 ] || { echo "expected the 3x4 heatmap cells, got $rects rects" >&2; exit 1; }
grep -q "Numbers: <code>metrics.jsonl</code>" "$T/dom.html"
for s in 'id="sensitivity"' 'Routing divergence per layer' 'Most pair-sensitive experts' \
    'top-G masked' 'bottom-G masked (control)' 'Pair preference under masking'; do
    grep -qF "$s" "$T/dom.html" || { echo "missing in the DOM: $s" >&2; exit 1; }
done
sens_bars=$(sed -n '/id="sensitivity"/,/<h2/p' "$T/dom.html" | grep -o '<rect class="bar"' | wc -l)
[ "$sens_bars" -ge 8 ] || { echo "expected JS, preference and perplexity bars, got $sens_bars" >&2; exit 1; }
set -- $(/usr/bin/python3 tests/cli/png_check.py "$T/shot.png")
echo "screenshot: ${1}x${2}, $3 colours, non-white fraction $4"
[ "$1" -eq 1200 ] && [ "$2" -eq 3000 ]
[ "$3" -ge 20 ] || { echo "screenshot looks blank: $3 colours" >&2; exit 1; }
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$4') > 0.02 else 1)" || { echo "screenshot looks blank" >&2; exit 1; }
if [ -n "$MOELENS_KEEP_SCREENSHOT" ]; then cp "$T/shot.png" "$MOELENS_KEEP_SCREENSHOT"; cp "$R" "${MOELENS_KEEP_SCREENSHOT%.png}.html"; fi
echo ok
