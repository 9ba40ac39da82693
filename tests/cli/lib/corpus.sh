# Sourced by CLI tests: builds a small real multi-domain text set from the committed fixtures
# (tests/fixtures/text, ~30 KB per domain) into $1: with a tokenizer of $2 tokens (default 512), of
# the domains listed in $3 (default all seven: en,fr,en_tech,code,math,de,legal).
fixture_corpus() {
    F=tests/fixtures/text
    only=${3:-en,fr,en_tech,code,math,de,legal}
    doms=""
    for d in $(echo "$only" | tr , ' '); do doms="$doms --domain $d=fortune:$F/$d.txt"; done
    ./moelens data text --quiet --data-dir "$1/nodata" $doms --only "$only" --vocab "${2:-512}" \
        --out "$1"
}

# Generated text of two domains into $1/en.txt and $1/fr.txt: 300 lines of 12 words each drawn
# (seed 1) from a 15-word English and a 15-word French list (moelens data text's lines: format).
word_text() {
    /usr/bin/python3 - "$1" <<'PY'
import random, sys
r = random.Random(1)
words = {"en": "the cat sat on the mat and the dog ran to the park while the sun was up".split(),
         "fr": "le chat est sur le tapis et le chien court dans le parc sous le soleil".split()}
for name, w in words.items():
    open(f"{sys.argv[1]}/{name}.txt", "w").write("\n".join(" ".join(r.choice(w) for _ in range(12)) for _ in range(300)))
PY
}
