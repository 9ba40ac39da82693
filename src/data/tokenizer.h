/* Byte-level BPE tokenizer in GPT-2's scheme, trained by moelens (format: docs/tokenizer.md).
 * Ids 0..255 are the single bytes, then one id per merge in rank order, then the special
 * end-of-text token "<|endoftext|>" (the last id). Text is split by the GPT-2 pre-tokenizer
 * (data/pretok.h) and merges never cross pre-token boundaries. Encoding is exact on arbitrary bytes
 * (invalid UTF-8 included): decode(encode(x)) == x. Encoding never produces end-of-text. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

int tokenizer_load(Tokenizer **t, const char *path);      /* -1 + ml_error on missing/corrupt */
int tokenizer_save(const Tokenizer *t, const char *path); /* atomic */
void tokenizer_free(Tokenizer *t);

int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_eot(const Tokenizer *t); /* id of "<|endoftext|>" (vocab_size - 1) */

/* ids are ml_alloc'd (ml_free them). Not thread-safe on one Tokenizer: encoding fills a cache of
 * pre-token encodings inside it. */
int tokenizer_encode(const Tokenizer *t, const char *bytes, size_t len, int32_t **ids, long *n);
/* bytes are ml_alloc'd and NUL-terminated (len excludes the NUL); end-of-text decodes to its text.
 */
int tokenizer_decode(const Tokenizer *t, const int32_t *ids, long n, char **bytes, size_t *len);
/* Raw bytes of a token (not NUL-terminated); *len set. */
const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len);

/* GPT-2 byte-level string of a token (bytes_to_unicode mapping, UTF-8), for GGUF export. */
const char *tokenizer_token_str(const Tokenizer *t, int id);
int tokenizer_num_merges(const Tokenizer *t);
const char *tokenizer_merge_str(const Tokenizer *t,
                                int i); /* "a b" in byte-level strings, rank i */

/* Training on a set of texts (each split by the pre-tokenizer; pre-tokens counted once). */
typedef struct {
    int vocab_size; /* total, bytes + merges + end-of-text; >= 257 */
    int verbose;    /* progress lines on stderr */
} BpeTrainOptions;
int tokenizer_train(Tokenizer **t, const char *const *texts, const size_t *lens, long n_texts,
                    const BpeTrainOptions *opt);

/* Token classes for syntax analyses (docs/tokenizer.md). Context-free: decided from the token's
 * bytes alone. Function words come from a small per-language list. */
enum TokenClass {
    TOKCLASS_WORD_START,    /* " letters": a word that starts after a space */
    TOKCLASS_WORD_INTERNAL, /* letters without a leading space (continuation, or 's 't ...) */
    TOKCLASS_DIGIT,         /* optional space + numbers */
    TOKCLASS_PUNCT,         /* optional space + symbols/punctuation */
    TOKCLASS_SPACE,         /* whitespace only */
    TOKCLASS_FUNCTION_WORD, /* word-start token whose word is in the language's function-word list
                             */
    TOKCLASS_OTHER,         /* partial UTF-8, mixed, or the end-of-text token */
    TOKCLASS_COUNT
};
enum { LANG_ANY = -1, LANG_EN = 0, LANG_FR = 1, LANG_DE = 2 }; /* LANG_ANY: union of the lists */
int token_lang_from_name(const char *name); /* "en"/"fr"/"de" (prefix before '_'), else LANG_ANY */
const char *token_class_name(int cls);
int token_class(const Tokenizer *t, int id, int lang);
/* The same rules on a token's decoded bytes (any vocabulary: GGUF tokens too); empty → other. */
int token_class_bytes(const char *s, size_t n, int lang);
/* Fills table[id] = class for every id (vocab_size entries). */
void token_class_table(const Tokenizer *t, int lang, uint8_t *table);
