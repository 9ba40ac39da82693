#include "core/fileio.h"
#include "core/error.h"
#include "core/mem.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int afile_open(AtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = ml_strdup(path);
    af->tmp_path = ml_alloc(n);
    snprintf(af->tmp_path, n, "%s.tmp.%d", path, (int)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int e = errno;
        ml_free(af->path);
        ml_free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return ml_error("%s: cannot write (%s)", path, strerror(e));
    }
    return 0;
}

int afile_write(AtomicFile *af, const void *buf, size_t n) {
    if (af->failed) return -1;
    if (n && fwrite(buf, 1, n, af->fp) != n) {
        af->failed = 1;
        return ml_error("%s: write failed (%s)", af->path, strerror(errno));
    }
    return 0;
}

int afile_printf(AtomicFile *af, const char *fmt, ...) {
    if (af->failed) return -1;
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(af->fp, fmt, ap);
    va_end(ap);
    if (r < 0) {
        af->failed = 1;
        return ml_error("%s: write failed (%s)", af->path, strerror(errno));
    }
    return 0;
}

static void afile_release(AtomicFile *af) {
    ml_free(af->path);
    ml_free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    af->fp = NULL;
}

int afile_commit(AtomicFile *af) {
    int ok = !af->failed && fflush(af->fp) == 0 && fsync(fileno(af->fp)) == 0;
    int e = errno;
    if (fclose(af->fp) != 0) ok = 0;
    if (ok && rename(af->tmp_path, af->path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        remove(af->tmp_path);
        if (!af->failed) ml_error("%s: could not finish writing (%s)", af->path, strerror(e));
        afile_release(af);
        return -1;
    }
    afile_release(af);
    return 0;
}

void afile_abort(AtomicFile *af) {
    if (!af->fp) return;
    fclose(af->fp);
    remove(af->tmp_path);
    afile_release(af);
}

int ml_write_file_atomic(const char *path, const void *buf, size_t n) {
    AtomicFile af;
    if (afile_open(&af, path)) return -1;
    if (afile_write(&af, buf, n)) {
        afile_abort(&af);
        return -1;
    }
    return afile_commit(&af);
}

int ml_read_file(const char *path, char **buf, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ml_error("%s: cannot open (%s)", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return ml_error("%s: cannot seek (not a regular file?)", path);
    }
    long size = ftell(fp);
    rewind(fp);
    if (size < 0) {
        fclose(fp);
        return ml_error("%s: cannot tell size", path);
    }
    char *data = ml_alloc((size_t)size + 1);
    size_t got = fread(data, 1, (size_t)size, fp);
    fclose(fp);
    if (got != (size_t)size) {
        ml_free(data);
        return ml_error("%s: short read (%zu of %ld bytes)", path, got, size);
    }
    data[size] = 0;
    *buf = data;
    if (len) *len = (size_t)size;
    return 0;
}

int ml_mkdir_p(const char *path) {
    char *p = ml_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            ml_free(p);
            return ml_error("%s: cannot create folder (%s)", path, strerror(e));
        }
        *s = '/';
    }
    int r = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        r = ml_error("%s: cannot create folder (%s)", path, strerror(errno));
    else if (!ml_is_dir(p))
        r = ml_error("%s: exists and is not a folder", path);
    ml_free(p);
    return r;
}

int ml_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int ml_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *ml_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = ml_alloc(n);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}
