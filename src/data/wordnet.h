/* WordNet 3.0 noun database (Debian wordnet-base: index.noun + data.noun): sense lookup and
 * hypernym chains. Synset lines are found by the offset they start with (not by seeking), so a
 * subset of data.noun (test fixtures) works as well as the whole file. */
#pragma once

typedef struct WordNet WordNet;

/* Reads dir/index.noun and dir/data.noun. -1 + ml_error naming the file when missing/corrupt. */
int wordnet_open(WordNet **wn, const char *dir);
void wordnet_close(WordNet *wn);

/* Number of noun senses of a lemma (spaces or '_', any case); 0 if not a noun. */
int wordnet_senses(const WordNet *wn, const char *lemma);
/* Synset offset of sense `sense` (1 = most frequent) of a noun lemma; -1 if none. */
long wordnet_synset(const WordNet *wn, const char *lemma, int sense);
/* The synset's lexicographer file without "noun." ("animal", "artifact", ...) or NULL. */
const char *wordnet_lexname(const WordNet *wn, long synset);
/* First word of a synset ("dog", "canine"), lower case, '_' → ' '; writes into buf. */
int wordnet_head_word(const WordNet *wn, long synset, char *buf, int cap);
/* Follows each synset's first hypernym (@ or @i) up to the root. Writes up to max offsets
 * (excluding `synset` itself) and returns how many. */
int wordnet_hypernym_chain(const WordNet *wn, long synset, long *out, int max);
