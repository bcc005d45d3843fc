"""API routers: chat (chat, feedback, sessions) and health (healthz, readyz, metrics)."""
