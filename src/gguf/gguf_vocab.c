/* GGUF tokenizer: vocabulary from tokenizer.ggml.{model,pre,tokens,scores,token_type,merges},
 * encoding as llama.cpp's llm_tokenizer_bpe_session / llm_tokenizer_spm_session. Words are short,
 * so merging rescans the word for the best pair each time (lowest rank or highest score, leftmost
 * on ties): the same order llama.cpp's priority queue pops. */
#define _GNU_SOURCE /* memmem */
#include "gguf/gguf_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "data/hashmap.h"
#include "data/pretok.h"

enum { MODEL_BPE, MODEL_SPM };
enum { PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_CHAIN }; /* PRE_CHAIN: v->split cuts the text */
enum { TOKEN_USER_DEFINED = 4 };

struct GgufVocab {
    int model, pre, add_bos, add_space_prefix, ignore_merges;
    size_t *(*split)(const char *text, size_t len, size_t *npieces); /* PRE_CHAIN */
    int bos, byte_tok[256];
    char pre_name[64];
    long n;
    float *scores;
    int32_t *types;
    BytesMap tok2id;       /* token text (as stored) -> id */
    BytesMap merges;       /* "left right" -> rank */
    char byte_enc[256][3]; /* GPT-2 bytes_to_unicode, UTF-8, NUL-terminated */
    /* USER_DEFINED tokens, longest text first: split out of raw text before the model runs, as
     * llama.cpp's tokenizer_st_partition does even with parse_special off */
    int n_user;
    int32_t *user_id;
    GgufStr *user_text; /* ml_alloc'd copies (ptr owned) */
};

/* Collects the USER_DEFINED tokens (texts copied), longest first; equal lengths by id. */
static void collect_user_tokens(GgufVocab *v, const GgufStr *toks) {
    if (!v->types) return;
    for (long i = 0; i < v->n; i++)
        v->n_user += v->types[i] == TOKEN_USER_DEFINED && toks[i].len > 0;
    if (!v->n_user) return;
    v->user_text = ml_alloc((size_t)v->n_user * sizeof(GgufStr));
    v->user_id = ml_alloc((size_t)v->n_user * sizeof(int32_t));
    int k = 0;
    for (long i = 0; i < v->n; i++) {
        if (v->types[i] != TOKEN_USER_DEFINED || toks[i].len == 0) continue;
        int j = k++; /* insertion sort by length, descending (stable) */
        while (j > 0 && v->user_text[j - 1].len < toks[i].len) {
            v->user_text[j] = v->user_text[j - 1], v->user_id[j] = v->user_id[j - 1];
            j--;
        }
        char *c = ml_alloc(toks[i].len + 1);
        memcpy(c, toks[i].ptr, toks[i].len);
        v->user_text[j] = (GgufStr){c, toks[i].len};
        v->user_id[j] = (int32_t)i;
    }
}

static void build_byte_encoder(GgufVocab *v) {
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : 256 + extra++;
        char *o = v->byte_enc[b];
        if (cp < 0x80)
            o[0] = (char)cp, o[1] = 0;
        else
            o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), o[2] = 0;
    }
}

