#include "data/clean.h"
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *find_ci(const char *s, const char *end, const char *needle) {
    size_t k = strlen(needle);
    for (; s + k <= end; s++)
        if (!strncasecmp(s, needle, k)) return s;
    return NULL;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 63)),
        out[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 63));
    out[2] = (char)(0x80 | ((cp >> 6) & 63)), out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Decodes the entity at s ('&'); returns bytes consumed (0 if not an entity) and writes its text.
 */
static size_t decode_entity(const char *s, const char *end, char *out, size_t *written) {
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"amp", '&'},       {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
                 {"apos", '\''},     {"nbsp", 0xA0},    {"ndash", 0x2013}, {"mdash", 0x2014},
                 {"hellip", 0x2026}, {"copy", 0xA9},    {"laquo", 0xAB},   {"raquo", 0xBB},
                 {"rsquo", 0x2019},  {"lsquo", 0x2018}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
                 {"shy", 0xAD}};
    const char *semi = memchr(s, ';', (size_t)(end - s) < 12 ? (size_t)(end - s) : 12);
    if (!semi) return 0;
    uint32_t cp = 0;
    if (s[1] == '#') {
        char *e;
        unsigned long v =
            (s[2] == 'x' || s[2] == 'X') ? strtoul(s + 3, &e, 16) : strtoul(s + 2, &e, 10);
        if (e != semi || v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
        cp = (uint32_t)v;
    } else {
        size_t k = (size_t)(semi - s - 1), i;
        for (i = 0; i < sizeof named / sizeof named[0]; i++)
            if (strlen(named[i].name) == k && !memcmp(named[i].name, s + 1, k)) break;
        if (i == sizeof named / sizeof named[0]) return 0;
        cp = named[i].cp;
    }
    *written = put_utf8(out, cp);
    return (size_t)(semi - s + 1);
}

static int is_block_tag(const char *name, size_t k) {
    static const char *blocks[] = {"p",         "br", "div", "li",      "tr", "table", "pre",
                                   "title",     "h1", "h2",  "h3",      "h4", "h5",    "h6",
                                   "paragraph", "ul", "ol",  "section", "td", "dt",    "dd"};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if (strlen(blocks[i]) == k && !strncasecmp(blocks[i], name, k)) return 1;
    return 0;
}

size_t clean_html(const char *in, size_t n, char *out) {
    const char *s = in, *end = in + n, *body = find_ci(in, end, "id=\"DisplayArea\"");
    if (body) {
        while (body > in && *body != '<') body--;
        s = body;
        const char *foot = find_ci(s, end, "<footer");
        if (foot) end = foot;
    } else if ((body = find_ci(in, end, "</head>"))) {
        s = body + 7;
    }
    size_t o = 0;
    int space = 0;
    while (s < end) {
        if (*s == '<') {
            if (end - s >= 4 && !memcmp(s, "<!--", 4)) {
                const char *c = find_ci(s, end, "-->");
                s = c ? c + 3 : end;
                continue;
            }
            const char *name = s + 1 + (s[1] == '/');
            size_t k = 0;
            while (name + k < end &&
                   (isalnum((unsigned char)name[k]) || name[k] == '_' || name[k] == ':'))
                k++;
            const char *close = memchr(s, '>', (size_t)(end - s));
            if (!close) break;
            if (s[1] != '/' && ((k == 6 && !strncasecmp(name, "script", 6)) ||
                                (k == 5 && !strncasecmp(name, "style", 5)))) {
                const char *c = find_ci(close, end, k == 6 ? "</script" : "</style");
                close = c ? memchr(c, '>', (size_t)(end - c)) : NULL;
                if (!close) break;
            }
            if (is_block_tag(name, k)) out[o++] = '\n', space = 0;
            s = close + 1;
            continue;
        }
        if (*s == '&') {
            size_t w = 0, used = decode_entity(s, end, out + o, &w);
            if (used && used >= w) {
                o += w, s += used, space = 0;
                continue;
            }
        }
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
            if (!space && o && out[o - 1] != '\n') out[o++] = ' ';
            space = 1;
            s++;
            continue;
        }
        out[o++] = *s++, space = 0;
    }
    out[o] = 0;
    return squeeze_blank_lines(out, o);
}

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

size_t clean_metamath(const char *in, size_t n, char *out) {
    size_t o = 0, i = 0;
    int comment = 0, proof = 0;
    while (i < n) {
        if (is_ws(in[i])) {
            if (!proof) out[o++] = in[i];
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_ws(in[j])) j++;
        size_t k = j - i;
        int dollar2 = k == 2 && in[i] == '$', skip = proof;
        if (comment) {
            if (dollar2 && in[i + 1] == ')') comment = 0;
        } else if (proof) {
            if (dollar2 && in[i + 1] == '.') proof = 0;
        } else if (dollar2 && in[i + 1] == '(') {
            comment = 1;
        } else if (dollar2 && in[i + 1] == '=') {
            proof = skip = 1;
            while (o && (out[o - 1] == ' ' || out[o - 1] == '\n'))
                o--; /* the proof's indentation */
        }
        if (!skip) memcpy(out + o, in + i, k), o += k;
        i = j;
    }
    out[o] = 0;
    return squeeze_blank_lines(out, o);
}

size_t squeeze_blank_lines(char *s, size_t n) {
    size_t o = 0, i = 0;
    int blank_run = 2; /* drops leading blank lines */
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\n') j++;
        size_t e = j, b = i;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) e--;
        if (e == b) {
            if (blank_run == 0) s[o++] = '\n';
            blank_run++;
        } else {
            memmove(s + o, s + b, e - b);
            o += e - b;
            s[o++] = '\n';
            blank_run = 0;
        }
        i = j + 1;
    }
    while (o && s[o - 1] == '\n') o--;
    if (o) s[o++] = '\n';
    s[o] = 0;
    return o;
}

void split_fortunes(const char *in, size_t n, void (*fn)(const char *entry, size_t len, void *ctx),
                    void *ctx) {
    size_t start = 0, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && in[j] != '\n') j++;
        int sep = (j - i == 1 && in[i] == '%') || (j - i == 2 && in[i] == '%' && in[i + 1] == '\r');
        if (sep || j >= n) {
            size_t e = sep ? i : n, b = start;
            while (b < e && (in[b] == '\n' || in[b] == '\r' || in[b] == ' ')) b++;
            while (e > b && (in[e - 1] == '\n' || in[e - 1] == '\r' || in[e - 1] == ' ')) e--;
            if (e > b) fn(in + b, e - b, ctx);
            start = j + 1;
        }
        i = j + 1;
    }
}
