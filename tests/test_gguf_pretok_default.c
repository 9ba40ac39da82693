/* llama.cpp's `default` GGUF pre-tokenizer (src/gguf/gguf_pretok_default.c): hand-checked splits
 * with punctuation of several scripts, and the tokenizer.ggml.pre values that select it. The
 * comparison with llama.cpp itself is tests/cli/gguf_pretok_default.sh. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "data/pretok.h"
#include "gguf/gguf.h"
#include "gguf/gguf_vocab.h"
#include "gguf/gguf_write.h"
#include "test.h"

typedef size_t *(*SplitFn)(const char *, size_t, size_t *);

/* The pieces of text joined by '|' (pieces never hold '|' in these cases). */
static void split_joined(SplitFn split, const char *text, char *out, size_t cap) {
    size_t n, *len = split(text, strlen(text), &n), off = 0, o = 0;
    for (size_t k = 0; k < n && o + len[k] + 2 < cap; k++) {
        if (k) out[o++] = '|';
        memcpy(out + o, text + off, len[k]);
        o += len[k], off += len[k];
    }
    out[o] = 0;
    ml_free(len);
}

static void check_split_by(SplitFn split, const char *text, const char *want) {
    char got[512];
    split_joined(split, text, got, sizeof got);
    CHECK_MSG(!strcmp(got, want), "'%s': want '%s', got '%s'", text, want, got);
}

static void check_split(const char *text, const char *want) {
    check_split_by(pretok_default_split, text, want);
}

TEST(gguf_pretok_default_ascii) {
    check_split("Hello, world!", "Hello|,| world|!");
    check_split("wait...what?!", "wait|...|what|?!");
    /* the apostrophe is punctuation: cut out before GPT-2's contractions could take it */
    check_split("don't stop", "don|'|t| stop");
    /* $ + < = > ^ ~ | join the punctuation runs; the backtick does not */
    check_split("a+b<=c|d", "a|+|b|<=|c|||d");
    check_split("x`y", "x|`|y");
    check_split("foo_bar@x.com", "foo|_|bar|@|x|.|com");
    check_split("(x) [1,000]", "(|x|)| |[|1|,|000|]");
    /* a space before punctuation ends its piece, where GPT-2 would lead the punctuation with it */
    check_split("a  ,b", "a|  |,|b");
    check_split("a\n\nb", "a|\n|\n|b");
    check_split("", "");
}

TEST(gguf_pretok_default_numbers) {
    /* \p{N}+ takes the space off a number; ASCII digits then go in threes from the left */
    check_split(" 1234567", " |123|456|7");
    check_split("x2024y", "x|202|4|y");
    /* non-ASCII digits (Arabic-Indic, Nd) and other numbers (No) stay whole */
    check_split("x\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4y", "x|\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4|y");
    check_split(" \xc2\xbd", " |\xc2\xbd"); /* " ½" */
    /* symbols (So, Sc) are not punctuation: GPT-2's other-class runs keep their space */
    check_split("\xc2\xa9"
                "2024 \xe2\x82\xac"
                "5",
                "\xc2\xa9|202|4| \xe2\x82\xac|5"); /* ©2024 €5 */
}

TEST(gguf_pretok_default_scripts) {
    /* Spanish ¿ (Po), French « » (Pi, Pf), em dash (Pd) */
    check_split("\xc2\xbfQu\xc3\xa9 tal?", "\xc2\xbf|Qu\xc3\xa9| tal|?");
    check_split("\xc2\xaboui\xc2\xbb", "\xc2\xab|oui|\xc2\xbb");
    check_split("a\xe2\x80\x94"
                "b",
                "a|\xe2\x80\x94|b");
    /* CJK brackets 「」 (Ps, Pe) and the ideographic full stop 。 (Po) */
    check_split("\xe3\x80\x8c\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x8d\xe3\x80\x82",
                "\xe3\x80\x8c|\xe6\x97\xa5\xe6\x9c\xac|\xe3\x80\x8d\xe3\x80\x82");
    /* Arabic comma ، and question mark ؟ (Po): "مرحبا، عالم؟" */
    check_split(
        "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7\xd8\x8c \xd8\xb9\xd8\xa7\xd9\x84\xd9\x85"
        "\xd8\x9f",
        "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7|\xd8\x8c| \xd8\xb9\xd8\xa7\xd9\x84\xd9\x85|"
        "\xd8\x9f");
    /* Devanagari danda । (Po); vowel signs and the virama are marks, which GPT-2's regex counts
     * as "other": "नमस्ते। ठीक" */
    check_split("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87\xe0\xa5"
                "\xa4 \xe0\xa4\xa0\xe0\xa5\x80\xe0\xa4\x95",
                "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8|\xe0\xa5\x8d|\xe0\xa4\xa4|\xe0\xa5\x87|"
                "\xe0\xa5\xa4| \xe0\xa4\xa0|\xe0\xa5\x80|\xe0\xa4\x95");
    /* an invalid byte is one code point of GPT-2's "other" class */
    check_split("a\xff"
                "b",
                "a|\xff|b");
}

