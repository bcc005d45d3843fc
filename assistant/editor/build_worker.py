"""Build a staged corpus's index in a child process, so the serving process keeps its CPU and GIL.

``python -m assistant.editor.build_worker KB OUT CACHE MODEL PREFIX THREADS`` loads the corpus in
``KB``, builds its index under ``OUT`` (``assistant.qa.index_build.build_index``) with the embedding
cache in ``CACHE``, and prints ``{"built": folder, "peak_rss_mb": …}`` as its last line. The child runs at ``nice`` 10; the
embedding model is loaded only if the corpus has texts the cache lacks (new or edited questions).
A child that dies (out of memory, killed) fails the publish and the previous version keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("assistant.editor.build")


class BuildFailed(RuntimeError):
    pass


def build_in_child(kb: Path, out_root: Path, cache_dir: Path, embedder) -> tuple[Path, float]:
    """Run the build in a child process; the built index folder and the child's peak RSS (MB)."""
    cmd = [sys.executable, "-m", "assistant.editor.build_worker", str(kb), str(out_root), str(cache_dir),
           str(embedder.model_path), embedder.prefix, str(embedder.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=lambda: os.nice(10), check=False)
    for line in proc.stderr.splitlines()[-20:]:
        log.info("build: %s", line)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BuildFailed(f"index build failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    result = json.loads(lines[-1])
    return Path(result["built"]), float(result["peak_rss_mb"])


def main(argv: list[str]) -> None:
    from assistant.kb.loader import load_corpus
    from assistant.qa.embedder import Embedder
    from assistant.qa.index_build import build_index

    kb, out_root, cache_dir, model, prefix, threads = argv
    embedder = Embedder(Path(model), prefix=prefix, threads=int(threads))
    built = build_index(load_corpus(Path(kb)), embedder, Path(out_root), Path(cache_dir),
                        log=lambda m: print(m, file=sys.stderr))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"built": str(built), "peak_rss_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
