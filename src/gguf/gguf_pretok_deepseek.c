/* llama.cpp's DEEPSEEK_LLM pre-tokenizer (llama-vocab.cpp): six regexes applied in turn, each
 * splitting every current piece into its matches and the spans between them (gguf_pretok_chain.h;
 * unicode.cpp, unicode_regex_split_stl, with std::wregex over code points):
 *   [\r\n] · \s?[LETTERS]+ · \s?[PUNCT]+ · \s+$ · [CJK]+ · \p{N}+
 * The code-point sets are llama.cpp's literal ranges (extracted from its source). \s is
 * std::wregex's in the C locale: ASCII whitespace only. */
#include <stdlib.h>
#include <string.h>

#include "data/pretok.h"
#include "gguf/gguf_pretok_chain.h"
#include "gguf/gguf_vocab.h"

static const uint32_t DS_LETTERS[][2] = {
    {0x41, 0x5a},       {0x61, 0x7a},       {0xb5, 0xb5},       {0xc0, 0xd6},
    {0xd8, 0xf6},       {0xf8, 0x1ba},      {0x1bc, 0x1bf},     {0x1c4, 0x293},
    {0x295, 0x2af},     {0x370, 0x373},     {0x376, 0x376},     {0x377, 0x377},
    {0x37b, 0x37d},     {0x37f, 0x37f},     {0x386, 0x386},     {0x388, 0x38a},
    {0x38c, 0x38c},     {0x38e, 0x3a1},     {0x3a3, 0x3f5},     {0x3f7, 0x481},
    {0x48a, 0x52f},     {0x531, 0x556},     {0x10a0, 0x10c5},   {0x13a0, 0x13f5},
    {0x13f8, 0x13fd},   {0x1c90, 0x1cba},   {0x1cbd, 0x1cbf},   {0x1d00, 0x1d2b},
    {0x1d6b, 0x1d77},   {0x1d79, 0x1d9a},   {0x1e00, 0x1f15},   {0x1f18, 0x1f1d},
    {0x1f20, 0x1f45},   {0x1f48, 0x1f4d},   {0x1f50, 0x1f57},   {0x1f59, 0x1f59},
    {0x1f5b, 0x1f5b},   {0x1f5d, 0x1f5d},   {0x1f5f, 0x1f7d},   {0x1f80, 0x1fb4},
    {0x1fb6, 0x1fbc},   {0x1fbe, 0x1fbe},   {0x1fc2, 0x1fc4},   {0x1fc6, 0x1fcc},
    {0x1fd0, 0x1fd3},   {0x1fd6, 0x1fdb},   {0x1fe0, 0x1fec},   {0x1ff2, 0x1ff4},
    {0x1ff6, 0x1ffc},   {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210a, 0x2113},
    {0x2115, 0x2115},   {0x2119, 0x211d},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212a, 0x212d},   {0x212f, 0x2134},   {0x2139, 0x2139},
    {0x213c, 0x213f},   {0x2145, 0x2149},   {0x214e, 0x214e},   {0x2183, 0x2183},
    {0x2184, 0x2184},   {0x2c00, 0x2c7b},   {0x2c7e, 0x2ce4},   {0x2ceb, 0x2cee},
    {0x2cf2, 0x2cf2},   {0x2cf3, 0x2cf3},   {0xa640, 0xa66d},   {0xa680, 0xa69b},
    {0xa722, 0xa76f},   {0xa771, 0xa787},   {0xa78b, 0xa78e},   {0xab70, 0xabbf},
    {0xfb00, 0xfb06},   {0xfb13, 0xfb17},   {0xff21, 0xff3a},   {0xff41, 0xff5a},
    {0x10400, 0x1044f}, {0x104b0, 0x104d3}, {0x104d8, 0x104fb}, {0x10c80, 0x10cb2},
    {0x10cc0, 0x10cf2}, {0x118a0, 0x118df}, {0x1e900, 0x1e943}};
static const uint32_t DS_PUNCT[][2] = {{0x21, 0x2f},     {0x3a, 0x7e},     {0xff01, 0xff0f},
                                       {0xff1a, 0xff5e}, {0x2018, 0x201f}, {0x3000, 0x3002}};
static const uint32_t DS_CJK[][2] = {{0x4e00, 0x9fa5}, {0x800, 0x4e00}, {0xac00, 0xd7ff}};

#define NRANGES(r) ((int)(sizeof(r) / sizeof((r)[0])))

static int in_set(const uint32_t (*r)[2], int n, int32_t cp) {
    for (int i = 0; i < n; i++)
        if (cp >= (int32_t)r[i][0] && cp <= (int32_t)r[i][1]) return 1;
    return 0;
}

