from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.editor.auth import FailureThrottle, Principal, TokenConfigError, TokenRegistry, digest


def test_tokens_are_held_as_digests_and_roles_rank():
    reg = TokenRegistry.from_settings(Settings(editor_tokens={"secret-token-aaaa": "editor",
                                                              "secret-token-bbbb": "admin"}))
    assert "secret-token-aaaa" not in repr(reg._by_digest)
    assert digest("secret-token-aaaa") in reg._by_digest
    editor = reg.lookup("secret-token-aaaa")
    assert editor == Principal("editor-" + digest("secret-token-aaaa")[:6], "editor")
    assert editor.can("editor") and not editor.can("publisher")
    assert reg.lookup("secret-token-bbbb").can("publisher")
    assert reg.lookup("nope-nope-nope-nope") is None


def test_tokens_file_json_or_lines(tmp_path):
    lines = tmp_path / "tokens.txt"
    lines.write_text("# token role name\nabcdefgh12345678 publisher Nguyễn Văn A\n", encoding="utf-8")
    reg = TokenRegistry.from_settings(Settings(editor_tokens_file=lines))
    assert reg.lookup("abcdefgh12345678") == Principal("Nguyễn Văn A", "publisher")
    js = tmp_path / "tokens.json"
    js.write_text('{"zyxwvuts98765432": "admin"}', encoding="utf-8")
    assert TokenRegistry.from_settings(Settings(editor_tokens_file=js)).lookup("zyxwvuts98765432").role == "admin"


def test_bad_roles_and_short_tokens_are_refused():
    reg = TokenRegistry()
    with pytest.raises(ValueError, match="vai trò"):
        reg.add_token("long-enough-token-1", "superuser")
    with pytest.raises(ValueError, match="16 ký tự"):
        reg.add_token("only-15-chars-x", "editor")
    assert reg.add_token("exactly-16-chars", "editor").role == "editor"


def test_a_short_configured_token_stops_the_app_at_creation_without_showing_it(tmp_path):
    from assistant.api.main import create_app

    with pytest.raises(TokenConfigError) as err:
        create_app(Settings(data_dir=tmp_path, editor_tokens={"ok-token-long-enough": "admin", "12345678": "editor"}),
                   load_in_background=False)
    assert "ASSISTANT_EDITOR_TOKENS, mã thứ 2" in str(err.value) and "16 ký tự" in str(err.value)
    assert "12345678" not in str(err.value)
    bad_file = tmp_path / "tokens.txt"
    bad_file.write_text("short publisher\n", encoding="utf-8")
    with pytest.raises(TokenConfigError, match="tokens.txt, mã thứ 1: mã truy cập phải dài ít nhất 16"):
        create_app(Settings(data_dir=tmp_path, editor_tokens_file=bad_file), load_in_background=False)


def test_token_values_stay_out_of_the_settings_repr():
    s = Settings(editor_tokens={"very-secret-editor-token": "editor"})
    assert "very-secret-editor-token" not in repr(s) and "very-secret-editor-token" not in str(s)
    assert s.editor_tokens == {"very-secret-editor-token": "editor"}


def test_failed_attempts_are_throttled_per_address():
    now = [1000.0]
    throttle = FailureThrottle(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None  # other addresses are not affected
    now[0] += 59.5
    assert throttle.retry_after("10.0.0.1") == 1
    now[0] += 1
    assert throttle.retry_after("10.0.0.1") is None  # the window slid past the failures
