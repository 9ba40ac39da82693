/* WordNet noun index and data, held in memory with sorted line tables for binary search. */
#include "data/wordnet.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct WordNet {
    char *index_text, *data_text;
    char **index_lines; /* sorted by lemma (first token) */
    int n_index;
    long *data_offsets; /* sorted; data_lines[i] starts with data_offsets[i] */
    char **data_lines;
    int n_data;
};

static const char *LEXNAMES[] = {
    "adj.all",  "adj.pert",   "adv.all", "Tops",       "act",           "animal",
    "artifact", "attribute",  "body",    "cognition",  "communication", "event",
    "feeling",  "food",       "group",   "location",   "motive",        "object",
    "person",   "phenomenon", "plant",   "possession", "process",       "quantity",
    "relation", "shape",      "state",   "substance",  "time"};

/* Splits text into lines (NUL-terminating them), skipping the licence header (leading spaces). */
static char **split_lines(char *text, int *n) {
    int cap = 1024, k = 0;
    char **lines = malloc(sizeof(char *) * cap);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (*p && *p != ' ') {
            if (k == cap) lines = realloc(lines, sizeof(char *) * (cap *= 2));
            if (!lines) ml_fatal("out of memory reading WordNet");
            lines[k++] = p;
        }
        if (!nl) break;
        p = nl + 1;
    }
    *n = k;
    return lines;
}

/* Compares the first space-terminated tokens. */
static int token_cmp(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a == ' ' ? 0 : *a, y = *b == ' ' ? 0 : *b;
        if (x != y) return (unsigned char)x - (unsigned char)y;
        if (!x) return 0;
    }
}
static int cmp_line(const void *a, const void *b) {
    return token_cmp(*(char *const *)a, *(char *const *)b);
}

static int load(const char *dir, const char *name, char **text) {
    char *p = ml_path_join(dir, name);
    size_t len;
    int rc = ml_read_file(p, text, &len);
    if (rc) ml_error("%s: cannot read WordNet file (install Debian wordnet-base)", p);
    ml_free(p);
    return rc;
}

int wordnet_open(WordNet **out, const char *dir) {
    WordNet *wn = ml_alloc(sizeof *wn);
    *out = NULL;
    if (load(dir, "index.noun", &wn->index_text) || load(dir, "data.noun", &wn->data_text)) {
        wordnet_close(wn);
        return -1;
    }
    wn->index_lines = split_lines(wn->index_text, &wn->n_index);
    qsort(wn->index_lines, wn->n_index, sizeof(char *), cmp_line);
    int nd;
    char **dl = split_lines(wn->data_text, &nd);
    wn->data_lines = dl, wn->n_data = nd;
    wn->data_offsets = malloc(sizeof(long) * (nd + 1));
    for (int i = 0; i < nd; i++) wn->data_offsets[i] = strtol(dl[i], NULL, 10);
    for (int i = 1; i < nd; i++)
        if (wn->data_offsets[i] <= wn->data_offsets[i - 1]) {
            ml_error("%s/data.noun: synset offsets are not increasing at line %d", dir, i + 1);
            wordnet_close(wn);
            return -1;
        }
    if (!wn->n_index || !nd) {
        ml_error("%s: WordNet index.noun or data.noun holds no entries", dir);
        wordnet_close(wn);
        return -1;
    }
    *out = wn;
    return 0;
}

void wordnet_close(WordNet *wn) {
    if (!wn) return;
    ml_free(wn->index_text), ml_free(wn->data_text);
    free(wn->index_lines), free(wn->data_lines), free(wn->data_offsets);
    ml_free(wn);
}

static const char *index_line(const WordNet *wn, const char *lemma) {
    char key[256];
    int k = 0;
    for (const char *p = lemma; *p && k < 255; p++) key[k++] = *p == ' ' ? '_' : tolower(*p);
    key[k] = 0;
    const char *kp = key;
    char **hit = bsearch(&kp, wn->index_lines, wn->n_index, sizeof(char *), cmp_line);
    return hit ? *hit : NULL;
}

