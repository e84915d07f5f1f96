"""Graph -> Graph passes, one per file, run in order by ``pipeline.optimize``."""
