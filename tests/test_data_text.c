#define _GNU_SOURCE /* memmem */
/* Text data path: cleaning, corpus split, pre-tokenizer, BPE tokenizer, token shards, classes.
 * Fixtures: tests/fixtures/text (README there says where each came from). */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/clean.h"
#include "data/corpus.h"
#include "data/pretok.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/text/"

static char *read_fixture(const char *path, size_t *len) {
    char *text = NULL;
    if (ml_read_file(path, &text, len)) test_fail(__FILE__, __LINE__, "%s", ml_errmsg());
    return text;
}

TEST(data_html_is_stripped_to_page_text) {
    size_t n;
    char *html = read_fixture(FIX "raw/find_toolbar.fr.html", &n);
    if (!html) return;
    n = clean_html(html, n, html);
    CHECK(strstr(html, "Barre Rechercher\n") != NULL);
    CHECK(strstr(html,
                 "La barre d'outils Rechercher peut être utilisée pour rechercher rapidement") !=
          NULL);
    CHECK(strchr(html, '<') == NULL && strchr(html, '>') == NULL);
    CHECK(strstr(html, "&nbsp;") == NULL && strstr(html, "&amp;") == NULL);
    CHECK(strstr(html, "Aide LibreOffice") == NULL); /* navigation header dropped */
    CHECK(strstr(html, "This page is") == NULL);     /* footer dropped */
    CHECK(strstr(html, "\n\n\n") == NULL && strstr(html, "  ") == NULL);
    char ent[] = "<p>a &lt;b&gt; &amp; &#233;&#xE9; &unknown; x</p>";
    clean_html(ent, strlen(ent), ent);
    CHECK(strcmp(ent, "a <b> & éé &unknown; x\n") == 0);
    ml_free(html);
}

TEST(data_metamath_proofs_are_stripped) {
    size_t n;
    char *mm = read_fixture(FIX "raw/set.mm.excerpt", &n);
    if (!mm) return;
    CHECK(strstr(mm, "$=") != NULL);
    n = clean_metamath(mm, n, mm);
    CHECK(strstr(mm, "$=") == NULL);
    CHECK(strstr(mm, "mp2b $p |- ch\n") != NULL); /* statement kept, proof and its $. gone */
    CHECK(strstr(mm, "a1i $p |- ( ps -> ph )\n") != NULL);
    CHECK(strstr(mm, "Logical implication") != NULL); /* comments kept */
    char s[] = "$( a $= in comment $) th $p |- x $= ( wi ) ABC $. next $a |- y $.";
    clean_metamath(s, strlen(s), s);
    CHECK(strcmp(s, "$( a $= in comment $) th $p |- x next $a |- y $.\n") == 0);
    ml_free(mm);
}

typedef struct {
    int n;
    char first[64], last[64];
} Entries;
static void collect(const char *e, size_t len, void *ctx) {
    Entries *x = ctx;
    if (!x->n++) snprintf(x->first, sizeof x->first, "%.*s", (int)(len < 40 ? len : 40), e);
    snprintf(x->last, sizeof x->last, "%.*s", (int)(len < 20 ? len : 20),
             e + (len > 20 ? len - 20 : 0));
    CHECK(len > 0 && e[0] != '\n' && e[len - 1] != '\n');
    CHECK(memmem(e, len, "\n%\n", 3) == NULL);
}

TEST(data_fortunes_split_on_percent_lines) {
    size_t n;
    char *f = read_fixture(FIX "raw/anekdoten.de", &n);
    if (!f) return;
    Entries x = {0};
    split_fortunes(f, n, collect, &x);
    CHECK(x.n == 6); /* 5 separator lines */
    CHECK(strncmp(x.first, "Ein Mathematikprofessor trägt", 30) == 0);
    Entries y = {0};
    split_fortunes("%\n\na\n%\n%\nb\n", 12, collect, &y);
    CHECK(y.n == 2);
    ml_free(f);
}

static void build_fixture_corpus(Corpus *c, size_t cap) {
    corpus_init(c);
    CHECK(corpus_add_user(c, "de=fortune:" FIX "de.txt", cap) == 0);
    CHECK(corpus_add_user(c, "code=fortune:" FIX "code.txt", cap) == 0);
    CHECK(corpus_add_user(c, "legal=fortune:" FIX "legal.txt", cap) == 0);
    corpus_split(c, 0.05);
}

