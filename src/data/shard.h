/* Token shards: the tokenised corpus on disk, read by the LM trainer through mmap (nothing is
 * loaded into memory). One file per split (train.tokens, val.tokens) holds the token ids, the
 * domain id of every token and the start of every document; format in docs/data.md.
 * Documents are concatenated, each followed by the tokenizer's end-of-text token, so windows may
 * cross document boundaries (as in GPT-2 training); the end-of-text token carries the domain of the
 * document it ends. */
#pragma once
#include "core/rng.h"
#include "data/tokenizer.h"
#include <stddef.h>
#include <stdint.h>

typedef struct TokenShard TokenShard;

/* Opens and validates (sizes, token ids < vocab, domain ids < num_domains, document starts).
 * -1 + ml_error naming the file on a missing, truncated or corrupt shard. */
int shard_open(TokenShard **s, const char *path);
void shard_close(TokenShard *s);

long shard_num_tokens(const TokenShard *s);
int shard_vocab_size(const TokenShard *s);
int shard_num_domains(const TokenShard *s);
const char *shard_domain_name(const TokenShard *s, int d);
/* Domain index of a name, or -1. */
int shard_domain_index(const TokenShard *s, const char *name);
long shard_num_docs(const TokenShard *s);
long shard_doc_start(const TokenShard *s, long doc); /* first token of document `doc` */
long shard_doc_len(const TokenShard *s, long doc);   /* tokens, end-of-text included */
int shard_doc_domain(const TokenShard *s, long doc);
int32_t shard_token(const TokenShard *s, long i);
int shard_token_domain(const TokenShard *s, long i);

/* B random windows of T+1 tokens (inputs = first T, targets = next T); domains[b*T+t] is the
 * domain of inputs[b*T+t]. Needs shard_num_tokens > T. Arrays hold B*T entries. */
void shard_sample_batch(const TokenShard *s, Rng *rng, int B, int T, int32_t *inputs,
                        int32_t *targets, int32_t *domains);
/* Sequential windows for evaluation: window w covers tokens [w*T, w*T+T] (inputs w*T..w*T+T-1,
 * targets shifted by one). Returns (num_tokens-1)/T: every token but the last is an input once. */
long shard_num_windows(const TokenShard *s, int T);
void shard_window(const TokenShard *s, long w, int T, int32_t *inputs, int32_t *targets,
                  int32_t *domains);

/* Writing. Documents are appended one at a time (the writer keeps them in memory) and the file is
 * written atomically on commit. Token ids must be < vocab_size, domain < num_domains. */
typedef struct ShardWriter ShardWriter;
int shard_writer_open(ShardWriter **w, const char *path, int vocab_size, int num_domains,
                      const char *const *domain_names);
/* Appends a document's tokens (the caller adds the end-of-text token if it wants one). */
int shard_writer_add_doc(ShardWriter *w, const int32_t *ids, long n, int domain);
long shard_writer_num_tokens(const ShardWriter *w);
int shard_writer_commit(ShardWriter *w); /* writes, renames, frees; -1 + ml_error on failure */
void shard_writer_abort(ShardWriter *w); /* frees; nothing written */

/* For `moelens eval --text FILE`: tokenises a plain text file as one document of domain `domain`
 * (end-of-text appended) into an in-memory shard (same accessors; shard_close frees it). */
int shard_from_text_file(TokenShard **s, const Tokenizer *t, const char *text_path,
                         const char *domain);
/* Same, written to `out_path` as a shard file. */
int shard_build_from_text(const Tokenizer *t, const char *text_path, const char *domain,
                          const char *out_path);
