#include "core/safetensors.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int dtype_bytes(const char *dtype) {
    static const struct {
        const char *name;
        int size;
    } table[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                 {"I16", 2}, {"I8", 1},  {"U8", 1},  {"U16", 2},  {"U32", 4}, {"BOOL", 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(dtype, table[i].name) == 0) return table[i].size;
    return 0;
}

void st_init(SafeTensors *st) {
    memset(st, 0, sizeof *st);
}

void st_add(SafeTensors *st, const char *name, const char *dtype, const int64_t *shape, int ndim,
            const void *data) {
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 16;
        st->tensors = realloc(st->tensors, st->cap * sizeof *st->tensors);
        if (!st->tensors) ml_fatal("out of memory");
    }
    StTensor *t = &st->tensors[st->n++];
    memset(t, 0, sizeof *t);
    t->name = ml_strdup(name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = ndim;
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (t->shape[i] = shape[i]);
    t->nbytes = (size_t)count * dtype_bytes(dtype);
    t->data = data;
}

void st_add_f32(SafeTensors *st, const char *name, const float *data, const int64_t *shape,
                int ndim) {
    st_add(st, name, "F32", shape, ndim, data);
}

void st_set_meta(SafeTensors *st, const char *key, const char *value) {
    st->meta_keys = realloc(st->meta_keys, (st->n_meta + 1) * sizeof(char *));
    st->meta_vals = realloc(st->meta_vals, (st->n_meta + 1) * sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) ml_fatal("out of memory");
    st->meta_keys[st->n_meta] = ml_strdup(key);
    st->meta_vals[st->n_meta] = ml_strdup(value);
    st->n_meta++;
}

int st_write_header(const SafeTensors *st, AtomicFile *af, const char *path) {
    cJSON *root = cJSON_CreateObject();
    if (st->n_meta) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < st->n_meta; i++)
            cJSON_AddStringToObject(meta, st->meta_keys[i], st->meta_vals[i]);
    }
    size_t off = 0;
    for (int i = 0; i < st->n; i++) {
        const StTensor *t = &st->tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(o, "dtype", t->dtype);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t hlen = strlen(json), padded = (hlen + 7) & ~(size_t)7;
    if (afile_open(af, path)) {
        free(json);
        return -1;
    }
    uint64_t h = padded;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (h >> (8 * i)) & 0xff;
    afile_write(af, le, 8);
    afile_write(af, json, hlen);
    for (size_t i = hlen; i < padded; i++) afile_write(af, " ", 1);
    free(json);
    return 0;
}

int st_write(const SafeTensors *st, const char *path) {
    AtomicFile af;
    if (st_write_header(st, &af, path)) return -1;
    for (int i = 0; i < st->n; i++) afile_write(&af, st->tensors[i].data, st->tensors[i].nbytes);
    return afile_commit(&af);
}

static int parse_tensor(SafeTensors *st, const cJSON *o, size_t data_len) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2 || cJSON_GetArraySize(shape) > ST_MAX_DIMS)
        return ml_error("%s: tensor '%s' has a malformed header entry", st->path, o->string);
    int esize = dtype_bytes(dt->valuestring);
    if (!esize)
        return ml_error("%s: tensor '%s' has unknown dtype '%s'", st->path, o->string,
                        dt->valuestring);
    int64_t shp[ST_MAX_DIMS];
    int nd = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, shape) {
        /* bounded before the cast: a double beyond int64 range is undefined behaviour */
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 0x1p62))
            return ml_error("%s: tensor '%s' has a bad shape", st->path, o->string);
        shp[nd++] = (int64_t)v->valuedouble;
    }
    size_t nbytes;
    if (ml_shape_bytes(shp, nd, (size_t)esize, &nbytes))
        return ml_error("%s: tensor '%s' has a shape too large for any file", st->path, o->string);
    const cJSON *bj = cJSON_GetArrayItem(offs, 0), *ej = cJSON_GetArrayItem(offs, 1);
    double b = cJSON_IsNumber(bj) ? bj->valuedouble : -1,
           e = cJSON_IsNumber(ej) ? ej->valuedouble : -1;
    if (!(b >= 0) || !(e >= b) || e > (double)data_len)
        return ml_error(
            "%s: tensor '%s' lies outside the file (offsets %.0f..%.0f, data %zu bytes): "
            "truncated or corrupt",
            st->path, o->string, b, e, data_len);
    if ((size_t)(e - b) != nbytes)
        return ml_error("%s: tensor '%s' byte size %.0f does not match its shape", st->path,
                        o->string, e - b);
    size_t hdr = 8 + (size_t)(*(uint64_t *)st->map);
    st_add(st, o->string, dt->valuestring, shp, nd, (const char *)st->map + hdr + (size_t)b);
    return 0;
}