TEST(data_split_is_by_document_and_deterministic) {
    Corpus a, b;
    build_fixture_corpus(&a, 1 << 20);
    build_fixture_corpus(&b, 1 << 20);
    CHECK(a.n_docs == b.n_docs && a.n_domains == 3);
    long val[3] = {0}, docs[3] = {0};
    for (long i = 0; i < a.n_docs && i < b.n_docs; i++) {
        CHECK(strcmp(a.docs[i].name, b.docs[i].name) == 0 && a.docs[i].val == b.docs[i].val);
        docs[a.docs[i].domain]++, val[a.docs[i].domain] += a.docs[i].val;
    }
    for (int d = 0; d < 3; d++)
        CHECK(val[d] >= 1 && val[d] < docs[d]);          /* both splits in every domain */
    CHECK(docs[0] > 150 && val[0] >= 3 && val[0] <= 25); /* ~5% of the ~218 fortunes */
    /* the decision depends on the document only: a smaller corpus keeps each document's split */
    Corpus s;
    corpus_init(&s);
    CHECK(corpus_add_user(&s, "de=fortune:" FIX "de.txt", 8000) == 0);
    corpus_split(&s, 0.05);
    size_t bytes = 0;
    for (long i = 0; i < s.n_docs; i++) {
        bytes += s.docs[i].len;
        for (long j = 0; j < a.n_docs; j++)
            if (!strcmp(a.docs[j].name, s.docs[i].name) && a.docs[j].domain == 0)
                CHECK(a.docs[j].val == (corpus_doc_hash01("de", s.docs[i].name) < 0.05) ||
                      s.n_docs < 20);
    }
    CHECK(bytes <= 8000 && bytes > 7000); /* the cap */
    CHECK(corpus_add_user(&s, "x=" FIX "missing.txt", 100) != 0 &&
          strstr(ml_errmsg(), "missing.txt"));
    corpus_free(&a), corpus_free(&b), corpus_free(&s);
}

typedef struct {
    char pieces[16][32];
    int n;
} Pieces;
static void piece(const char *p, size_t n, void *ctx) {
    Pieces *x = ctx;
    if (x->n < 16) snprintf(x->pieces[x->n], 32, "%.*s", (int)n, p);
    x->n++;
}
static void check_split(const char *s, const char *const *want, int n_want) {
    Pieces x = {0};
    pretok_each(s, strlen(s), piece, &x);
    CHECK_MSG(x.n == n_want, "'%s': %d pieces, expected %d", s, x.n, n_want);
    for (int i = 0; i < n_want && i < x.n; i++)
        CHECK_MSG(!strcmp(x.pieces[i], want[i]), "'%s' piece %d: '%s' vs '%s'", s, i, x.pieces[i],
                  want[i]);
}

TEST(data_pretokenizer_matches_gpt2_regex) {
    /* expected pieces: the GPT-2 regex run by node on the same strings */
    const char *a[] = {"Hello", " world", "'s", " 123", " test", "  \n\n"};
    check_split("Hello world's 123 test  \n\n", a, 6);
    const char *b[] = {"a", " ", " b"};
    check_split("a  b", b, 3);
    const char *c[] = {"x", "\n", "\n", "y"};
    check_split("x\n\ny", c, 4);
    const char *d[] = {"don", "'t", " I", "'", "M"};
    check_split("don't I'M", d, 5);
    const char *e[] = {"café", " 12", "€", " ٣", "!"};
    check_split("café 12€ ٣!", e, 5);
    const char *f[] = {" \t", " x"};
    check_split(" \t x", f, 2);
    const char *g[] = {"a", "\xff\xfe", " b"}; /* invalid bytes are "other" */
    check_split("a\xff\xfe b", g, 3);
}

static Tokenizer *train_on_fixtures(int vocab) {
    const char *names[] = {FIX "en.txt", FIX "fr.txt", FIX "code.txt"};
    char *texts[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++) texts[i] = read_fixture(names[i], &lens[i]);
    Tokenizer *t = NULL;
    BpeTrainOptions o = {vocab, 0};
    CHECK(tokenizer_train(&t, (const char *const *)texts, lens, 3, &o) == 0);
    for (int i = 0; i < 3; i++) ml_free(texts[i]);
    return t;
}

