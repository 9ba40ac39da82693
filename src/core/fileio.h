/* Checked file IO. Everything a user keeps is written atomically: into "<path>.tmp.<pid>" in the
 * same folder, fsync'd, then renamed over <path>, so a killed process leaves the last good file. */
#pragma once
#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *fp;
    char *path;     /* final destination */
    char *tmp_path; /* where bytes go until commit */
    int failed;     /* a write failed: commit will refuse */
} AtomicFile;

int afile_open(AtomicFile *af, const char *path);           /* -1 + ml_error on failure */
int afile_write(AtomicFile *af, const void *buf, size_t n); /* -1 + ml_error on failure */
int afile_printf(AtomicFile *af, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int afile_commit(AtomicFile *af); /* flush, fsync, rename; -1 (and temp removed) on failure */
void afile_abort(AtomicFile *af); /* drop the temp file; destination untouched */

/* Whole-file helpers. */
int ml_write_file_atomic(const char *path, const void *buf, size_t n);
int ml_read_file(const char *path, char **buf, size_t *len); /* buf NUL-terminated; ml_free it */
int ml_mkdir_p(const char *path);                            /* like mkdir -p */
int ml_file_exists(const char *path);
int ml_is_dir(const char *path);
/* Joins a folder and a name into a new string (ml_free it). */
char *ml_path_join(const char *dir, const char *name);
