/* Cleaning raw sources into plain text (docs/data.md). Each function writes at most `n` bytes + NUL
 * into out (so out may be a buffer of n + 1 bytes) and returns the output length. */
#pragma once
#include <stddef.h>

/* HTML/XHP → text: drops <head>, <script>, <style> and comments, keeps only the page body (from the
 * LibreOffice help's id="DisplayArea" up to <footer> when present), turns block tags (p, h1-6, div,
 * li, br, tr, table, pre, title, paragraph) into line breaks, decodes entities (named basics and
 * &#N; / &#xN;), squeezes spaces and blank lines. */
size_t clean_html(const char *in, size_t n, char *out);
/* Metamath: removes every proof, from the token `$=` to the token `$.` inclusive, outside comments
 * (`$( ... $)`), then squeezes blank lines. */
size_t clean_metamath(const char *in, size_t n, char *out);
/* Trims trailing spaces of lines and leaves at most one blank line in a row; leading and trailing
 * blank lines go. In place; returns the new length. */
size_t squeeze_blank_lines(char *s, size_t n);
/* Splits a fortune file (entries separated by lines holding only '%'): calls fn for each non-empty
 * entry (without the separator lines). */
void split_fortunes(const char *in, size_t n, void (*fn)(const char *entry, size_t len, void *ctx),
                    void *ctx);
