#!/usr/bin/python3
"""Reads the JSON lines of bench/run.sh and prints tables (LM, vision): best of the rounds per side."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peak = max((r["gflops"] for r in rows if r["what"] == "sgemm"), default=0)
core = next((r.get("openblas_core", "?") for r in rows if r["what"] == "sgemm"), "?")
print("\nsgemm peak (2 threads, 1024^3, best of 3, OpenBLAS kernels %s): %.1f GFLOP/s" % (core, peak))
print("%-6s %-6s %14s %14s %10s %10s" % ("preset", "mode", "moelens tok/s", "pytorch tok/s", "ratio", "% peak"))
for preset in ("tiny", "small"):
    ml = [r for r in rows if r["what"] == "moelens" and r["preset"] == preset and "model" not in r]
    pt = [r for r in rows if r["what"] == "pytorch" and r["preset"] == preset and "model" not in r]
    if not ml or not pt:
        continue
    for mode in ("train", "fwd"):
        a = max(r[mode + "_tok_s"] for r in ml)
        b = max(r[mode + "_tok_s"] for r in pt)
        g = max(r[mode + "_gflops"] for r in ml)
        print("%-6s %-6s %14.0f %14.0f %9.2fx %9.1f%%" % (preset, mode, a, b, a / b, 100 * g / peak if peak else 0))

vis = [r for r in rows if r.get("model") == "vision"]
if vis:
    print("\nvision conv-MoE (train: source images/s, 2 views each; fwd: images/s)")
    print("%-6s %-6s %14s %14s %10s" % ("preset", "mode", "moelens img/s", "pytorch img/s", "ratio"))
for preset in ("tiny", "small"):
    ml = [r for r in vis if r["what"] == "moelens" and r["preset"] == preset]
    pt = [r for r in vis if r["what"] == "pytorch" and r["preset"] == preset]
    if not ml or not pt:
        continue
    for mode in ("train", "fwd"):
        a = max(r[mode + "_img_s"] for r in ml)
        b = max(r[mode + "_img_s"] for r in pt)
        print("%-6s %-6s %14.1f %14.1f %9.2fx" % (preset, mode, a, b, a / b))

gg = [r for r in rows if r.get("what") == "gguf"]
if gg:
    print("\nGGUF batch forward, synthetic OLMoE d 1024, 32 experts x 512, top-4 (best of the rounds;")
    print("moelens: whole command; llama.cpp: decode only; RSS: the larger of the rounds)")
    print("%-7s %14s %16s %7s %12s %14s %9s %10s" % ("type", "moelens tok/s", "llama.cpp tok/s", "ratio",
          "moelens RSS", "llama.cpp RSS", "file MiB", "RSS/file"))
    for q in ("F32", "Q8_0", "Q4_K_M"):
        ml = [r for r in gg if r["quant"] == q and r["side"] == "moelens"]
        lc = [r for r in gg if r["quant"] == q and r["side"] == "llama.cpp"]
        if not ml or not lc:
            continue
        a, b = max(r["tok_s"] for r in ml), max(r["tok_s"] for r in lc)
        ra, rb, f = max(r["rss_mib"] for r in ml), max(r["rss_mib"] for r in lc), ml[0]["file_mib"]
        print("%-7s %14.0f %16.0f %6.2fx %10.0f M %12.0f M %9.0f %9.2fx" % (q, a, b, a / b, ra, rb, f, ra / f))
