#!/usr/bin/python3
"""Writes the fuzzer's seed corpus tests/fuzz/corpus/*.gguf: small valid files (every metadata
value type, one tensor of each supported type) for libFuzzer to mutate. Needs gguf-py (see
make_dequant_fixture.py for PYTHONPATH)."""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

rng = np.random.default_rng(7)
w = gguf.GGUFWriter("tests/fuzz/corpus/gguf/seed_types.gguf", arch="olmoe")
w.add_uint32("olmoe.block_count", 2); w.add_float32("olmoe.rope.freq_base", 10000.0)
w.add_bool("tokenizer.ggml.add_bos_token", False); w.add_array("tokenizer.ggml.tokens", ["a", "b", "ab"])
w.add_array("tokenizer.ggml.merges", ["a b"]); w.add_key_value("tokenizer.ggml.token_type", [1, 1, 1],
                                                            gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)
w.add_int64("t.i64", -3); w.add_float64("t.f64", 2.0); w.add_int8("t.i8", -1); w.add_uint16("t.u16", 9)
w.add_tensor("f32", rng.standard_normal((2, 8)).astype(np.float32))
w.add_tensor("f16", rng.standard_normal((8,)).astype(np.float16))
for q in [Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
    block, size = gguf.GGML_QUANT_SIZES[q]
    n = block if block > 1 else 8
    w.add_tensor(q.name.lower(), rng.integers(0, 256, size=(1, n // block * size), dtype=np.uint8), raw_dtype=q)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
