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
/* 0 when path can be opened as a file; -1 + ml_error naming it ("is a folder, expected a file"). */
int ml_check_file(const char *path);
/* Removes "<name>.tmp.<pid>" files in dir whose writer process no longer exists (left by a
 * kill -9); returns how many were removed. */
int ml_remove_stale_tmp(const char *dir);
int ml_mkdir_p(const char *path);
/* Removes a file or a folder with everything in it (like rm -rf); 0 when gone. */
int ml_remove_tree(const char *path);
/* A folder written as a whole: ml_dir_begin creates a fresh "<final>.tmp.<pid>" (ml_free it) to
 * write into, ml_dir_commit swaps it for <final> in one rename, so a killed writer leaves the
 * old folder or the new one, never a mix. */
char *ml_dir_begin(const char *final);
int ml_dir_commit(const char *tmp, const char *final);
/* The two together: write(dir, ctx) fills a fresh temporary folder that replaces <final> when it
 * returns 0 (keeping <final>'s files that write did not produce) and is removed otherwise; stale
 * temporary folders beside <final> are removed first. */
int ml_dir_write(const char *final, int (*write)(const char *dir, void *ctx),
                 void *ctx); /* like mkdir -p */
int ml_file_exists(const char *path);
int ml_is_dir(const char *path);
/* Joins a folder and a name into a new string (ml_free it). */
char *ml_path_join(const char *dir, const char *name);
