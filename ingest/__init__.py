"""Ingestion pipeline: files on disk to chunks in the store."""
