/* GPT-2's pre-tokenizer, by hand over UTF-8 bytes. It splits text like the regex
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Code points are classed as letter (\p{L}), number (\p{N}), space (Unicode White_Space) or other,
 * from tables generated from Unicode (src/data/unicode_class.c). A byte that does not start a valid
 * UTF-8 sequence counts as one "other" code point of one byte, so any byte string splits, and the
 * pieces concatenate back to the input. */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum { UCLASS_LETTER, UCLASS_NUMBER, UCLASS_SPACE, UCLASS_OTHER };

/* Class of a code point (-1 = invalid byte → UCLASS_OTHER). */
int unicode_class(int32_t cp);
/* 1 if the code point is in Unicode category P (punctuation: Pc Pd Ps Pe Pi Pf Po), else 0 (also
 * for -1). Only llama.cpp's `default` GGUF pre-tokenizer needs it (src/gguf/gguf_pretok_default.c).
 */
int unicode_is_punct(int32_t cp);
/* Decodes the code point at s[0..len) (len >= 1): returns its byte length (1..4) and sets *cp;
 * invalid or truncated sequences (overlong, > U+10FFFF) give 1 byte and *cp = -1. A surrogate
 * (ED A0..BF xx) decodes to its code point, of no letter/number/space class, as llama.cpp reads it.
 */
int utf8_decode(const unsigned char *s, size_t len, int32_t *cp);
/* Byte length of the pre-token that starts at s (len >= 1); always >= 1. */
size_t pretok_next(const char *s, size_t len);
/* Calls fn for every pre-token of s[0..len) in order. */
void pretok_each(const char *s, size_t len, void (*fn)(const char *piece, size_t n, void *ctx),
                 void *ctx);
