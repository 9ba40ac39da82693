#!/usr/bin/python3
"""Writes tests/fixtures/gguf/dequant.gguf: for each tensor type moelens dequantises, a tensor
`raw.<type>` of 2 rows x 256 elements made of random block bytes (scales kept finite) and a tensor
`want.<type>` (F32) holding gguf-py's numpy dequantisation of it -- the reference the unit test
compares gguf_dequant_rows with. Also metadata of every value type, for the getter tests.
Run: PYTHONPATH=$(sh scripts/oracle.sh --src-only | sed -n 's/^PYTHONPATH=//p') /usr/bin/python3 tests/gguf/make_dequant_fixture.py
"""
import sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

ROWS, COLS = 2, 256
# byte offsets of the f16 scale fields inside each block, set to sane finite values
HALF_FIELDS = {Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
               Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}


def random_blocks(rng, qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nblocks = ROWS * COLS // block
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for off in HALF_FIELDS.get(qtype, []):
        h = rng.uniform(-0.05, 0.05, size=nblocks).astype(np.float16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(ROWS, -1)


def main(out):
    rng = np.random.default_rng(1234)
    w = gguf.GGUFWriter(out, arch="fixture")
    w.add_uint8("t.u8", 200); w.add_int8("t.i8", -5); w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -300); w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -7)
    w.add_float32("t.f32", 0.25); w.add_bool("t.bool", True); w.add_string("t.str", "héllo")
    w.add_uint64("t.u64", 1 << 40); w.add_int64("t.i64", -(1 << 40)); w.add_float64("t.f64", 1.5)
    w.add_array("t.strs", ["a", "", "ünï", "end"]); w.add_array("t.f32s", [1.0, -2.5])
    w.add_key_value("t.i32s", [3, -4, 5], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32)
    f = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    for qtype, raw in [(Q.F32, f), (Q.F16, f.astype(np.float16)),
                       (Q.BF16, (f.view(np.uint32) >> 16).astype(np.uint16))]:
        data = raw if qtype != Q.BF16 else raw.view(np.uint8).reshape(ROWS, -1)
        want = dequantize(data if qtype != Q.BF16 else data, qtype).reshape(ROWS, COLS)
        name = qtype.name.lower()
        if qtype == Q.BF16:
            w.add_tensor(f"raw.{name}", data, raw_dtype=qtype)
        else:
            w.add_tensor(f"raw.{name}", raw)
        w.add_tensor(f"want.{name}", want.astype(np.float32))
    for qtype in HALF_FIELDS:
        raw = random_blocks(rng, qtype)
        want = dequantize(raw, qtype).reshape(ROWS, COLS).astype(np.float32)
        name = qtype.name.lower()
        w.add_tensor(f"raw.{name}", raw, raw_dtype=qtype)
        w.add_tensor(f"want.{name}", want)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gguf/dequant.gguf")
