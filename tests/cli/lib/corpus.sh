# Sourced by CLI tests: text sets to train on.
#   fixture_corpus DIR [VOCAB [DOMAINS]]  a small real multi-domain text set from the committed
#       fixtures (tests/fixtures/text, ~30 KB per domain) in DIR: a tokenizer of VOCAB tokens
#       (default 512), the DOMAINS listed (default all seven: en,fr,en_tech,code,math,de,legal)
#   corpus_test_dir                      a fresh folder $T, removed when the script exits, with
#       fixture_corpus's default set in $T/text (its output hidden)
#   word_text DIR                        generated text of two domains in DIR/en.txt, DIR/fr.txt
#   word_test_dir                        a fresh folder $T (removed on exit) holding word_text's
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

corpus_test_dir() {
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    fixture_corpus "$T/text" >/dev/null 2>&1
}

word_test_dir() {
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    word_text "$T"
}