static int pre_from_name(GgufVocab *v, const GgufFile *g) {
    GgufStr s = {0};
    if (gguf_find(g, "tokenizer.ggml.pre") && gguf_get_str(g, "tokenizer.ggml.pre", &s)) return -1;
    snprintf(v->pre_name, sizeof v->pre_name, "%.*s", (int)(s.len < 63 ? s.len : 63),
             s.ptr ? s.ptr : "");
    const char *p = v->pre_name;
    /* llama.cpp's names: one regex each (the GPT-2 regex, the LLAMA3 and QWEN2 splitters) or a
     * chain of regexes; "" (a missing or empty key) means "default" there too */
    static const struct {
        const char *name;
        int pre, ignore_merges;
        size_t *(*split)(const char *, size_t, size_t *);
    } PRES[] = {
        {"", PRE_CHAIN, 0, pretok_default_split},
        {"default", PRE_CHAIN, 0, pretok_default_split},
        {"gpt-2", PRE_GPT2, 0, NULL},
        {"olmo", PRE_GPT2, 0, NULL},
        {"mpt", PRE_GPT2, 0, NULL},
        {"llama-bpe", PRE_LLAMA3, 1, NULL},
        {"llama3", PRE_LLAMA3, 1, NULL},
        {"llama-v3", PRE_LLAMA3, 1, NULL},
        {"qwen2", PRE_QWEN2, 0, NULL},
        {"deepseek-llm", PRE_CHAIN, 0, pretok_deepseek_llm_split},
        {"deepseek-coder", PRE_CHAIN, 0, pretok_deepseek_coder_split},
        {"falcon", PRE_CHAIN, 0, pretok_falcon_split},
        {"starcoder", PRE_CHAIN, 0, pretok_starcoder_split},
        {"refact", PRE_CHAIN, 0, pretok_starcoder_split},
        {"command-r", PRE_CHAIN, 0, pretok_starcoder_split},
    };
    for (size_t k = 0; k < sizeof PRES / sizeof PRES[0]; k++)
        if (!strcmp(p, PRES[k].name)) {
            v->pre = PRES[k].pre, v->ignore_merges = PRES[k].ignore_merges;
            v->split = PRES[k].split;
            return 0;
        }
    return ml_error("%s: tokenizer.ggml.pre '%s' is not supported (supported: default or none, "
                    "gpt-2, olmo, mpt, llama-bpe, llama3, llama-v3, qwen2, deepseek-llm, "
                    "deepseek-coder, falcon, starcoder, refact, command-r)",
                    g->path, p);
}

int gguf_vocab_load(GgufVocab **out, const GgufFile *g) {
    *out = NULL;
    char *model = NULL;
    if (gguf_get_strdup(g, "tokenizer.ggml.model", &model)) return -1;
    GgufVocab *v = ml_alloc(sizeof *v);
    bmap_init(&v->tok2id);
    bmap_init(&v->merges);
    v->bos = -1;
    int rc = 0;
    if (!strcmp(model, "gpt2"))
        v->model = MODEL_BPE, rc = pre_from_name(v, g);
    else if (!strcmp(model, "llama"))
        v->model = MODEL_SPM, v->add_space_prefix = 1;
    else
        rc = ml_error("%s: tokenizer.ggml.model '%s' is not supported (supported: gpt2, llama)",
                      g->path, model);
    ml_free(model);
    GgufStr *toks = NULL;
    uint64_t nt = 0, nx;
    if (!rc) rc = gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &nt);
    if (!rc && gguf_find(g, "tokenizer.ggml.token_type"))
        rc = gguf_get_i32_array(g, "tokenizer.ggml.token_type", &v->types, &nx);
    if (!rc && v->types && nx != nt)
        rc = ml_error("%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", g->path,
                      (unsigned long long)nx, (unsigned long long)nt);
    /* llama.cpp takes a missing score array as every score 0 (ties merge leftmost first). */
    if (!rc && v->model == MODEL_SPM && !gguf_find(g, "tokenizer.ggml.scores"))
        v->scores = ml_alloc_floats(nt ? nt : 1), nx = nt;
    else if (!rc && v->model == MODEL_SPM)
        rc = gguf_get_f32_array(g, "tokenizer.ggml.scores", &v->scores, &nx);
    if (!rc && v->scores && nx != nt)
        rc = ml_error("%s: tokenizer.ggml.scores has %llu entries for %llu tokens", g->path,
                      (unsigned long long)nx, (unsigned long long)nt);
    v->n = (long)nt;
    for (uint64_t i = 0; !rc && i < nt; i++) {
        int added;
        long e = bmap_insert(&v->tok2id, toks[i].ptr, toks[i].len, (int64_t)i, &added);
        v->tok2id.val[e] = (int64_t)i; /* a repeated text maps to its last id, as in llama.cpp */
    }
    if (!rc) collect_user_tokens(v, toks);
    ml_free(toks);
    if (!rc && v->model == MODEL_BPE) {
        GgufStr *m = NULL;
        uint64_t nm = 0;
        rc = gguf_get_str_array(g, "tokenizer.ggml.merges", &m, &nm);
        for (uint64_t i = 0; !rc && i < nm; i++) {
            int added;
            bmap_insert(&v->merges, m[i].ptr, m[i].len, (int64_t)i, &added);
        }
        ml_free(m);
        build_byte_encoder(v);
    }
    if (!rc && v->model == MODEL_SPM) {
        for (int b = 0; b < 256; b++) {
            char hex[8];
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            v->byte_tok[b] = (int)bmap_find(&v->tok2id, hex, 6) >= 0
                                 ? (int)v->tok2id.val[bmap_find(&v->tok2id, hex, 6)]
                                 : -1;
        }
        if (gguf_opt_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix)) rc = -1;
    }
    uint32_t bos = UINT32_MAX;
    if (!rc && !gguf_opt_u32(g, "tokenizer.ggml.bos_token_id", &bos) && bos < nt) v->bos = (int)bos;
    if (!rc) rc = gguf_opt_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    if (rc) {
        gguf_vocab_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

void gguf_vocab_free(GgufVocab *v) {
    if (!v) return;
    bmap_free(&v->tok2id);
    bmap_free(&v->merges);
    ml_free(v->scores);
    ml_free(v->types);
    for (int i = 0; i < v->n_user; i++) ml_free((void *)v->user_text[i].ptr);
    ml_free(v->user_text);
    ml_free(v->user_id);
    ml_free(v);
}

long gguf_vocab_size(const GgufVocab *v) {
    return v->n;
}
int gguf_vocab_bos(const GgufVocab *v) {
    return v->bos;
}
int gguf_vocab_add_bos(const GgufVocab *v) {
    return v->add_bos;
}
const char *gguf_vocab_model(const GgufVocab *v) {
    return v->model == MODEL_BPE ? "gpt2" : "llama";
}
const char *gguf_vocab_pre(const GgufVocab *v) {
    return v->pre_name;
}

typedef struct {
    int32_t *ids;
    long n, cap;
} IdList;

static void push(IdList *l, int32_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ids = ml_grow(l->ids, (size_t)l->cap * sizeof(int32_t));
    }
    l->ids[l->n++] = id;
}

