"""Build a staged corpus's index in a child process, so the serving process keeps its CPU and GIL.

``python -m assistant.editor.build_worker KB OUT CACHE MODEL PREFIX THREADS`` loads the corpus in
``KB``, builds its index under ``OUT`` (``assistant.qa.index_build.build_index``) with the embedding
cache in ``CACHE``, and prints ``{"built": folder, "peak_rss_mb": …}`` as its last line. The child lowers its
own priority to ``nice`` 10 first thing (a ``preexec_fn`` is unsafe in the multi-threaded server); the
embedding model is loaded only if the corpus has texts the cache lacks (new or edited questions).
A child that dies (out of memory, killed) or outlives the build timeout (killed then) fails the
publish, and the previous version keeps serving.
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


#: Generous: a full build takes 15-20 s on an idle machine and 70 s on a loaded one (docs/editor.md).
DEFAULT_TIMEOUT_S = 900.0
NICENESS = 10


class BuildFailed(RuntimeError):
    pass


def build_timeout_s(settings) -> float:
    """How long a publish's index build may run (``ASSISTANT_EDITOR_BUILD_TIMEOUT_S``, default 15 min)."""
    return float(getattr(settings, "editor_build_timeout_s", None) or DEFAULT_TIMEOUT_S)


def build_in_child(kb: Path, out_root: Path, cache_dir: Path, embedder, *,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Path, float]:
    """Run the build in a child process; the built index folder and the child's peak RSS (MB).

    A child still running after ``timeout_s`` is killed and the build fails (:class:`BuildFailed`).
    """
    cmd = [sys.executable, "-m", "assistant.editor.build_worker", str(kb), str(out_root), str(cache_dir),
           str(embedder.model_path), embedder.prefix, str(embedder.threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:  # subprocess.run killed the child and waited for it
        tail = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise BuildFailed(f"index build timed out after {timeout_s:g} s (killed): {tail.strip()[-300:]}") from None
    for line in proc.stderr.splitlines()[-20:]:
        log.info("build: %s", line)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BuildFailed(f"index build failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    result = json.loads(lines[-1])
    return Path(result["built"]), float(result["peak_rss_mb"])


def main(argv: list[str]) -> None:
    # First, in the child's only thread (threads torch starts later inherit it), not in a preexec_fn.
    os.nice(NICENESS)
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
