"""Knowledge engine: hybrid retrieval over the curated corpus. Entry point: :class:`assistant.qa.engine.QAEngine`."""