static long lookup(const GgufVocab *v, const char *s, size_t n) {
    long e = bmap_find(&v->tok2id, s, n);
    return e < 0 ? -1 : (long)v->tok2id.val[e];
}

/* Symbols of a word: byte offsets of UTF-8 characters; merged in place. */
typedef struct {
    size_t *off, *len;
    int n;
} Syms;

static void split_chars(const char *w, size_t wn, Syms *sy) {
    sy->n = 0;
    for (size_t i = 0; i < wn;) {
        unsigned c = (unsigned char)w[i];
        size_t cl = c < 0x80   ? 1
                    : c < 0xE0 ? 2
                    : c < 0xF0 ? 3
                               : 4; /* llama.cpp's unicode_len_utf8 */
        if ((c & 0xC0) == 0x80) cl = 1;
        if (cl > wn - i) cl = wn - i;
        sy->off[sy->n] = i, sy->len[sy->n] = cl, sy->n++;
        i += cl;
    }
}

/* BPE over the byte-encoded word w: merge the lowest-rank pair until none is in the merges. */
static void bpe_word(const GgufVocab *v, const char *w, size_t wn, Syms *sy, char *scratch,
                     IdList *out) {
    long whole = v->ignore_merges ? lookup(v, w, wn) : -1;
    if (whole >= 0) {
        push(out, (int32_t)whole);
        return;
    }
    split_chars(w, wn, sy);
    for (;;) {
        long best = -1;
        int at = -1;
        for (int i = 0; i + 1 < sy->n; i++) {
            size_t a = sy->len[i], b = sy->len[i + 1];
            memcpy(scratch, w + sy->off[i], a);
            scratch[a] = ' ';
            memcpy(scratch + a + 1, w + sy->off[i + 1], b);
            long e = bmap_find(&v->merges, scratch, a + 1 + b);
            if (e >= 0 && (best < 0 || v->merges.val[e] < best)) best = v->merges.val[e], at = i;
        }
        if (at < 0) break;
        sy->len[at] += sy->len[at + 1];
        memmove(sy->off + at + 1, sy->off + at + 2, (size_t)(sy->n - at - 2) * sizeof(size_t));
        memmove(sy->len + at + 1, sy->len + at + 2, (size_t)(sy->n - at - 2) * sizeof(size_t));
        sy->n--;
    }
    for (int i = 0; i < sy->n; i++) {
        long id = lookup(v, w + sy->off[i], sy->len[i]);
        if (id >= 0) {
            push(out, (int32_t)id);
            continue;
        }
        for (size_t k = 0; k < sy->len[i]; k++) { /* unknown symbol: its bytes one by one */
            id = lookup(v, w + sy->off[i] + k, 1);
            if (id >= 0) push(out, (int32_t)id);
        }
    }
}

