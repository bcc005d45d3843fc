"""Prometheus metrics of the app (one registry per app, so tests can build several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("assistant_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("assistant_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.turns = Counter("assistant_chat_turns_total", "Chat turns by outcome", ["reason", "topic"],
                             registry=self.registry)
        self.declined = Counter("assistant_declined_answers_total", "Turns answered with a decline",
                                ["reason"], registry=self.registry)
        self.answer_latency = Histogram("assistant_answer_seconds", "Time to compute an answer",
                                        buckets=LATENCY_BUCKETS, registry=self.registry)
        self.feedback = Counter("assistant_feedback_total", "Citizen feedback", ["rating"], registry=self.registry)
        self.rate_limited = Counter("assistant_rate_limited_total", "Requests refused by the rate limit",
                                    registry=self.registry)