TEST(data_tokenizer_training_is_deterministic_and_saves_exactly) {
    Tokenizer *a = train_on_fixtures(600), *b = train_on_fixtures(600);
    if (!a || !b) return;
    CHECK(tokenizer_vocab_size(a) == 600 && tokenizer_num_merges(a) >= 600 - 257);
    CHECK(tokenizer_num_merges(a) == tokenizer_num_merges(b));
    for (int i = 0; i < tokenizer_num_merges(a); i++)
        CHECK(!strcmp(tokenizer_merge_str(a, i), tokenizer_merge_str(b, i)));
    CHECK(strcmp(tokenizer_token_str(a, ' '), "Ġ") == 0 &&
          strcmp(tokenizer_token_str(a, '\n'), "Ċ") == 0);
    CHECK(strcmp(tokenizer_token_str(a, 'a'), "a") == 0 &&
          strcmp(tokenizer_token_str(a, 599), "<|endoftext|>") == 0);
    char *path = ml_path_join(test_tmpdir(), "tok.txt");
    CHECK(tokenizer_save(a, path) == 0);
    Tokenizer *c = NULL;
    CHECK(tokenizer_load(&c, path) == 0);
    if (c) {
        CHECK(tokenizer_vocab_size(c) == 600 && tokenizer_num_merges(c) == tokenizer_num_merges(a));
        for (int i = 0; i < 600; i++)
            CHECK(!strcmp(tokenizer_token_str(a, i), tokenizer_token_str(c, i)));
        for (int i = 0; i < tokenizer_num_merges(a); i++)
            CHECK(!strcmp(tokenizer_merge_str(a, i), tokenizer_merge_str(c, i)));
        size_t n;
        char *text = read_fixture(FIX "en.txt", &n);
        int32_t *x, *y;
        long nx, ny;
        tokenizer_encode(a, text, n, &x, &nx);
        tokenizer_encode(c, text, n, &y, &ny);
        CHECK(nx == ny && !memcmp(x, y, (size_t)nx * 4));
        CHECK(nx < (long)n / 2); /* merges compress English well beyond bytes */
        ml_free(x), ml_free(y), ml_free(text);
    }
    /* a damaged file is a clear error naming it */
    char *bad = ml_path_join(test_tmpdir(), "bad_tok.txt");
    char *text;
    size_t len;
    CHECK(ml_read_file(path, &text, &len) == 0);
    CHECK(ml_write_file_atomic(bad, text, len / 2) == 0);
    Tokenizer *d = NULL;
    CHECK(tokenizer_load(&d, bad) != 0 && d == NULL && strstr(ml_errmsg(), "bad_tok.txt"));
    ml_free(text), ml_free(bad), ml_free(path);
    tokenizer_free(a), tokenizer_free(b), tokenizer_free(c);
}

static void check_round_trip(const Tokenizer *t, const char *s, size_t n) {
    int32_t *ids;
    long k;
    char *back;
    size_t m;
    CHECK(tokenizer_encode(t, s, n, &ids, &k) == 0);
    CHECK(tokenizer_decode(t, ids, k, &back, &m) == 0);
    CHECK_MSG(m == n && !memcmp(back, s, n), "round trip of %zu bytes gave %zu", n, m);
    for (long i = 0; i < k; i++) CHECK(ids[i] >= 0 && ids[i] < tokenizer_eot(t));
    ml_free(ids), ml_free(back);
}

TEST(data_tokenizer_round_trips_arbitrary_bytes) {
    Tokenizer *t = train_on_fixtures(400);
    if (!t) return;
    Rng r;
    rng_seed(&r, 7);
    char buf[4096];
    for (int trial = 0; trial < 20; trial++) {
        size_t n = rng_below(&r, sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] =
                trial % 2 ? (char)rng_below(&r, 256) : " etaoin\n\xc3\xa9'1"[rng_below(&r, 12)];
        check_round_trip(t, buf, n);
    }
    const char *odd = "caf\xc3\xa9 \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 end\xff";
    check_round_trip(t, odd, strlen(odd));
    check_round_trip(t, "", 0);
    int32_t ids[2] = {0, 400};
    char *out;
    size_t m;
    CHECK(tokenizer_decode(t, ids, 2, &out, &m) != 0 && strstr(ml_errmsg(), "400"));
    tokenizer_free(t);
}

