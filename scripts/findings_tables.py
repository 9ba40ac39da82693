#!/usr/bin/python3
"""Markdown tables for docs/findings.md from a study's outputs (nothing is computed here that the
files do not hold; numbers are rounded for the page).

usage: findings_tables.py claims SWEEP            claims of compare.json (the Findings view)
       findings_tables.py pairs SWEEP             every pair of arms: difference, TOST at the margin
       findings_tables.py nmi RUN...              NMI per layer with document-bootstrap intervals
       findings_tables.py lens RUN                MoE Lens table of one analysed run or GGUF .run
       findings_tables.py seeds RUN...            MoE Lens headline numbers, one row per run
"""
import json
import sys


def load(path):
    return json.load(open(path))


def iv(o, fmt="{:.3f}"):
    return (fmt + " [" + fmt + ", " + fmt + "]").format(o["value"], o["lo"], o["hi"])


def claims(sweep):
    c = load(f"{sweep}/compare.json")
    print(f"p over: {c['findings'][0]['p_over'] if c.get('findings') else ''}\n")
    print("| claim (seed) | paper | a vs b: mean val PPL | a − b [95 % CI over seeds] | test, p | verdict |")
    print("|---|---|---|---|---|---|")
    for f in c.get("findings", []):
        ci = f.get("ci95", [float("nan")] * 2)
        p = f.get("p")
        ps = "n/a" if p is None else f"{p:.3g}"
        test = "TOST ±2 %" if f["test"] == "equivalent" else "one-sided t"
        print(f"| {f['claim']} ({f['seed']}) | {f['paper']} | {f['a']} {f['mean_a']:.2f} vs "
              f"{f['b']} {f['mean_b']:.2f} | {f['diff']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] "
              f"({100 * f['diff'] / f['mean_b']:+.1f} %) | {test}, p = {ps} | {f['verdict']} |")


def pairs(sweep):
    c = load(f"{sweep}/compare.json")
    print("| arm | runs | mean val PPL | sd |")
    print("|---|---|---|---|")
    for a in c["arms"]:
        print(f"| {a['arm']} | {a['n']} | {a['mean']:.2f} | {a['sd']:.2f} |")
    print()
    print("| pair | a − b [95 % CI] | δ (2 %) | p TOST | shown |")
    print("|---|---|---|---|---|")
    for q in c["pairs"]:
        ci = q.get("ci95", [float("nan")] * 2)
        p = q["p_tost"]
        shown = "equivalent" if q["equivalent"] else "not equivalent" if q["not_equivalent"] else "neither"
        print(f"| {q['a']} vs {q['b']} | {q['diff']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] | "
              f"{q['margin']:.2f} | {'n/a' if p is None else f'{p:.3g}'} | {shown} |")


def nmi(runs):
    print("| run | layer | NMI(expert; domain) [95 % CI] | shuffled | NMI(expert; token class) [95 % CI] | shuffled |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        b, s = load(f"{r}/analysis/bootstrap.json"), load(f"{r}/analysis/specialise.json")
        name = r.rstrip("/").split("/")[-1]
        for x, y in zip(b["layers"], s["layers"]):
            print(f"| {name} | {x['layer']} | {iv(x['nmi_domain'])} | {y['nmi_domain_shuffled']:.3f} | "
                  f"{iv(x['nmi_class'])} | {y['nmi_class_shuffled']:.3f} |")


def lens(run):
    a = f"{run}/analysis"
    t, b, meta = load(f"{a}/topk.json"), load(f"{a}/bootstrap.json"), load(f"{a}/analyze.json")
    conv = meta["routing_convention"]
    k, E = conv["top_k"], conv["routed_experts"] + conv.get("zero_experts", 0)
    print(f"Top-1 vs top-{k} ensemble, cosine per layer (mean over {meta['tokens']} tokens):\n")
    print("| layer | (i) output only | (ii) residual included | (iii) layer output |")
    print("|---|---|---|---|")
    for c in t["cosine"]:
        print(f"| {c['layer']} | {c['output_only']['mean']:.3f} | {c['residual']['mean']:.3f} | "
              f"{c['layer_output']['mean']:.3f} |")
    pp = t["perplexity"]
    if pp["full"] is None:
        print("\n(no k' perplexity: --kprime-tokens 0)")
    else:
        kprime(pp, b, k)
    n50_table(b, k, E)


def kprime(pp, b, k):
    print(f"\nPerplexity with k' experts ({pp['tokens']:.0f} scored tokens; full model {pp['full']:.2f}); "
          f"increase over the full model in % with 95 % intervals over {b['unit']}s:\n")
    print("| k' | PPL raw | + % raw [95 % CI] | PPL renorm | + % renorm [95 % CI] |")
    print("|---|---|---|---|---|")
    inc = b["ppl_increase_pct"]
    for i in range(k):
        print(f"| {i + 1} | {pp['raw'][i]:.2f} | {iv(inc['raw'][i]['all'], '{:+.1f}')} | "
              f"{pp['renorm'][i]:.2f} | {iv(inc['renorm'][i]['all'], '{:+.1f}')} |")


def n50_table(b, k, E):
    doms = [d for d in b["layers"][0]["n50"] if d != "all"]
    print(f"\nn50 (of {E} experts; uniform = {E // 2}) and experts with ≥ 100·k/E = "
          f"{100 * k / E:.1f} % of tokens, per layer and domain, 95 % intervals over {b['unit']}s "
          f"(units per domain: {', '.join(f'{d} {n}' for d, n in b['units'].items())}):\n")
    print("| layer | statistic | " + " | ".join(["all"] + doms) + " |")
    print("|---|---|" + "---|" * (len(doms) + 1))
    for x in b["layers"]:
        for key, label in (("n50", "n50"), ("above_threshold", "above line")):
            cells = [iv(x[key][d], "{:.0f}") for d in ["all"] + doms]
            print(f"| {x['layer']} | {label} | " + " | ".join(cells) + " |")


def seeds(runs):
    print("| run | cos (i) output only, per layer | cos (ii) residual incl. | k'=1 raw: + % PPL [95 % CI] "
          "| k'=1 renorm: + % PPL [95 % CI] | n50 (all) per layer | above line (all) per layer |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        a = f"{r}/analysis"
        t, b = load(f"{a}/topk.json"), load(f"{a}/bootstrap.json")
        inc = b["ppl_increase_pct"]
        name = r.rstrip("/").split("/")[-1]
        cos = lambda v: " ".join(f"{c[v]['mean']:.3f}" for c in t["cosine"])
        per = lambda k: " ".join(f"{x[k]['all']['value']:.0f}" for x in b["layers"])
        print(f"| {name} | {cos('output_only')} | {cos('residual')} | "
              f"{iv(inc['raw'][0]['all'], '{:+.1f}')} | {iv(inc['renorm'][0]['all'], '{:+.1f}')} | "
              f"{per('n50')} | {per('above_threshold')} |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    {"claims": lambda a: claims(a[0]), "pairs": lambda a: pairs(a[0]), "nmi": nmi,
     "lens": lambda a: lens(a[0]), "seeds": seeds}[sys.argv[1]](sys.argv[2:])
