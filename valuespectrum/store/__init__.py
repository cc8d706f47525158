"""The screenshot vector store: embedders, a Milvus-lite store, ingest and value retrieval.

Public API::

    from valuespectrum.store import (ScreenshotStore, abundance, ingest_corpus,
                                     make_embedder, retrieve)
    emb = make_embedder("minilm")                      # or "clip:ViT-B-32/laion2b_s34b_b79k"
    with ScreenshotStore("store.db", "minilm", emb.dim) as store:
        ingest_corpus(store, emb, ".vspec/corpus/openclipart")
        images = retrieve(store, emb, k=5)             # top-5 per keyword of every value
        fig2 = abundance(store, emb, radius=1.5)       # Figure 2 counts

pymilvus / milvus-lite, torch and open_clip are imported only when a store or an embedder
is created, so importing this package stays cheap.
"""

from valuespectrum.embedders import (
    Embedder,
    EmbedderUnavailable,
    MiniLMEmbedder,
    NotSupported,
    OpenClipEmbedder,
    make_embedder,
)
from valuespectrum.errors import StoreError, StoreLockedError
from valuespectrum.store.actor import StoreActor, StoreOwner
from valuespectrum.store.base import Store
from valuespectrum.store.ingest import (
    IngestReport,
    ingest_corpus,
    ingest_folder,
    ingest_records,
    ingest_run,
)
from valuespectrum.store.records import (
    Hit,
    ScreenshotRecord,
    StoreStats,
    screenshot_id,
)
from valuespectrum.store.retrieval import Abundance, Filters, Retrieved, abundance, retrieve
from valuespectrum.store.vector_store import ScreenshotStore

__all__ = [
    "Abundance", "Embedder", "EmbedderUnavailable", "Filters", "Hit", "IngestReport",
    "MiniLMEmbedder", "NotSupported", "OpenClipEmbedder", "Retrieved", "ScreenshotRecord",
    "ScreenshotStore", "Store", "StoreActor", "StoreError", "StoreLockedError", "StoreOwner",
    "StoreStats", "abundance", "ingest_corpus", "ingest_folder", "ingest_records",
    "ingest_run", "make_embedder", "retrieve", "screenshot_id",
]
