/* llama.cpp's DEFAULT pre-tokenizer (llama-vocab.cpp, the `default:` case of llm_tokenizer_bpe):
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
 * is cut out before regex 2 sees it: "don't" gives "don" "'" "t". */
#include <stdint.h>

#include "data/pretok.h"
#include "gguf/gguf_pretok_chain.h"
#include "gguf/gguf_vocab.h"

/* In [\p{P}\$\+<=>\^~\|]: every ASCII punctuation or symbol but the backtick, or category P. */
static int punct_or_op(int32_t c) {
    if (c < 0) return 0;
    if (c < 128) return c > ' ' && c < 127 && c != '`' && unicode_class(c) == UCLASS_OTHER;
    return unicode_is_punct(c);
}

static size_t run_of(const unsigned char *s, size_t n, size_t i, int number) {
    size_t p = i;
    while (p < n) {
        int32_t c;
        int l = utf8_decode(s + p, n - p, &c);
        if (number ? unicode_class(c) != UCLASS_NUMBER : !punct_or_op(c)) break;
        p += (size_t)l;
    }
    return p - i;
}

static int ascii_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static size_t match_at(int stage, const unsigned char *s, size_t n, size_t i) {
    switch (stage) {
    case 0:
        return run_of(s, n, i, 0);
    case 1:
        return pretok_next((const char *)s + i, n - i);
    case 2:
        return run_of(s, n, i, 1);
    default:
        return i + 3 <= n && ascii_digit(s[i]) && ascii_digit(s[i + 1]) && ascii_digit(s[i + 2])
                   ? 3
                   : 0;
    }
}

size_t *pretok_default_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 4, match_at, npieces);
}
