# Sourced by CLI tests: lays the committed emoji fixtures (tests/fixtures/images/emoji) out as a
# fetched data folder in $1/d (the paths `moelens data fetch` extracts to) and prepares the
# 16-px emoji concept set from it into $1/emoji.
#   fixture_emoji DIR   the fixture in DIR (rasterising the SVG styles needs rsvg-convert)
#   emoji_test_dir      a fresh folder $T, removed when the script exits, holding the fixture;
#                       skips the test (exit 77) without rsvg-convert
fixture_emoji() {
    F=$(pwd)/tests/fixtures/images/emoji
    N=$1/d/npm
    mkdir -p $N/emojibase-data/package/en $N/emojibase-data/package/meta \
        $N/emoji-datasource-google/package/img/google $N/emoji-datasource-twitter/package/img/twitter \
        $N/openmoji/package/color $N/openmoji/package/black $N/fluentui-emoji/package/icons \
        $1/d/deb/wordnet-base/usr/share
    ln -s $F/data.json $N/emojibase-data/package/en/data.json
    ln -s $F/groups.json $N/emojibase-data/package/meta/groups.json
    ln -s $F/google $N/emoji-datasource-google/package/img/google/64
    ln -s $F/twitter $N/emoji-datasource-twitter/package/img/twitter/64
    ln -s $F/openmoji-color $N/openmoji/package/color/svg
    ln -s $F/openmoji-black $N/openmoji/package/black/svg
    for s in modern flat high-contrast; do
        ln -s $F/fluent-$s $N/fluentui-emoji/package/icons/$s
    done
    ln -s $F/wordnet $1/d/deb/wordnet-base/usr/share/wordnet
    ./moelens data images --data $1/d --out $1/emoji --size 16 --min-concepts 1 --nmf-dims 4 >/dev/null
}

emoji_test_dir() {
    command -v rsvg-convert >/dev/null || { echo "skipped: no rsvg-convert"; exit 77; }
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    fixture_emoji "$T"
}
