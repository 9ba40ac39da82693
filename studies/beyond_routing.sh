#!/bin/sh
# The Beyond Routing study (issue 16; docs/vision.md "The study"): trains the vision MoE on the
# emoji concept set with --preset study for three seeds, runs every vision analysis on the
# held-out styles, matches the experts across seeds (moelens compare) and writes one report.
#
# usage: studies/beyond_routing.sh [--out DIR] [--data DIR] [--images SET] [--seeds "1 2 3"]
#                                  [--preset NAME] [--set key=value]... [--gate-stats S] [--quick]
#   --out DIR     study folder (default runs/study-vision): vision-seedS/ per seed, compare/,
#                 report.html
#   --data DIR    data folder (default $MOELENS_DATA, else data); when --images has no
#                 prepared set, the packages are fetched into it (moelens data fetch) and the
#                 emoji set is prepared from it into DIR/images/emoji
#   --images SET  prepared emoji set (default DATA/images/emoji)
#   --gate-stats S  the analyses' gate statistics: model (as trained) or adapted (re-estimated on
#                 the held-out images); default: each run's gate_adapt
#   --quick       minutes-sized: preset tiny, 6 steps, light analyses (the suite's check that
#                 this command still runs end to end; its numbers mean nothing)
# Resumable: a seed with eval.json is done, one with model.safetensors continues (--resume).
# Environment: MOELENS (the binary, default ./moelens), OMP_NUM_THREADS as for any run.
set -eu
M=${MOELENS:-./moelens}
OUT=runs/study-vision
DATA=${MOELENS_DATA:-data}
IMAGES=""
SEEDS="1 2 3"
PRESET=study
SETS=""
QUICK=0
GSTATS=""
die() { echo "beyond_routing: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift ;;
        --data) [ $# -ge 2 ] || die "--data needs a folder"; DATA=$2; shift ;;
        --images) [ $# -ge 2 ] || die "--images needs a prepared set"; IMAGES=$2; shift ;;
        --seeds) [ $# -ge 2 ] || die "--seeds needs a list"; SEEDS=$2; shift ;;
        --preset) [ $# -ge 2 ] || die "--preset needs a name"; PRESET=$2; shift ;;
        --set) [ $# -ge 2 ] || die "--set needs key=value"; SETS="$SETS --set $2"; shift ;;
        --gate-stats) [ $# -ge 2 ] || die "--gate-stats needs model or adapted"; GSTATS="--gate-stats $2"; shift ;;
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[ -x "$M" ] || die "$M not found: build first (make all) or set MOELENS"
AN="--split heldout --quiet $GSTATS"
CMP=""
if [ $QUICK = 1 ]; then
    PRESET=tiny
    SETS="--set steps=6 --set batch=8 --set eval_every=3 --set probe_images=24 --set aug_pair_style=0.5 $SETS"
    AN="$AN --folds 3 --perms 100 --mei 8 --synth-steps 20"
    CMP="--perms 20"
fi
[ -n "$IMAGES" ] || IMAGES=$DATA/images/emoji
start=$(date +%s)
say() { echo "beyond_routing [$(( $(date +%s) - start ))s] $*" >&2; }
if [ ! -f "$IMAGES/meta.json" ]; then
    say "fetching the pinned packages into $DATA (a no-op when present), preparing $IMAGES"
    "$M" data fetch --data-dir "$DATA"
    "$M" data images --data "$DATA" --out "$IMAGES"
fi
mkdir -p "$OUT"
runs=""
for s in $SEEDS; do
    run=$OUT/vision-seed$s
    runs="$runs $run"
    if [ -f "$run/eval.json" ]; then
        say "seed $s: trained already ($run)"
    else
        resume=""
        [ -f "$run/model.safetensors" ] && resume=--resume
        say "seed $s: train vision --preset $PRESET $resume"
        # shellcheck disable=SC2086
        "$M" train vision --out "$run" --data "$IMAGES" --preset $PRESET --set seed=$s $SETS \
            $resume --quiet
    fi
    say "seed $s: analyze on the held-out styles"
    # shellcheck disable=SC2086
    "$M" analyze "$run" --images "$IMAGES" $AN
done
say "compare: experts matched across seeds"
# shellcheck disable=SC2086
"$M" compare $runs --out "$OUT/compare" $CMP
say "report"
"$M" report "$OUT" >/dev/null
say "done: $OUT/report.html"
