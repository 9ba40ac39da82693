#!/bin/sh
# Builds a tiny corpus from the committed fixtures with --domain, trains a 512-token tokenizer,
# writes shards twice (same bytes), reads them with `data info`, and checks the clear errors.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
F=tests/fixtures/text
doms="--domain en=fortune:$F/en.txt --domain de=fortune:$F/de.txt --domain code=fortune:$F/code.txt --domain legal=fortune:$F/legal.txt"
./moelens data text --quiet --data-dir "$tmp/nodata" $doms --only en,de,code,legal --vocab 512 --out "$tmp/a"
for f in tokenizer.txt train.tokens val.tokens corpus.json; do test -s "$tmp/a/$f"; done
head -n 1 "$tmp/a/tokenizer.txt" | grep -q '^moelens-bpe 1 vocab 512 merges'
./moelens data text --quiet --data-dir "$tmp/nodata" $doms --only en,de,code,legal --vocab 512 --out "$tmp/b"
cmp "$tmp/a/tokenizer.txt" "$tmp/b/tokenizer.txt"
cmp "$tmp/a/train.tokens" "$tmp/b/train.tokens"
cmp "$tmp/a/val.tokens" "$tmp/b/val.tokens"
./moelens data info "$tmp/a" >"$tmp/info"
grep -q '^  de ' "$tmp/info"
grep -q '^train.tokens: [0-9]* tokens' "$tmp/info"
./moelens data info "$tmp/a/val.tokens" | grep -q 'documents, vocab 512'
# the standalone trainer gives the same tokenizer; encode/decode round-trips a file
./moelens tokenizer train --data-dir "$tmp/nodata" $doms --only en,de,code,legal --vocab 512 --out "$tmp/tok.txt" >/dev/null 2>&1
cmp "$tmp/tok.txt" "$tmp/a/tokenizer.txt"
./moelens tokenizer encode --tokenizer "$tmp/tok.txt" --ids $F/fr.txt | ./moelens tokenizer decode --tokenizer "$tmp/tok.txt" >"$tmp/fr.back"
cmp "$tmp/fr.back" $F/fr.txt
# clear errors: a truncated shard, a missing built-in source, a bad --domain
head -c 100 "$tmp/a/train.tokens" >"$tmp/bad.tokens"
if ./moelens data info "$tmp/bad.tokens" 2>"$tmp/err"; then exit 1; fi
grep -q 'bad.tokens: truncated' "$tmp/err"
if ./moelens data text --quiet --data-dir "$tmp/nodata" --only en --out "$tmp/c" 2>"$tmp/err"; then exit 1; fi
grep -q 'moelens data fetch' "$tmp/err"
if ./moelens data text --quiet --domain 'x=lines:/nonexistent' --only x --out "$tmp/c" 2>"$tmp/err"; then exit 1; fi
grep -q "/nonexistent' not found" "$tmp/err"
test ! -e "$tmp/c/train.tokens"
echo "data_text ok"
