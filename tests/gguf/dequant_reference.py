#!/usr/bin/python3
"""Writes OUT.gguf holding, for every tensor of IN.gguf, gguf-py's numpy dequantisation of it as
F32 under the same name: the reference the unit test gguf_oracle_cases compares moelens with.
Usage: dequant_reference.py IN.gguf OUT.gguf   (needs gguf-py on PYTHONPATH)"""
import sys
import numpy as np
import gguf
from gguf.quants import dequantize

r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], arch="reference")
for t in r.tensors:
    try:
        x = dequantize(t.data, t.tensor_type)
    except NotImplementedError:
        continue
    ne = [int(v) for v in t.shape]  # ggml order
    w.add_tensor(t.name, np.ascontiguousarray(x, dtype=np.float32).reshape(ne[::-1]))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
