"""Data: from a raw source to the tensors a method trains on.

``sources/`` reads each raw dataset (MovieLens, Book-Crossing, RecBole atomic files, Taobao, the
built-in synthetic data) into one common form; ``protocol`` applies a cold-start protocol (the
cut, the user split, support and query, major and minor users); ``prepare`` runs both and writes
a prepared folder whose ``manifest.json`` (``manifests``) records the recipe and checksums;
``prepared`` loads it back; ``features`` encodes it as integer tensors for a ``tasks`` task
(rating or click-through). Nothing here imports the engine, the methods or the report.
"""
