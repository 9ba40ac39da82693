#include "core/error.h"
#include "dist/dist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

int ml_error(const char *fmt, ...) {
    char msg[sizeof last_error]; /* the arguments may point into last_error itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return -1;
}

const char *ml_errmsg(void) {
    return last_error;
}

void ml_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    dist_error_pause(); /* an error every rank meets is printed once, by rank 0 */
    fputs("moelens: error: ", stderr);
    if (dist_size() > 1) fprintf(stderr, "rank %d of %d: ", dist_rank(), dist_size());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    dist_abort(1); /* under mpirun: every rank stops, none waits in a collective */
}

void ml_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("moelens: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