/* The relatives: falcon (the backtick joins the punctuation, no \p{N}+ stage), starcoder (each
 * number code point alone, then GPT-2's regex), deepseek-coder (\s?\p{L}+, \s?\p{P}+, CJK runs,
 * single numbers). */
TEST(gguf_pretok_falcon_starcoder_coder) {
    check_split(" `x", " `|x");
    check_split_by(pretok_falcon_split, " `x", " |`|x");
    check_split_by(pretok_falcon_split, " 1234", " |123|4");
    check_split_by(pretok_falcon_split, " \xd9\xa1\xd9\xa2", " \xd9\xa1\xd9\xa2"); /* " ١٢" */
    check_split(" \xd9\xa1\xd9\xa2", " |\xd9\xa1\xd9\xa2");
    check_split_by(pretok_starcoder_split, " 123 ab", " |1|2|3| ab");
    check_split_by(pretok_starcoder_split, "don't", "don|'t");
    /* "Hello, 世界! 42" */
    check_split_by(pretok_deepseek_coder_split, "Hello, \xe4\xb8\x96\xe7\x95\x8c! 42",
                   "Hello|,| |\xe4\xb8\x96\xe7\x95\x8c|!| |4|2");
    /* \s? takes one Unicode space (U+00A0 here) before letters; $ is not \p{P}; U+3000 (a space
     * too) falls in llama.cpp's CJK range U+0800..U+4E00, so stage 4 cuts it off again */
    check_split_by(pretok_deepseek_coder_split,
                   "a\xc2\xa0"
                   "b$,",
                   "a|\xc2\xa0"
                   "b|$|,");
    check_split_by(pretok_deepseek_coder_split,
                   "a\xe3\x80\x80"
                   "b",
                   "a|\xe3\x80\x80|b");
}

TEST(gguf_pretok_default_punct_table) {
    CHECK(unicode_is_punct('!') && unicode_is_punct('_') && !unicode_is_punct('$'));
    CHECK(unicode_is_punct(0xBF) && unicode_is_punct(0x3002) && unicode_is_punct(0x060C));
    CHECK(!unicode_is_punct(0xA9) && !unicode_is_punct(0x20AC) && !unicode_is_punct('a'));
    CHECK(!unicode_is_punct(-1) && !unicode_is_punct(0x10FFFF));
}

/* GPT-2's byte-level string of byte b (bytes_to_unicode), UTF-8. */
static void byte_string(int b, char *o) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = b;
    if (!printable) {
        cp = 256;
        for (int k = 0; k < b; k++)
            cp += !((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255));
    }
    if (cp < 0x80)
        o[0] = (char)cp, o[1] = 0;
    else
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), o[2] = 0;
}

/* Ids of "don't" under a gpt2-model file with the 256 byte tokens, token 256 = "'t" (one merge)
 * and the given pre key (NULL: none). */
static long encode_dont(const char *pre, int32_t *ids) {
    char bytes[256][3], path[512];
    const char *toks[257];
    for (int b = 0; b < 256; b++) byte_string(b, bytes[b]), toks[b] = bytes[b];
    toks[256] = "'t";
    const char *merges[] = {"' t"};
    GgufWriter *w = gguf_writer_new();
    gguf_w_str(w, "general.architecture", "llama");
    gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) gguf_w_str(w, "tokenizer.ggml.pre", pre);
    gguf_w_str_array(w, "tokenizer.ggml.tokens", toks, 257);
    gguf_w_str_array(w, "tokenizer.ggml.merges", merges, 1);
    snprintf(path, sizeof path, "%s/pre_%s.gguf", test_tmpdir(), pre ? pre : "none");
    CHECK(gguf_writer_write(w, path) == 0);
    GgufFile *g = NULL;
    GgufVocab *v = NULL;
    long n = -1;
    if (gguf_open(&g, path) == 0 && gguf_vocab_load(&v, g) == 0) {
        int32_t *got;
        gguf_vocab_encode(v, "don't", 5, &got, &n);
        for (long i = 0; i < n && i < 8; i++) ids[i] = got[i];
        ml_free(got);
    } else {
        CHECK_MSG(0, "%s", ml_errmsg());
    }
    gguf_vocab_free(v);
    gguf_close(g);
    return n;
}

TEST(gguf_pretok_default_selected) {
    int32_t ids[8];
    /* "default", an empty value and no key at all: "don" "'" "t", so the merge cannot apply */
    const char *pres[] = {"default", "", NULL};
    for (int k = 0; k < 3; k++) {
        long n = encode_dont(pres[k], ids);
        CHECK_MSG(n == 5 && ids[0] == 'd' && ids[3] == '\'' && ids[4] == 't', "pre %s: %ld ids",
                  pres[k] ? pres[k] : "(none)", n);
    }
    /* gpt-2 keeps "'t" in one piece: the merge gives token 256 */
    CHECK(encode_dont("gpt-2", ids) == 4 && ids[3] == 256);
}
