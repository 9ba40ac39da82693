#!/bin/sh
# Runs the unit-test binary and every CLI test script (tests/cli/*.sh), then prints one closing
# line "N passed, N failed, N skipped" over both. A CLI test passes when its script exits 0 and is
# skipped (with its message shown) when it exits 77: something it needs is not on this machine.
cd "$(dirname "$0")/.." || exit 2
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# Sleep rather than spin at OpenMP barriers: spinning threads starve each other on a shared machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
log=$(mktemp)
./build/moelens_tests 2>&1 | tee "$log"
unit=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
up=$(echo "$unit" | sed -E 's/unit: ([0-9]+) passed, ([0-9]+) failed/\1/')
uf=$(echo "$unit" | sed -E 's/unit: ([0-9]+) passed, ([0-9]+) failed/\2/')
[ -n "$up" ] || { up=0; uf=1; echo "unit test binary did not finish"; }
cp=0 cf=0 cs=0
for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    start=$(date +%s)
    sh "$t" >"$log" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
        cp=$((cp + 1)); echo "cli $(basename "$t") ok ($(( $(date +%s) - start ))s)"
    elif [ $rc = 77 ]; then
        cs=$((cs + 1)); echo "cli $(basename "$t") SKIPPED: $(tail -n 1 "$log")"
    else
        cf=$((cf + 1)); echo "cli $(basename "$t") FAILED:"; tail -n 30 "$log"
    fi
done
rm -f "$log"
echo "$((up + cp)) passed, $((uf + cf)) failed, $cs skipped"
[ $((uf + cf)) -eq 0 ]
