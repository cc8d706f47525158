"""The local short-video platform: corpus, recommenders, in-process platform and web server.

Import from the modules: `feed.corpus` (Corpus, default_corpus_dir), `feed.sources`
(build_openclipart, import_corpus, ensure_default_corpus), `feed.recommenders`, `feed.platform` (FeedPlatform), `feed.server`
(FeedServer). Kept empty so `import valuespectrum.feed.cli` stays cheap.
"""
