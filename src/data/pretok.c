#include "data/pretok.h"

extern const uint32_t unicode_letter_ranges[][2], unicode_number_ranges[][2],
    unicode_space_ranges[][2], unicode_punct_ranges[][2];
extern const int unicode_letter_ranges_count, unicode_number_ranges_count,
    unicode_space_ranges_count, unicode_punct_ranges_count;

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid - 1;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int unicode_class(int32_t cp) {
    if (cp < 0) return UCLASS_OTHER;
    if (cp < 128) { /* fast path; same answer as the tables */
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return UCLASS_LETTER;
        if (cp >= '0' && cp <= '9') return UCLASS_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return UCLASS_SPACE;
        return UCLASS_OTHER;
    }
    uint32_t u = (uint32_t)cp;
    if (in_ranges(unicode_letter_ranges, unicode_letter_ranges_count, u)) return UCLASS_LETTER;
    if (in_ranges(unicode_number_ranges, unicode_number_ranges_count, u)) return UCLASS_NUMBER;
    if (in_ranges(unicode_space_ranges, unicode_space_ranges_count, u)) return UCLASS_SPACE;
    return UCLASS_OTHER;
}

int unicode_is_punct(int32_t cp) {
    return cp >= 0 && in_ranges(unicode_punct_ranges, unicode_punct_ranges_count, (uint32_t)cp);
}

int utf8_decode(const unsigned char *s, size_t len, int32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        goto invalid;
    if ((size_t)n > len) goto invalid;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) goto invalid;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF) goto invalid;
    *cp = (int32_t)v;
    return n;
invalid:
    *cp = -1;
    return 1;
}

/* Class and byte length of the code point at position i. */
static int class_at(const unsigned char *s, size_t len, size_t i, int *nbytes) {
    int32_t cp;
    *nbytes = utf8_decode(s + i, len - i, &cp);
    return unicode_class(cp);
}

/* End of the run of code points of class `cls` starting at i. */
static size_t run_end(const unsigned char *s, size_t len, size_t i, int cls) {
    while (i < len) {
        int n;
        if (class_at(s, len, i, &n) != cls) break;
        i += (size_t)n;
    }
    return i;
}

size_t pretok_next(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    if (s[0] == '\'' && len >= 2) { /* 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2) */
        unsigned c = s[1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
        if (len >= 3 &&
            ((c == 'r' && s[2] == 'e') || (c == 'v' && s[2] == 'e') || (c == 'l' && s[2] == 'l')))
            return 3;
    }
    int n;
    size_t start = (s[0] == ' ' && len >= 2) ? 1 : 0; /* the optional leading space of ` ?X+` */
    int cls = class_at(s, len, start, &n);
    if (cls != UCLASS_SPACE) return run_end(s, len, start, cls);
    /* \s+(?!\S) takes a whitespace run whole if it reaches the end, else all but its last code
     * point (which then leads the next pre-token or stands alone); \s+ then takes a single one. */
    size_t i = 0, last = 0;
    int count = 0;
    while (i < len && class_at(s, len, i, &n) == UCLASS_SPACE) last = i, i += (size_t)n, count++;
    if (i == len || count == 1) return i;
    return last;
}

void pretok_each(const char *s, size_t len, void (*fn)(const char *piece, size_t n, void *ctx),
                 void *ctx) {
    size_t i = 0;
    while (i < len) {
        size_t n = pretok_next(s + i, len - i);
        fn(s + i, n, ctx);
        i += n;
    }
}
