/* libFuzzer target: token shards (shard_open); an opened shard's accessors stay in bounds. */
#include "core/mem.h"
#include "core/rng.h"
#include "data/shard.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TokenShard *s;
    if (shard_open(&s, fuzz_file("shard", data, size))) {
        fuzz_failed_with_message();
        return 0;
    }
    if (shard_num_tokens(s) < 0 || shard_vocab_size(s) <= 0) abort();
    for (int d = 0; d < shard_num_domains(s); d++) shard_domain_name(s, d);
    for (long doc = 0; doc < shard_num_docs(s) && doc < 64; doc++) {
        long st = shard_doc_start(s, doc), len = shard_doc_len(s, doc);
        if (st < 0 || len < 0 || st + len > shard_num_tokens(s)) abort();
        shard_doc_domain(s, doc);
    }
    int T = 4;
    if (shard_num_windows(s, T) > 0) {
        int32_t in[8], tg[8], dom[8];
        shard_window(s, shard_num_windows(s, T) - 1, T, in, tg, dom);
        Rng r;
        rng_seed(&r, 1);
        shard_sample_batch(s, &r, 2, T, in, tg, dom);
    }
    shard_close(s);
    return 0;
}
