#!/usr/bin/python3
"""Writes OUT.gguf: the model IN.gguf with every tensor replaced by gguf-py's numpy
dequantisation of it (F32), metadata copied. llama.cpp runs F32 weights without quantising the
activations, so scoring OUT with llama.cpp isolates how moelens handles IN's quantised weights
(tests/cli/gguf_eval.sh). Usage: dequant_model.py IN.gguf OUT.gguf   (gguf-py on PYTHONPATH)"""
import sys
import numpy as np
import gguf
from gguf.quants import dequantize

r = gguf.GGUFReader(sys.argv[1])
arch = r.fields["general.architecture"].contents()
w = gguf.GGUFWriter(sys.argv[2], arch=arch)
for name, f in r.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    vtype = f.types[0]
    sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(name, f.contents(), vtype, sub)
for t in r.tensors:
    x = dequantize(t.data, t.tensor_type)
    ne = [int(v) for v in t.shape]  # ggml order
    w.add_tensor(t.name, np.ascontiguousarray(x, dtype=np.float32).reshape(ne[::-1]))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