static int ascii_space(int32_t c) {
    return c == ' ' || (c >= 9 && c <= 13);
}

static int32_t cp_at(const unsigned char *s, size_t n, size_t i, int *len) {
    int32_t cp;
    *len = utf8_decode(s + i, n - i, &cp);
    return cp;
}

/* Length of the run of code points in the set from byte i (0 if none). */
static size_t run_in(const unsigned char *s, size_t n, size_t i, const uint32_t (*r)[2], int nr) {
    size_t p = i;
    int l;
    while (p < n && in_set(r, nr, cp_at(s, n, p, &l))) p += (size_t)l;
    return p - i;
}

/* The run of stage `stage`'s code points from byte i (0 if none). */
typedef size_t (*StageRun)(int stage, const unsigned char *s, size_t n, size_t i);

/* \s?X+ at byte i: with an optional space of space_len bytes there (0: none) taken greedily
 * first, then X+ without it. */
static size_t space_then_run(StageRun run, int stage, size_t space_len, const unsigned char *s,
                             size_t n, size_t i) {
    if (space_len && i + space_len < n) {
        size_t m = run(stage, s, n, i + space_len);
        if (m) return space_len + m;
    }
    return run(stage, s, n, i);
}

static size_t llm_run(int stage, const unsigned char *s, size_t n, size_t i) {
    return stage == 1 ? run_in(s, n, i, DS_LETTERS, NRANGES(DS_LETTERS))
                      : run_in(s, n, i, DS_PUNCT, NRANGES(DS_PUNCT));
}

static size_t run_numbers(const unsigned char *s, size_t n, size_t i) {
    size_t p = i;
    int l;
    while (p < n && unicode_class(cp_at(s, n, p, &l)) == UCLASS_NUMBER) p += (size_t)l;
    return p - i;
}

/* Match length of stage k at byte i of the piece s[0..n) (0: no match there). */
static size_t match_at(int stage, const unsigned char *s, size_t n, size_t i) {
    int l;
    int32_t c = cp_at(s, n, i, &l);
    switch (stage) {
    case 0:
        return c == '\r' || c == '\n';
    case 1:
    case 2:
        return space_then_run(llm_run, stage, ascii_space(c) ? 1 : 0, s, n, i);
    case 3: {
        size_t p = i;
        while (p < n && ascii_space(s[p])) p++;
        return p == n ? p - i : 0;
    }
    case 4:
        return run_in(s, n, i, DS_CJK, NRANGES(DS_CJK));
    default:
        return run_numbers(s, n, i);
    }
}

size_t *pretok_deepseek_llm_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 6, match_at, npieces);
}

/* DEEPSEEK_CODER: [\r\n] · \s?\p{L}+ · \s?\p{P}+ · [CJK]+ · \p{N} (one number code point). The
 * \p{...} regexes run on llama.cpp's collapsed text (gguf_pretok_default.c), where \s matches
 * every Unicode White_Space code point (non-ASCII ones collapse to \v) and \p{P} among ASCII is
 * Unicode's P (no $ + < = > ^ ` | ~). */
static int coder_in(int stage, int32_t c) {
    return stage == 1 ? unicode_class(c) == UCLASS_LETTER
                      : c >= 0 && (c < 128 ? unicode_class(c) == UCLASS_OTHER && c > ' ' &&
                                                 c < 127 && !strchr("$+<=>^`|~", (int)c)
                                           : unicode_is_punct(c));
}

static size_t coder_run(int stage, const unsigned char *s, size_t n, size_t i) {
    size_t p = i;
    int l;
    while (p < n && coder_in(stage, cp_at(s, n, p, &l))) p += (size_t)l;
    return p - i;
}

static size_t coder_match(int stage, const unsigned char *s, size_t n, size_t i) {
    int l;
    int32_t c = cp_at(s, n, i, &l);
    switch (stage) {
    case 0:
        return c == '\r' || c == '\n';
    case 1:
    case 2:
        return space_then_run(coder_run, stage, unicode_class(c) == UCLASS_SPACE ? (size_t)l : 0, s,
                              n, i);
    case 3:
        return run_in(s, n, i, DS_CJK, NRANGES(DS_CJK));
    default:
        return unicode_class(c) == UCLASS_NUMBER ? (size_t)l : 0;
    }
}

size_t *pretok_deepseek_coder_split(const char *text, size_t len, size_t *npieces) {
    return pretok_chain_split(text, len, 5, coder_match, npieces);
}