/* Rewrites text as llama.cpp sees it before a BPE split: it decodes UTF-8 leniently (a lead byte's
 * length from its high bits, continuation bytes checked, overlong forms and surrogates accepted),
 * turns each byte it cannot decode into U+FFFD and works on the code points from then on, so the
 * bytes that reach the merges are the code points' shortest encodings. A value past U+10FFFF
 * (F5..F7 leads), on which llama.cpp throws, becomes U+FFFD too. Returns a new buffer. */
static char *utf8_as_llama(const char *text, size_t len, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)text;
    char *out = ml_alloc(3 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        int n = c < 0x80      ? 1
                : !(c & 0x40) ? 0
                : !(c & 0x20) ? 2
                : !(c & 0x10) ? 3
                : !(c & 0x08) ? 4
                              : 0;
        uint32_t cp = n == 1 ? c : n ? c & (0x7Fu >> n) : 0xFFFD;
        for (int k = 1; k < n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80) n = 0, cp = 0xFFFD;
            if (!n) break;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        i += n ? (size_t)n : 1;
        if (cp > 0x10FFFF) cp = 0xFFFD;
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    *out_len = o;
    return out;
}

static void encode_bpe_pieces(const GgufVocab *v, const char *text, size_t len, IdList *out) {
    char *enc = ml_alloc(2 * len + 8), *scratch = ml_alloc(4 * len + 8);
    Syms sy = {ml_alloc((2 * len + 1) * sizeof(size_t)), ml_alloc((2 * len + 1) * sizeof(size_t)),
               0};
    size_t npieces = 0, k_piece = 0;
    size_t *pieces = v->pre == PRE_CHAIN ? v->split(text, len, &npieces) : NULL;
    for (size_t i = 0; i < len;) {
        size_t n = pieces ? pieces[k_piece++]
                   : v->pre == PRE_GPT2
                       ? pretok_next(text + i, len - i)
                       : pretok_llama3_next(text + i, len - i, v->pre == PRE_LLAMA3 ? 3 : 1);
        size_t en = 0;
        for (size_t k = 0; k < n; k++) {
            const char *b = v->byte_enc[(unsigned char)text[i + k]];
            size_t bl = strlen(b);
            memcpy(enc + en, b, bl);
            en += bl;
        }
        bpe_word(v, enc, en, &sy, scratch, out);
        i += n;
    }
    ml_free(enc), ml_free(scratch), ml_free(sy.off), ml_free(sy.len), ml_free(pieces);
}

static void encode_bpe(const GgufVocab *v, const char *text, size_t len, IdList *out) {
    size_t n;
    char *as_llama = utf8_as_llama(text, len, &n);
    encode_bpe_pieces(v, as_llama, n, out);
    ml_free(as_llama);
}

/* SentencePiece-style: spaces become U+2581, a space prefix, merges of adjacent symbols whose
 * concatenation is a token, highest score first; characters without a token fall back to bytes. */
