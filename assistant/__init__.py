"""Hỏi đáp Công an: Vietnamese-first assistant for police administrative procedures."""

__version__ = "0.1.0"
