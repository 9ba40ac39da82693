#define _GNU_SOURCE /* renameat2 */
#include "core/fileio.h"
#include "core/error.h"
#include "core/mem.h"
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <errno.h>
#include <signal.h>
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
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        int dir = S_ISDIR(st.st_mode);
        fclose(fp);
        return ml_error(dir ? "%s: is a folder, expected a file" : "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    char *data = ml_alloc(size + 1);
    size_t got = fread(data, 1, size, fp);
    fclose(fp);
    if (got != size) {
        ml_free(data);
        return ml_error("%s: short read (%zu of %zu bytes)", path, got, size);
    }
    data[size] = 0;
    *buf = data;
    if (len) *len = size;
    return 0;
}

int ml_check_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return ml_error("%s: cannot open (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ml_error("%s: is a folder, expected a file", path);
    return 0;
}

/* "<name>.tmp.<pid>" → pid, or 0 when the name has another form. */
static long tmp_owner(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    return *end || pid <= 0 ? 0 : pid;
}

int ml_remove_stale_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = tmp_owner(e->d_name);
        /* a live owner (or one we may not signal) is still writing: leave its file alone */
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *p = ml_path_join(dir, e->d_name);
        if (ml_remove_tree(p) == 0) removed++;
        ml_free(p);
    }
    closedir(d);
    return removed;
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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

int ml_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return remove(path);
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *ml_dir_begin(const char *final) {
    size_t n = strlen(final) + 32;
    char *tmp = ml_alloc(n);
    snprintf(tmp, n, "%s.tmp.%d", final, (int)getpid());
    ml_remove_tree(tmp);
    if (ml_mkdir_p(tmp)) {
        ml_free(tmp);
        return NULL;
    }
    return tmp;
}

int ml_dir_commit(const char *tmp, const char *final) {
    /* swap in one step when the old folder exists (RENAME_EXCHANGE), then drop the old one */
    if (ml_is_dir(final) && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0)
        return ml_remove_tree(tmp) == 0 ? 0 : ml_error("%s: cannot remove", tmp);
    if (ml_file_exists(final) && !ml_is_dir(final))
        return ml_error("%s: exists and is not a folder", final);
    if (ml_is_dir(final)) ml_remove_tree(final); /* file system without RENAME_EXCHANGE */
    if (rename(tmp, final) != 0)
        return ml_error("%s: cannot move %s into place (%s)", final, tmp, strerror(errno));
    return 0;
}

/* Hard-links into `to` the regular files of `from` that `to` lacks, so a run writing only some
 * outputs (analyze --only X) keeps the others, as writing in place did. */
static void carry_over(const char *from, const char *to) {
    DIR *d = opendir(from);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        char *src = ml_path_join(from, e->d_name), *dst = ml_path_join(to, e->d_name);
        struct stat st;
        if (lstat(src, &st) == 0 && S_ISREG(st.st_mode) && !ml_file_exists(dst) &&
            link(src, dst) != 0) {
            char *buf;
            size_t len;
            if (!ml_read_file(src, &buf, &len)) ml_write_file_atomic(dst, buf, len), ml_free(buf);
        }
        ml_free(src), ml_free(dst);
    }
    closedir(d);
}

int ml_dir_write(const char *final, int (*write)(const char *dir, void *ctx), void *ctx) {
    char *parent = ml_strdup(final), *slash = strrchr(parent, '/');
    if (slash) *slash = 0;
    ml_remove_stale_tmp(slash ? parent : "."); /* left by a killed writer */
    ml_free(parent);
    char *tmp = ml_dir_begin(final);
    if (!tmp) return -1;
    int rc = write(tmp, ctx);
    if (!rc) carry_over(final, tmp);
    if (!rc) rc = ml_dir_commit(tmp, final);
    if (rc) ml_remove_tree(tmp);
    ml_free(tmp);
    return rc;
}
