"""The two real embedders: open_clip with random weights, MiniLM with shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def test_open_clip_random_weights_give_normalised_vectors_of_the_model_width():
    pytest.importorskip("open_clip")
    from valuespectrum.embedders import make_embedder

    emb = make_embedder("clip:ViT-S-32-alt")
    width = int(emb._model.text_projection.shape[1])
    assert emb.dim == width == 256
    texts = emb.embed_texts(["a cute puppy", "stock market", "beach holiday"])
    imgs = emb.embed_images([Image.new("RGB", (64, 48), c) for c in ("red", "navy")])
    for x, n in ((texts, 3), (imgs, 2)):
        assert x.shape == (n, width) and x.dtype == np.float32
        assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(imgs[0], imgs[1])


def test_minilm_ranks_a_puppy_nearer_to_dog_care_than_to_stock_market():
    from valuespectrum.embedders import make_embedder

    emb = make_embedder("minilm")
    q, dog, stock = emb.embed_texts(["a cute puppy", "dog care", "stock market"])
    assert emb.dim == 384 and np.isclose(np.linalg.norm(q), 1.0, atol=1e-5)
    assert np.linalg.norm(q - dog) < np.linalg.norm(q - stock)
