#include "gguf_writer.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

#define MAX_ITEMS 256

typedef struct {
    char name[96];
    uint32_t n_dims, type;
    uint64_t ne[3], nbytes, offset;
    uint8_t *data;
} WTensor;

struct GgufWriter {
    uint8_t *kv; /* serialised key/values */
    size_t kv_len, kv_cap;
    int n_kv, n_t;
    WTensor t[MAX_ITEMS];
};

GgufWriter *gw_new(void) {
    GgufWriter *w = ml_alloc(sizeof *w);
    w->kv_cap = 1 << 16;
    w->kv = ml_alloc(w->kv_cap);
    return w;
}

static void put(GgufWriter *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        uint8_t *b = ml_alloc(w->kv_cap * 2 + n);
        memcpy(b, w->kv, w->kv_len);
        ml_free(w->kv);
        w->kv = b;
        w->kv_cap = w->kv_cap * 2 + n;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_str(GgufWriter *w, const char *s) {
    uint64_t n = strlen(s);
    put(w, &n, 8);
    put(w, s, n);
}

static void key(GgufWriter *w, const char *k, uint32_t type) {
    put_str(w, k);
    put(w, &type, 4);
    w->n_kv++;
}

void gw_str(GgufWriter *w, const char *k, const char *v) {
    key(w, k, 8);
    put_str(w, v);
}
void gw_u32(GgufWriter *w, const char *k, uint32_t v) {
    key(w, k, 4);
    put(w, &v, 4);
}
void gw_f32(GgufWriter *w, const char *k, float v) {
    key(w, k, 6);
    put(w, &v, 4);
}

uint16_t gw_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
    int ee = (int)e - 127 + 15;
    if (ee >= 31) return (uint16_t)(sign | 0x7c00);
    if (ee <= 0) { /* subnormal half */
        if (ee < -10) return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - ee;
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)ee << 10) | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

void gw_tensor(GgufWriter *w, const char *name, const float *x, uint64_t ne0, uint64_t ne1,
               uint64_t ne2, int f16) {
    WTensor *t = &w->t[w->n_t++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne[0] = ne0, t->ne[1] = ne1 ? ne1 : 1, t->ne[2] = ne2 ? ne2 : 1;
    t->n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2];
    t->type = f16 ? 1 : 0;
    t->nbytes = n * (f16 ? 2 : 4);
    t->data = ml_alloc(t->nbytes);
    if (!f16)
        memcpy(t->data, x, t->nbytes);
    else
        for (uint64_t i = 0; i < n; i++) ((uint16_t *)t->data)[i] = gw_f32_to_f16(x[i]);
}

int gw_write(GgufWriter *w, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint32_t version = 3;
    uint64_t nt = (uint64_t)w->n_t, nkv = (uint64_t)w->n_kv, off = 0;
    fwrite("GGUF", 1, 4, f);
    fwrite(&version, 4, 1, f);
    fwrite(&nt, 8, 1, f);
    fwrite(&nkv, 8, 1, f);
    fwrite(w->kv, 1, w->kv_len, f);
    for (int i = 0; i < w->n_t; i++) {
        WTensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        t->offset = off;
        off += (t->nbytes + 31) / 32 * 32;
        fwrite(&len, 8, 1, f);
        fwrite(t->name, 1, len, f);
        fwrite(&t->n_dims, 4, 1, f);
        fwrite(t->ne, 8, t->n_dims, f);
        fwrite(&t->type, 4, 1, f);
        fwrite(&t->offset, 8, 1, f);
    }
    static const uint8_t zeros[32];
    long pos = ftell(f);
    fwrite(zeros, 1, (size_t)((32 - pos % 32) % 32), f);
    for (int i = 0; i < w->n_t; i++) {
        fwrite(w->t[i].data, 1, w->t[i].nbytes, f);
        fwrite(zeros, 1, (size_t)((32 - w->t[i].nbytes % 32) % 32), f);
        ml_free(w->t[i].data);
    }
    int bad = ferror(f);
    fclose(f);
    ml_free(w->kv);
    ml_free(w);
    return bad ? -1 : 0;
}
