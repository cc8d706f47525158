"""The collaborative feed (cowatch): its build cost, and what its learned similarity follows.

Prints (1) the population's build time, its peak Python-allocated memory (tracemalloc)
and the size of the co-watch matrix; (2) the time of one exploit pick; (3) for each feed's
similarity (cowatch's co-watch neighbours; the content styles' tag/category TF-IDF
neighbours, the same number per post) how much a post's neighbours share its category, its
creator and its popularity, and how well they predict each persona's yes of the
`embed:minilm` viewer on the post: the AUC of the similarity-weighted yes-share of a post's
neighbours (its own answer left out). That share is what a learning feed exploits after a
viewer stayed on the post; 0.5 means the feed's similarity tells nothing about the viewer.

    .venv/bin/python benchmarks/bench_cowatch.py [--corpus DIR] [--personas pet_owner,...]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]


def top_neighbours(features, keep: int, block: int = 256):
    """Each post's `keep` most similar others by cosine of `features` (CSR, rows unit)."""
    from scipy import sparse

    n = features.shape[0]
    rows, cols, vals = [], [], []
    ft = features.T.tocsc()
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        sims = (features[lo:hi] @ ft).toarray()
        sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        v = np.take_along_axis(sims, top, axis=1)
        ok = v > 0
        rows.append(np.repeat(np.arange(lo, hi), keep)[ok.ravel()])
        cols.append(top[ok])
        vals.append(v[ok])
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n, n))


def auc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    pos, neg = score[label], score[~label]
    if not pos.size or not neg.size:
        return float("nan")
    return float(mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def describe(name: str, m, corpus, answers: dict[str, np.ndarray]) -> None:
    n = m.shape[0]
    rows = np.repeat(np.arange(n), np.diff(m.indptr))
    cat = np.array([it.category for it in corpus.items])
    creator = np.array([it.creator for it in corpus.items])
    pop = np.array([it.popularity for it in corpus.items])
    chance_cat = sum((c / n) ** 2 for c in corpus.categories().values())
    _, counts = np.unique(creator, return_counts=True)
    chance_creator = float(((counts / n) ** 2).sum())
    animals = cat[rows] == "animals"
    print(f"\n{name}: {m.nnz:,} neighbour pairs ({m.nnz / n:.0f} per post)")
    print(f"  same category   {np.mean(cat[rows] == cat[m.indices]):.3f}  (chance {chance_cat:.3f})")
    print(f"  animal post's neighbours that are animals {np.mean(cat[m.indices][animals] == 'animals'):.3f}"
          f"  (base {np.mean(cat == 'animals'):.3f})")
    print(f"  same creator    {np.mean(creator[rows] == creator[m.indices]):.3f}  "
          f"(chance {chance_creator:.3f})")
    print(f"  neighbours' popularity {pop[m.indices].mean():.3f} (corpus {pop.mean():.3f})")
    weights = np.asarray(m.sum(axis=1)).ravel()
    for persona, yes in answers.items():
        share = np.asarray(m @ yes.astype(np.float64)).ravel() / np.maximum(weights, 1e-12)
        has = weights > 0
        print(f"  {persona:24s} yes {yes.mean():.3f}  AUC of neighbours' yes-share "
              f"{auc(share[has], yes[has]):.3f}")


def main() -> None:
    from _corpus import corpus_dir

    from valuespectrum.feed.corpus import Corpus
    from valuespectrum.feed.platform import FeedPlatform
    from valuespectrum.feed.recommenders import load_recommender_params
    from valuespectrum.models.baselines import EmbeddingViewer
    from valuespectrum.personas import PersonaLibrary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--personas", default="",
                    help="comma-separated persona names (default: every packaged persona)")
    args = ap.parse_args()
    corpus = Corpus.load(corpus_dir(args.corpus))
    params = load_recommender_params()
    print(f"corpus: {len(corpus)} posts; cowatch population: {params.cowatch.population()}")

    tracemalloc.start()
    start = time.perf_counter()
    platform = FeedPlatform(corpus, params, preload=["cowatch"])
    build_s = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    model = platform.recommender("cowatch").model
    m = model.neighbours
    matrix_mb = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 2**20
    print(f"build: {build_s:.2f} s (population + matrix {model.build_s:.2f} s), "
          f"peak allocated {peak / 2**20:.0f} MiB, matrix {matrix_mb:.1f} MiB; "
          f"{model.watched_posts:,} of {len(corpus):,} posts watched by the population")

    platform.open_session("bench", "cowatch", 0)
    for i in range(30):  # past the cold start, half stays, half skips
        item = platform.next_item("bench")
        platform.record_watch("bench", item.item_id, item.duration_s * (i % 2))
    rec, (state, _) = platform.recommender("cowatch"), platform._sessions["bench"]
    rng = np.random.default_rng(0)
    cand = state.unseen()
    start = time.perf_counter()
    for _ in range(200):
        rec._similarities(state)[cand]
    per_score = (time.perf_counter() - start) / 200 * 1e3
    start = time.perf_counter()
    for _ in range(200):
        platform.next_item("bench")
        state.seen[:] = False  # keep the candidate set the same size
    per_pick = (time.perf_counter() - start) / 200 * 1e3
    del rng
    print(f"scoring every post after 30 watch events: {per_score:.2f} ms; "
          f"one pick (explore or exploit): {per_pick:.2f} ms")

    viewer = EmbeddingViewer()
    texts = [it.text for it in corpus.items]
    vectors = viewer.embedder.embed_texts(texts)
    library = PersonaLibrary(ROOT / "personas")
    names = [p for p in args.personas.split(",") if p] or library.names()
    answers = {}
    for name in names:
        vec, ref = viewer._profile(library.get(name).profile_text())
        affinity = np.searchsorted(ref, vectors @ vec, side="right") / len(ref)
        answers[name] = affinity >= viewer.threshold
    describe("cowatch (co-watch neighbours)", m, corpus, answers)
    keep = params.cowatch.neighbours
    describe(f"tiktok/youtube/instagram (tag/category TF-IDF, top {keep})",
             top_neighbours(corpus.tag_features(), keep), corpus, answers)


if __name__ == "__main__":
    main()