TEST(data_token_classes) {
    const char *text =
        " the cat and the dog die Katze 42 42, the the cat cat dog dog and and die die";
    size_t n = strlen(text);
    Tokenizer *t = NULL;
    BpeTrainOptions o = {300, 0};
    CHECK(tokenizer_train(&t, &text, &n, 1, &o) == 0);
    if (!t) return;
    int32_t *ids;
    long k;
    tokenizer_encode(t, " the", 4, &ids, &k);
    CHECK(k == 1);
    CHECK(token_class(t, ids[0], LANG_EN) == TOKCLASS_FUNCTION_WORD);
    CHECK(token_class(t, ids[0], LANG_DE) == TOKCLASS_WORD_START);
    ml_free(ids);
    tokenizer_encode(t, " die", 4, &ids, &k);
    CHECK(k == 1 && token_class(t, ids[0], LANG_DE) == TOKCLASS_FUNCTION_WORD);
    ml_free(ids);
    tokenizer_encode(t, " cat", 4, &ids, &k);
    CHECK(k == 1 && token_class(t, ids[0], LANG_ANY) == TOKCLASS_WORD_START);
    ml_free(ids);
    tokenizer_encode(t, " 42", 3, &ids, &k);
    CHECK(k == 1 && token_class(t, ids[0], LANG_EN) == TOKCLASS_DIGIT);
    ml_free(ids);
    CHECK(token_class(t, 'a', LANG_EN) == TOKCLASS_WORD_INTERNAL);
    CHECK(token_class(t, ',', LANG_EN) == TOKCLASS_PUNCT);
    CHECK(token_class(t, '\n', LANG_EN) == TOKCLASS_SPACE);
    CHECK(token_class(t, 0xC3, LANG_EN) == TOKCLASS_OTHER);
    CHECK(token_class(t, tokenizer_eot(t), LANG_EN) == TOKCLASS_OTHER);
    CHECK(token_lang_from_name("en_tech") == LANG_EN && token_lang_from_name("legal") == LANG_ANY);
    tokenizer_free(t);
}

static char *write_test_shard(const char *name) {
    char *path = ml_path_join(test_tmpdir(), name);
    const char *doms[] = {"alpha", "beta"};
    ShardWriter *w;
    CHECK(shard_writer_open(&w, path, 100, 2, doms) == 0);
    int32_t d0[] = {1, 2, 3, 99}, d1[] = {10, 11, 12, 13, 14, 99}, d2[] = {20, 21, 99};
    CHECK(shard_writer_add_doc(w, d0, 4, 0) == 0);
    CHECK(shard_writer_add_doc(w, d1, 6, 1) == 0);
    CHECK(shard_writer_add_doc(w, d2, 3, 0) == 0);
    CHECK(shard_writer_add_doc(w, d2, 3, 5) != 0); /* bad domain rejected */
    CHECK(shard_writer_commit(w) == 0);
    return path;
}

