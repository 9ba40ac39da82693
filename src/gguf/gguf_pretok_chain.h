/* llama.cpp applies some pre-tokenizers as a chain of regexes (llama-vocab.cpp regex_exprs, run by
 * unicode.cpp's unicode_regex_split): each regex splits every current piece into its matches and
 * the spans between them, searching each piece alone (no match crosses a piece's end). */
#pragma once
#include <stddef.h>

/* Match length of stage `stage` at byte i of the piece s[0..n) (0: no match starts there). */
typedef size_t (*PretokMatch)(int stage, const unsigned char *s, size_t n, size_t i);

/* Runs stages 0..nstages-1 over text[0..len): the byte lengths of the final pieces (ml_alloc'd,
 * *npieces of them, summing to len). Where no match starts, the search moves on by one code point
 * (utf8_decode: an invalid byte is one). */
size_t *pretok_chain_split(const char *text, size_t len, int nstages, PretokMatch match,
                           size_t *npieces);