static void encode_spm(const GgufVocab *v, const char *text, size_t len, int prefix, IdList *out) {
    if (len == 0) return;
    char *w = ml_alloc(3 * len + 8);
    size_t wn = 0;
    if (prefix && v->add_space_prefix) memcpy(w, "\xe2\x96\x81", 3), wn = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            memcpy(w + wn, "\xe2\x96\x81", 3), wn += 3;
        else
            w[wn++] = text[i];
    }
    Syms sy = {ml_alloc((wn + 1) * sizeof(size_t)), ml_alloc((wn + 1) * sizeof(size_t)), 0};
    split_chars(w, wn, &sy);
    for (;;) {
        int at = -1;
        float best = 0;
        for (int i = 0; i + 1 < sy.n; i++) {
            long id = lookup(v, w + sy.off[i], sy.len[i] + sy.len[i + 1]);
            if (id >= 0 && (at < 0 || v->scores[id] > best)) best = v->scores[id], at = i;
        }
        if (at < 0) break;
        sy.len[at] += sy.len[at + 1];
        memmove(sy.off + at + 1, sy.off + at + 2, (size_t)(sy.n - at - 2) * sizeof(size_t));
        memmove(sy.len + at + 1, sy.len + at + 2, (size_t)(sy.n - at - 2) * sizeof(size_t));
        sy.n--;
    }
    for (int i = 0; i < sy.n; i++) {
        long id = lookup(v, w + sy.off[i], sy.len[i]);
        if (id >= 0) {
            push(out, (int32_t)id);
            continue;
        }
        for (size_t k = 0; k < sy.len[i]; k++) {
            int b = v->byte_tok[(unsigned char)w[sy.off[i] + k]];
            if (b >= 0) push(out, b);
        }
    }
    ml_free(w), ml_free(sy.off), ml_free(sy.len);
}

/* Raw text and USER_DEFINED tokens, in order (llama.cpp's fragment buffer). */
typedef struct {
    size_t off, len;
    int32_t id; /* -1: raw text */
} Fragment;

static void push_fragment(Fragment **f, long *n, long *cap, Fragment x) {
    if (*n == *cap) *cap = *cap ? 2 * *cap : 8, *f = ml_grow(*f, (size_t)*cap * sizeof(Fragment));
    (*f)[(*n)++] = x;
}

/* Splits every raw fragment at each occurrence of each user token, longest tokens first. */
static Fragment *split_user_tokens(const GgufVocab *v, const char *text, size_t len, long *nf) {
    long n = 0, cap = 0;
    Fragment *f = NULL;
    push_fragment(&f, &n, &cap, (Fragment){0, len, -1});
    for (int u = 0; u < v->n_user; u++) {
        const GgufStr *t = &v->user_text[u];
        long m = 0, mcap = 0;
        Fragment *g = NULL;
        for (long k = 0; k < n; k++) {
            if (f[k].id >= 0) {
                push_fragment(&g, &m, &mcap, f[k]);
                continue;
            }
            size_t pos = f[k].off, end = f[k].off + f[k].len;
            const char *hit;
            while (pos < end && (hit = memmem(text + pos, end - pos, t->ptr, t->len))) {
                size_t at = (size_t)(hit - text);
                if (at > pos) push_fragment(&g, &m, &mcap, (Fragment){pos, at - pos, -1});
                push_fragment(&g, &m, &mcap, (Fragment){at, t->len, v->user_id[u]});
                pos = at + t->len;
            }
            if (pos < end) push_fragment(&g, &m, &mcap, (Fragment){pos, end - pos, -1});
        }
        free(f);
        f = g, n = m, cap = mcap;
    }
    *nf = n;
    return f;
}

int gguf_vocab_encode(const GgufVocab *v, const char *text, size_t len, int32_t **ids, long *n) {
    IdList out = {0};
    long nf;
    Fragment *f = split_user_tokens(v, text, len, &nf);
    int prev_special = 1;
    for (long k = 0; k < nf; k++) {
        if (f[k].id >= 0) {
            push(&out, f[k].id);
            prev_special = 1;
        } else if (v->model == MODEL_BPE) {
            encode_bpe(v, text + f[k].off, f[k].len, &out);
        } else {
            encode_spm(v, text + f[k].off, f[k].len, prev_special, &out);
            prev_special = 0;
        }
    }
    free(f);
    *ids = out.ids ? out.ids : ml_alloc(4);
    *n = out.n;
    return 0;
}
