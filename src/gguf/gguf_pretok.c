/* llama.cpp's hand-written splitter for the LLAMA3 regex (unicode.cpp,
 * unicode_regex_split_custom_llama3), also used with single digits for QWEN2:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *   \s*[\r\n]+|\s+(?!\S)|\s+
 * ported branch for branch over UTF-8 (classes from data/pretok.h; an invalid byte counts as an
 * unassigned code point, which no class matches). */
#include "data/pretok.h"
#include "gguf/gguf_vocab.h"

enum { F_NONE = -2 }; /* out of range or unassigned: llama.cpp's flags == 0 */

typedef struct {
    const unsigned char *s;
    size_t len;
} Text;

/* Class of the code point at byte i (F_NONE past the end), its code point and byte length. */
static int cls_at(const Text *t, size_t i, int32_t *cp, int *n) {
    if (i >= t->len) {
        *cp = -1, *n = 0;
        return F_NONE;
    }
    *n = utf8_decode(t->s + i, t->len - i, cp);
    return *cp < 0 ? F_NONE : unicode_class(*cp);
}

static int is_cls(const Text *t, size_t i, int cls) {
    int32_t cp;
    int n;
    return cls_at(t, i, &cp, &n) == cls;
}

static int lower(int32_t c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

size_t pretok_llama3_next(const char *str, size_t len, int max_digits) {
    Text t = {(const unsigned char *)str, len};
    int32_t cp, cp1;
    int n, n1;
    int f = cls_at(&t, 0, &cp, &n);
    if (cp == '\'' && len > 1) {
        int c1 = lower(t.s[1]);
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
        if (len > 2) {
            int c2 = lower(t.s[2]);
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return 3;
        }
    }
    int f1 = cls_at(&t, (size_t)n, &cp1, &n1);
    if (!(cp == '\r' || cp == '\n' || f == UCLASS_NUMBER) &&
        (f == UCLASS_LETTER || f1 == UCLASS_LETTER)) {
        size_t pos = (size_t)n;
        while (cls_at(&t, pos, &cp1, &n1) == UCLASS_LETTER) pos += (size_t)n1;
        return pos;
    }
    if (f == UCLASS_NUMBER) {
        size_t pos = 0;
        for (int k = 0; k < max_digits && is_cls(&t, pos, UCLASS_NUMBER); k++) {
            cls_at(&t, pos, &cp1, &n1);
            pos += (size_t)n1;
        }
        return pos;
    }
    /* ` ?[^\s\p{L}\p{N}]+[\r\n]*` */
    size_t pos = cp == ' ' ? (size_t)n : 0;
    int f2 = cp == ' ' ? f1 : f;
    if (f2 != UCLASS_SPACE && f2 != UCLASS_LETTER && f2 != UCLASS_NUMBER && f != F_NONE) {
        while (f2 == UCLASS_OTHER) {
            cls_at(&t, pos, &cp1, &n1);
            pos += (size_t)n1;
            f2 = cls_at(&t, pos, &cp1, &n1);
        }
        while (pos < len && (t.s[pos] == '\r' || t.s[pos] == '\n')) pos++;
        return pos;
    }
    /* whitespace: `\s*[\r\n]+`, `\s+(?!\S)`, `\s+` */
    size_t end = 0, last_rn = 0, before_last = 0;
    int count = 0;
    while (cls_at(&t, end, &cp1, &n1) == UCLASS_SPACE) {
        before_last = end;
        end += (size_t)n1;
        if (cp1 == '\r' || cp1 == '\n') last_rn = end;
        count++;
    }
    if (last_rn) return last_rn;
    if (count > 1 && end < len) return before_last;
    if (count > 0) return end;
    return (size_t)n; /* no match: one code point alone */
}
