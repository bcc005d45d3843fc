"""Twilio: signed webhooks (incoming call, status callbacks) and the Media Streams WebSocket.

``router`` is included by ``assistant.api.main.create_app``.
"""

from voice.twilio.routes import router

__all__ = ["router"]
