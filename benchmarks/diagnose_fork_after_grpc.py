"""Why a local Ray start used to time out after ingest: forks that abort in gRPC's handler.

Ray starts its servers (GCS, raylet, dashboard...) with ``subprocess.Popen(preexec_fn=...)``:
a plain ``fork`` that runs the parent's ``pthread_atfork`` handlers in the child. This
script forks `/bin/true` the same way, many times, after a chosen amount of prior work in
this process, and counts children that die with SIGABRT or hang.

    python benchmarks/diagnose_fork_after_grpc.py --work store --forks 1500
    GRPC_ENABLE_FORK_SUPPORT=0 python benchmarks/diagnose_fork_after_grpc.py --work store

--work: none | torch (MiniLM encodes 2,000 texts) | store (a milvus-lite store ingests the
default corpus, retrieves and counts abundance, then is closed). Takes minutes; not part of
`make bench`. Figures measured with it are in docs/cluster.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path


def prior_work(kind: str, tmp: Path) -> None:
    from valuespectrum.embedders import make_embedder

    if kind == "none":
        return
    emb = make_embedder("minilm")
    if kind == "torch":
        emb.embed_texts(["a post about dogs"] * 2000)
        return
    from valuespectrum.feed.corpus import default_corpus_dir
    from valuespectrum.store.ingest import ingest_corpus
    from valuespectrum.store.retrieval import abundance, retrieve
    from valuespectrum.store.vector_store import ScreenshotStore

    with ScreenshotStore(tmp / "store.db", "minilm", emb.dim) as store:
        ingest_corpus(store, emb, default_corpus_dir(), progress=False)
        retrieve(store, emb, k=5)
        abundance(store, emb, radius=1.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", choices=["none", "torch", "store"], default="store")
    ap.add_argument("--forks", type=int, default=1500)
    args = ap.parse_args()
    import ray._private.utils as ray_utils

    from valuespectrum.cluster import grpc_threads

    def preexec_fn() -> None:  # what Ray's services.start_ray_process runs in the child
        import signal

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        ray_utils.set_kill_on_parent_death_linux()

    with tempfile.TemporaryDirectory() as tmp:
        prior_work(args.work, Path(tmp))
        counts = {"ok": 0, "sigabrt": 0, "other": 0, "hung": 0}
        t0 = time.time()
        for _ in range(args.forks):
            child = subprocess.Popen(["/bin/true"], preexec_fn=preexec_fn)
            try:
                rc = child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                counts["hung"] += 1
                child.kill()
                child.wait()
                continue
            counts["ok" if rc == 0 else "sigabrt" if rc == -6 else "other"] += 1
    print(json.dumps({"work": args.work, "forks": args.forks,
                      "grpc_threads": sorted(set(grpc_threads())), **counts,
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
