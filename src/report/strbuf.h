/* A growable text buffer for building HTML and SVG in memory (written to disk once, atomically). */
#pragma once
#include <stddef.h>

typedef struct {
    char *buf; /* always NUL-terminated once anything was appended */
    size_t len, cap;
} StrBuf;

void sb_init(StrBuf *sb);
void sb_free(StrBuf *sb);
void sb_puts(StrBuf *sb, const char *s);
void sb_putn(StrBuf *sb, const char *s, size_t n);
void sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " and ' escaped, so user text (labels, file names) cannot break markup.
 */
void sb_escape(StrBuf *sb, const char *s);
/* Appends the base64 encoding (RFC 4648, padded) of n bytes. */
void sb_base64(StrBuf *sb, const unsigned char *data, size_t n);
