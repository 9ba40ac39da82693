/* llama.cpp's DEFAULT pre-tokenizer (llama-vocab.cpp, the `default:` case of llm_tokenizer_bpe),
 * with its relatives FALCON and STARCODER at the end of the file. DEFAULT is
 * what a "gpt2"-model GGUF gets with tokenizer.ggml.pre = "default", or with no (or an empty) pre
 * key. A chain of four regexes (gguf_pretok_chain.h):
 *   1. [\p{P}\$\+<=>\^~\|]+   runs of punctuation and the ASCII symbols $ + < = > ^ ~ |
 *   2. 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 *      GPT-2's regex; llama.cpp runs its hand-written GPT-2 splitter here (data/pretok.h)
 *   3. \p{N}+
 *   4. [0-9][0-9][0-9]        ASCII digits in threes, from the left
 * Regexes 1 and 3 go through std::regex on a "collapsed" text in llama.cpp (unicode.cpp,
 * unicode_regex_split): an ASCII code point stays itself and matches \p{P} only if it is one of
 * !"#%&'()*,-./:;?@[\]_{} (Unicode's P among ASCII, so the backtick is in neither set); a non-ASCII
 * code point matches \p{P} if its general category is P and \p{N} if it is N. So the apostrophe
 * is cut out before regex 2 sees it: "don't" gives "don" "'" "t". A non-ASCII code point counts
 * by its category alone: llama.cpp collapses each one to a byte standing for it. */
#include <stdint.h>

#include "data/pretok.h"
#include "gguf/gguf_pretok_chain.h"
#include "gguf/gguf_vocab.h"

/* In [\p{P}\$\+<=>\^~\|] (falcon: also the backtick): every ASCII punctuation or symbol but the
 * backtick, or category P. */
static int punct_or_op(int32_t c, int backtick) {
    if (c < 0) return 0;
    if (c < 128)
        return c > ' ' && c < 127 && (c != '`' || backtick) && unicode_class(c) == UCLASS_OTHER;
    return unicode_is_punct(c);
}

enum { RUN_NUMBER, RUN_PUNCT, RUN_PUNCT_BACKTICK };

static size_t run_of(const unsigned char *s, size_t n, size_t i, int what) {
    size_t p = i;
    while (p < n) {
        int32_t c;
        int l = utf8_decode(s + p, n - p, &c);
        if (what == RUN_NUMBER ? unicode_class(c) != UCLASS_NUMBER
                               : !punct_or_op(c, what == RUN_PUNCT_BACKTICK))
            break;
        p += (size_t)l;
    }
    return p - i;
}

static size_t ascii_digits3(const unsigned char *s, size_t n, size_t i) {
    for (int k = 0; k < 3; k++)
        if (i + (size_t)k >= n || s[i + k] < '0' || s[i + k] > '9') return 0;
    return 3;
}

static size_t gpt2(const unsigned char *s, size_t n, size_t i) {
    return pretok_next((const char *)s + i, n - i);
}

static size_t default_match(int stage, const unsigned char *s, size_t n, size_t i) {
    switch (stage) {
    case 0:
        return run_of(s, n, i, RUN_PUNCT);
    case 1:
        return gpt2(s, n, i);
    case 2:
        return run_of(s, n, i, RUN_NUMBER);
    default:
        return ascii_digits3(s, n, i);
    }
}

size_t *pretok_default_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 4, default_match, npieces);
}

/* FALCON: [\p{P}\$\+<=>\^~\|`]+ · GPT-2's regex · [0-9][0-9][0-9] */
static size_t falcon_match(int stage, const unsigned char *s, size_t n, size_t i) {
    return stage == 0   ? run_of(s, n, i, RUN_PUNCT_BACKTICK)
           : stage == 1 ? gpt2(s, n, i)
                        : ascii_digits3(s, n, i);
}

size_t *pretok_falcon_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 3, falcon_match, npieces);
}

/* STARCODER (also refact, command-r): \p{N} (each number code point alone) · GPT-2's regex */
static size_t starcoder_match(int stage, const unsigned char *s, size_t n, size_t i) {
    if (stage == 1) return gpt2(s, n, i);
    int32_t c;
    int l = utf8_decode(s + i, n - i, &c);
    return unicode_class(c) == UCLASS_NUMBER ? (size_t)l : 0;
}

size_t *pretok_starcoder_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 2, starcoder_match, npieces);
}
