/* Error reporting. Library code never exits on bad input: it records one message naming the
 * file/option and what was expected (ml_error) and returns -1; the CLI prints it and exits 1. */
#pragma once
#include <stdarg.h>

/* Records the message (printf-style) for ml_errmsg() and returns -1, so `return ml_error(...)`. */
int ml_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message ("" if none). Thread-local. */
const char *ml_errmsg(void);
/* Prints "moelens: error: <msg>" to stderr and exits with status 1 (CLI, out of memory). */
void ml_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Prints "moelens: warning: <msg>" to stderr. */
void ml_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
