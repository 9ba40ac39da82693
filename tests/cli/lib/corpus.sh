# Sourced by CLI tests: builds a small real multi-domain text set from the committed fixtures
# (tests/fixtures/text, ~30 KB per domain) with a 512-token tokenizer, into $1.
fixture_corpus() {
    F=tests/fixtures/text
    doms=""
    for d in en fr en_tech code math de legal; do doms="$doms --domain $d=fortune:$F/$d.txt"; done
    ./moelens data text --quiet --data-dir "$1/nodata" $doms --only en,fr,en_tech,code,math,de,legal \
        --vocab 512 --out "$1"
}
