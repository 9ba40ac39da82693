/* Shared by the file-reader fuzz targets: the readers take paths, so each input is written to a
 * per-process scratch file first. A failed read must always leave a message. */
#pragma once
#include "core/error.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes data to /tmp/moelens-fuzz-<pid>-<tag> and returns that path (static storage). */
static inline const char *fuzz_file(const char *tag, const uint8_t *data, size_t size) {
    static char path[4][128];
    static int next;
    char *p = path[next++ & 3];
    snprintf(p, 128, "/tmp/moelens-fuzz-%d-%s", (int)getpid(), tag);
    FILE *fp = fopen(p, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size)) abort();
    fclose(fp);
    return p;
}

/* Reader failures must say why. */
static inline void fuzz_failed_with_message(void) {
    if (!ml_errmsg()[0]) abort();
}