/* index line: lemma pos synset_cnt p_cnt [ptr_symbol × p_cnt] sense_cnt tagsense_cnt offsets… */
static int parse_index(const char *line, long *offsets, int max) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", line);
    char *save, *tok = strtok_r(buf, " ", &save);
    tok = strtok_r(NULL, " ", &save); /* pos */
    tok = strtok_r(NULL, " ", &save);
    int synsets = tok ? atoi(tok) : 0;
    tok = strtok_r(NULL, " ", &save);
    int ptrs = tok ? atoi(tok) : 0;
    for (int i = 0; i < ptrs + 2 && tok; i++) tok = strtok_r(NULL, " ", &save);
    int n = 0;
    while (n < synsets && n < max && (tok = strtok_r(NULL, " ", &save))) offsets[n++] = atol(tok);
    return n;
}

int wordnet_senses(const WordNet *wn, const char *lemma) {
    const char *line = index_line(wn, lemma);
    long off[64];
    return line ? parse_index(line, off, 64) : 0;
}

long wordnet_synset(const WordNet *wn, const char *lemma, int sense) {
    const char *line = index_line(wn, lemma);
    long off[64];
    int n = line ? parse_index(line, off, 64) : 0;
    return sense >= 1 && sense <= n ? off[sense - 1] : -1;
}

static const char *data_line(const WordNet *wn, long synset) {
    int lo = 0, hi = wn->n_data - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (wn->data_offsets[mid] == synset) return wn->data_lines[mid];
        if (wn->data_offsets[mid] < synset)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *wordnet_lexname(const WordNet *wn, long synset) {
    const char *line = data_line(wn, synset);
    if (!line) return NULL;
    int lex = atoi(strchr(line, ' ') + 1);
    return lex >= 3 && lex <= 28 ? LEXNAMES[lex] : NULL;
}

/* data line: offset lex_filenum ss_type w_cnt(hex) [word lex_id]… p_cnt [sym offset pos st]… | */
int wordnet_head_word(const WordNet *wn, long synset, char *buf, int cap) {
    const char *line = data_line(wn, synset);
    char off[16], lex[8], type[8], cnt[8], word[256];
    if (!line || sscanf(line, "%15s %7s %7s %7s %255s", off, lex, type, cnt, word) != 5) return -1;
    snprintf(buf, cap, "%s", word);
    for (char *p = buf; *p; p++) *p = *p == '_' ? ' ' : tolower(*p);
    return 0;
}

static long first_hypernym(const WordNet *wn, long synset) {
    const char *line = data_line(wn, synset);
    if (!line) return -1;
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", line);
    char *save, *tok = strtok_r(buf, " ", &save);
    for (int i = 0; i < 2 && tok; i++) tok = strtok_r(NULL, " ", &save);
    tok = strtok_r(NULL, " ", &save);
    int words = tok ? (int)strtol(tok, NULL, 16) : 0;
    for (int i = 0; i < 2 * words && tok; i++) tok = strtok_r(NULL, " ", &save);
    tok = tok ? strtok_r(NULL, " ", &save) : NULL;
    int ptrs = tok ? atoi(tok) : 0;
    for (int i = 0; i < ptrs; i++) {
        char *sym = strtok_r(NULL, " ", &save), *o = strtok_r(NULL, " ", &save);
        char *pos = strtok_r(NULL, " ", &save);
        if (!strtok_r(NULL, " ", &save) || !sym || !o || !pos) break;
        if ((!strcmp(sym, "@") || !strcmp(sym, "@i")) && !strcmp(pos, "n")) return atol(o);
    }
    return -1;
}

int wordnet_hypernym_chain(const WordNet *wn, long synset, long *out, int max) {
    int n = 0;
    for (long s = first_hypernym(wn, synset); s >= 0 && n < max; s = first_hypernym(wn, s))
        out[n++] = s;
    return n;
}
