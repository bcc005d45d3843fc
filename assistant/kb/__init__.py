"""Knowledge base: schema, loading and validation of ``knowledge_base/``."""
