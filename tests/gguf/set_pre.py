#!/usr/bin/python3
"""Copies a vocab-only GGUF file (llama.cpp's models/ggml-vocab-*.gguf: metadata, no tensors) with
tokenizer.ggml.pre set to VALUE, or removed when VALUE is "-".
Usage: set_pre.py IN.gguf OUT.gguf VALUE     (needs gguf-py on PYTHONPATH, /usr/bin/python3)"""
import sys
import gguf

src, dst, value = sys.argv[1], sys.argv[2], sys.argv[3]
r = gguf.GGUFReader(src)
assert len(r.tensors) == 0, f"{src}: has tensors; only vocab-only files are copied"
w = gguf.GGUFWriter(dst, arch=None)
for f in r.fields.values():
    if f.name.startswith("GGUF.") or f.name == "tokenizer.ggml.pre":
        continue  # GGUF.* are the reader's header pseudo-fields
    sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(f.name, f.contents(), f.types[0], sub)
if value != "-":
    w.add_key_value("tokenizer.ggml.pre", value, gguf.GGUFValueType.STRING)
w.write_header_to_file()
w.write_kv_data_to_file()
w.close()
