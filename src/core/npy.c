#include "core/npy.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dtype_size(const char *dtype) {
    int n = atoi(dtype + 2);
    return (dtype[0] == '<' || dtype[0] == '|') && n > 0 && n <= 8 ? n : 0;
}

int npy_write(const char *path, const char *dtype, const int64_t *shape, int ndim,
              const void *data) {
    int esize = dtype_size(dtype);
    if (!esize) return ml_error("%s: unsupported npy dtype '%s'", path, dtype);
    char dims[256] = "";
    int64_t count = 1;
    size_t off = 0;
    for (int i = 0; i < ndim; i++) {
        off += snprintf(dims + off, sizeof dims - off, "%lld,%s", (long long)shape[i],
                        (ndim > 1 && i < ndim - 1) ? " " : "");
        count *= shape[i];
    }
    if (ndim > 1) dims[off - 1] = 0; /* "(a, b)" not "(a, b,)" */
    char header[512];
    int hlen = snprintf(header, sizeof header,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", dtype, dims);
    int total = 10 + hlen + 1;
    int pad = (64 - total % 64) % 64;
    AtomicFile af;
    if (afile_open(&af, path)) return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    uint16_t hl = (uint16_t)(hlen + pad + 1);
    pre[8] = hl & 0xff;
    pre[9] = hl >> 8;
    afile_write(&af, pre, 10);
    afile_write(&af, header, hlen);
    for (int i = 0; i < pad; i++) afile_write(&af, " ", 1);
    afile_write(&af, "\n", 1);
    if (afile_write(&af, data, (size_t)count * esize)) {
        afile_abort(&af);
        return -1;
    }
    return afile_commit(&af);
}

int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim) {
    return npy_write(path, "<f4", shape, ndim, data);
}

int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim) {
    return npy_write(path, "<i4", shape, ndim, data);
}

static int parse_header(const char *path, const char *h, NpyArray *out) {
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s) return ml_error("%s: npy header lacks descr/fortran_order/shape", path);
    if (sscanf(d, "'descr': '%7[^']'", out->dtype) != 1 || !dtype_size(out->dtype))
        return ml_error("%s: unsupported npy dtype", path);
    if (strncmp(f, "'fortran_order': False", 22) != 0)
        return ml_error("%s: Fortran-ordered arrays are not supported", path);
    const char *p = strchr(s, '(');
    if (!p) return ml_error("%s: bad npy shape", path);
    p++;
    out->ndim = 0;
    while (*p && *p != ')') {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) break;
        if (out->ndim == 8 || v < 0 || v == LLONG_MAX) return ml_error("%s: bad npy shape", path);
        out->shape[out->ndim++] = v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    return 0;
}

int npy_read(const char *path, NpyArray *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    if (ml_read_file(path, &buf, &len)) return -1;
    int r = -1;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        ml_error("%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hl = (unsigned char)buf[8] | ((unsigned char)buf[9] << 8), start = 10 + hl;
    if (buf[6] != 1 || start > len) {
        ml_error("%s: unsupported npy version or truncated header", path);
        goto done;
    }
    char save = buf[start];
    buf[start] = 0;
    int ok = parse_header(path, buf + 10, out) == 0;
    buf[start] = save;
    if (!ok) goto done;
    size_t nbytes;
    if (ml_shape_bytes(out->shape, out->ndim, dtype_size(out->dtype), &nbytes)) {
        ml_error("%s: npy shape is too large (its byte count overflows)", path);
        goto done;
    }
    if (len - start < nbytes) {
        ml_error("%s: truncated data (%zu of %zu bytes)", path, len - start, nbytes);
        goto done;
    }
    out->nbytes = (int64_t)nbytes;
    out->data = ml_alloc(out->nbytes);
    memcpy(out->data, buf + start, out->nbytes);
    r = 0;
done:
    ml_free(buf);
    return r;
}

void npy_free(NpyArray *a) {
    ml_free(a->data);
    a->data = NULL;
}