TEST(data_shard_windows_domains_and_documents) {
    char *path = write_test_shard("s.tokens");
    TokenShard *s;
    CHECK(shard_open(&s, path) == 0);
    if (!s) return;
    CHECK(shard_num_tokens(s) == 13 && shard_num_docs(s) == 3 && shard_num_domains(s) == 2);
    CHECK(!strcmp(shard_domain_name(s, 1), "beta") && shard_domain_index(s, "alpha") == 0);
    CHECK(shard_doc_start(s, 1) == 4 && shard_doc_len(s, 1) == 6 && shard_doc_start(s, 2) == 10);
    CHECK(shard_doc_domain(s, 1) == 1 && shard_doc_domain(s, 2) == 0);
    CHECK(shard_num_windows(s, 4) == 3); /* (13-1)/4 */
    int32_t in[8], tg[8], dm[8];
    shard_window(s, 1, 4, in, tg, dm);
    int32_t want_in[] = {10, 11, 12, 13}, want_tg[] = {11, 12, 13, 14}, want_dm[] = {1, 1, 1, 1};
    CHECK(!memcmp(in, want_in, 16) && !memcmp(tg, want_tg, 16) && !memcmp(dm, want_dm, 16));
    shard_window(s, 2, 4, in, tg, dm);
    CHECK(in[0] == 14 && in[1] == 99 && in[2] == 20 && tg[3] == 99 && dm[1] == 1 && dm[2] == 0);
    Rng r1, r2;
    rng_seed(&r1, 3), rng_seed(&r2, 3);
    int32_t in2[8], tg2[8], dm2[8];
    shard_sample_batch(s, &r1, 2, 4, in, tg, dm);
    shard_sample_batch(s, &r2, 2, 4, in2, tg2, dm2);
    CHECK(!memcmp(in, in2, 32) && !memcmp(tg, tg2, 32) && !memcmp(dm, dm2, 32));
    for (int b = 0; b < 2; b++) {
        long start = -1;
        for (long i = 0; i + 4 < shard_num_tokens(s); i++)
            if (shard_token(s, i) == in[b * 4]) start = i; /* ids are unique except 99 */
        if (in[b * 4] == 99) continue;
        CHECK(start >= 0);
        for (int t = 0; t < 4 && start >= 0; t++) {
            CHECK(in[b * 4 + t] == shard_token(s, start + t) &&
                  tg[b * 4 + t] == shard_token(s, start + t + 1));
            CHECK(dm[b * 4 + t] == shard_token_domain(s, start + t));
        }
    }
    shard_close(s);
    ml_free(path);
}

TEST(data_shard_corrupt_or_truncated_is_clear_error) {
    char *path = write_test_shard("c.tokens"), *text;
    size_t len;
    CHECK(ml_read_file(path, &text, &len) == 0);
    TokenShard *s = NULL;
    char *bad = ml_path_join(test_tmpdir(), "bad.tokens");
    CHECK(ml_write_file_atomic(bad, text, len - 5) == 0);
    CHECK(shard_open(&s, bad) != 0 && s == NULL && strstr(ml_errmsg(), "truncated") &&
          strstr(ml_errmsg(), "bad.tokens"));
    text[64 + 16 + 2 * 13 + 6 + 1] = 7; /* a domain byte (after names and 2-byte tokens, aligned) */
    CHECK(ml_write_file_atomic(bad, text, len) == 0);
    CHECK(shard_open(&s, bad) != 0 && strstr(ml_errmsg(), "corrupt"));
    memcpy(text, "NOTSHARD", 8);
    CHECK(ml_write_file_atomic(bad, text, len) == 0);
    CHECK(shard_open(&s, bad) != 0 && strstr(ml_errmsg(), "not a moelens token shard"));
    CHECK(shard_open(&s, "/nonexistent/x.tokens") != 0 && strstr(ml_errmsg(), "x.tokens"));
    ml_free(text), ml_free(bad), ml_free(path);
}

TEST(data_shard_from_text_file) {
    Tokenizer *t = train_on_fixtures(400);
    if (!t) return;
    TokenShard *s;
    CHECK(shard_from_text_file(&s, t, FIX "fr.txt", "fr") == 0);
    if (!s) return;
    size_t n;
    char *text = read_fixture(FIX "fr.txt", &n);
    long k = shard_num_tokens(s);
    int32_t *ids = ml_alloc((size_t)k * 4);
    for (long i = 0; i < k; i++) ids[i] = shard_token(s, i);
    CHECK(ids[k - 1] == tokenizer_eot(t) && shard_num_docs(s) == 1 &&
          !strcmp(shard_domain_name(s, 0), "fr"));
    char *back;
    size_t m;
    CHECK(tokenizer_decode(t, ids, k - 1, &back, &m) == 0 && m == n && !memcmp(back, text, n));
    char *out = ml_path_join(test_tmpdir(), "fr.tokens");
    CHECK(shard_build_from_text(t, FIX "fr.txt", "fr", out) == 0);
    TokenShard *f;
    CHECK(shard_open(&f, out) == 0 && shard_num_tokens(f) == k);
    shard_close(f), shard_close(s);
    ml_free(ids), ml_free(back), ml_free(text), ml_free(out);
    tokenizer_free(t);
}
