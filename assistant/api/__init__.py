"""HTTP API and web chat widget (FastAPI). Entry point: :func:`assistant.api.main.create_app`."""
