/* The multi-domain text corpus (docs/data.md): documents of cleaned plain text, each with a domain
 * and a train/val split decided by a hash of its name. Built-in domains read the fetched packages
 * under the data folder; users add their own with "NAME=[KIND:]PATH". */
#pragma once
#include <stddef.h>

#define CORPUS_MAX_DOMAINS 64

typedef struct {
    char *name; /* unique within its domain, e.g. a file path relative to the source */
    char *text;
    size_t len;
    int domain;
    int val; /* 1 = validation split */
} CorpusDoc;

typedef struct {
    int n_domains;
    char *domain_names[CORPUS_MAX_DOMAINS];
    CorpusDoc *docs;
    long n_docs, cap;
} Corpus;

void corpus_init(Corpus *c);
void corpus_free(Corpus *c);
/* Names of the built-in domains (en fr en_tech code math de legal). */
const char *const *corpus_builtin_domains(int *n);
int corpus_domain_index(const Corpus *c, const char *name); /* -1 if absent */
/* Reads a built-in domain from the fetched data under data_dir; keeps at most cap_bytes of text
 * (documents taken in hash order; the one that crosses the cap is cut). Replaces a domain of the
 * same name. -1 + ml_error naming the missing path (run `moelens data fetch`). */
int corpus_add_builtin(Corpus *c, const char *domain, const char *data_dir, size_t cap_bytes);
/* User source "NAME=[KIND:]PATH", KIND one of
 *   file:  the whole file is one document (default for a file)
 *   dir:   every regular file under the folder, recursively, is a document (default for a folder)
 *   lines: one document per non-empty line of the file
 *   fortune: documents separated by lines holding only '%'
 * Files ending .html/.htm/.xhp are cleaned as HTML. Replaces a domain of the same name. */
int corpus_add_user(Corpus *c, const char *spec, size_t cap_bytes);
/* Marks documents as validation when hash(domain/name) falls below val_fraction; a domain with two
 * or more documents always gets at least one of each split. Deterministic. */
void corpus_split(Corpus *c, double val_fraction);
/* Stable document hash in [0,1) used by the split and the cap order. */
double corpus_doc_hash01(const char *domain, const char *name);