int st_open(SafeTensors *st, const char *path) {
    st_init(st);
    st->path = ml_strdup(path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        st_free(st);
        return ml_error("%s: cannot open checkpoint (%s)", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        st_free(st);
        return ml_error("%s: %s", path,
                        S_ISDIR(sb.st_mode) ? "is a folder, expected a file"
                                            : "not a regular file");
    }
    st->map_len = (size_t)sb.st_size;
    if (st->map_len < 8) {
        close(fd);
        st_free(st);
        return ml_error("%s: not a safetensors file (only %zu bytes)", path, (size_t)sb.st_size);
    }
    st->map = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        st_free(st);
        return ml_error("%s: cannot map file", path);
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)((unsigned char *)st->map)[i] << (8 * i);
    if (hlen > st->map_len - 8) {
        size_t file_len = st->map_len; /* st_free clears it */
        ml_error("%s: header length %llu exceeds file size %zu: truncated or not safetensors", path,
                 (unsigned long long)hlen, file_len);
        st_free(st);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)st->map + 8, hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        st_free(st);
        return ml_error("%s: header is not valid JSON: corrupt checkpoint", path);
    }
    size_t data_len = st->map_len - 8 - hlen;
    const cJSON *item;
    int r = 0;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item) if (cJSON_IsString(kv))
                st_set_meta(st, kv->string, kv->valuestring);
        } else if ((r = parse_tensor(st, item, data_len)) != 0) {
            break;
        }
    }
    cJSON_Delete(root);
    if (r) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        st_free(st);
        return ml_error("%s", msg);
    }
    return 0;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *st_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

int st_read_f32(const SafeTensors *st, const char *name, float *dst, int64_t count) {
    return st_read_f32_part(st, name, dst, count, 0, count);
}

int st_read_f32_part(const SafeTensors *st, const char *name, float *dst, int64_t count,
                     int64_t first, int64_t n) {
    const StTensor *t = st_find(st, name);
    if (!t) return ml_error("%s: tensor '%s' is missing", st->path ? st->path : "checkpoint", name);
    if (strcmp(t->dtype, "F32") != 0)
        return ml_error("%s: tensor '%s' is %s, expected F32", st->path, name, t->dtype);
    if ((int64_t)(t->nbytes / 4) != count)
        return ml_error(
            "%s: tensor '%s' has %zu elements, expected %lld (shape mismatch with config)",
            st->path, name, t->nbytes / 4, (long long)count);
    if (first < 0 || n < 0 || first + n > count)
        return ml_error("%s: tensor '%s': elements [%lld, %lld) lie outside its %lld", st->path,
                        name, (long long)first, (long long)(first + n), (long long)count);
    memcpy(dst, (const float *)t->data + first, (size_t)n * sizeof(float));
    return 0;
}

void st_free(SafeTensors *st) {
    for (int i = 0; i < st->n; i++) ml_free(st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        ml_free(st->meta_keys[i]);
        ml_free(st->meta_vals[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_vals);
    if (st->map) munmap(st->map, st->map_len);
    ml_free(st->path);
    memset(st, 0, sizeof *st);
}
