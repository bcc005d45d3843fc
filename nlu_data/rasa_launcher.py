"""Start Rasa 3.6 (``.venv-rasa/bin/python nlu_data/rasa_launcher.py run …``) with the action-response
check compiled once.

Rasa 3.6 checks every custom action's response with ``jsonschema.validate(result, spec)``, which
validates the *schema itself* against the JSON Schema meta-schema on every call before checking the
response. Profiled with py-spy on our turns, that meta-check took about two thirds of the Rasa
server's CPU (roughly 40 ms of a ~90 ms turn on 2 cores). Here the validator is built and the schema
checked once per process; each response is still checked against the same schema, and an invalid one
raises the same ``ValidationError`` with Rasa's message, so behaviour is unchanged. Everything else is
Rasa's own command line (``rasa.__main__.main``).
"""

from __future__ import annotations

import functools
import sys
from typing import Any


@functools.cache
def _validator(action_class: type) -> Any:
    """The checked validator of ``action_class.action_response_format_spec()`` (a static method: one per class)."""
    from jsonschema.validators import validator_for

    spec = action_class.action_response_format_spec()
    cls = validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    validator = _validator(type(self))
    error = best_match(validator.iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Replace ``RemoteAction._validate_action_result`` with the cached-validator version."""
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result


if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
