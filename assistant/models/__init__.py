"""Offline provisioning of the machine-learning models the assistant uses."""
