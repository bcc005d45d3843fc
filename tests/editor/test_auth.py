from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.editor.auth import Principal, TokenRegistry, digest


def test_tokens_are_held_as_digests_and_roles_rank():
    reg = TokenRegistry.from_settings(Settings(editor_tokens={"secret-token-a": "editor", "secret-token-b": "admin"}))
    assert "secret-token-a" not in repr(reg._by_digest)
    assert digest("secret-token-a") in reg._by_digest
    editor = reg.lookup("secret-token-a")
    assert editor == Principal("editor-" + digest("secret-token-a")[:6], "editor")
    assert editor.can("editor") and not editor.can("publisher")
    assert reg.lookup("secret-token-b").can("publisher")
    assert reg.lookup("nope-nope-nope") is None


def test_tokens_file_json_or_lines(tmp_path):
    lines = tmp_path / "tokens.txt"
    lines.write_text("# token role name\nabcdefgh123 publisher Nguyễn Văn A\n", encoding="utf-8")
    reg = TokenRegistry.from_settings(Settings(editor_tokens_file=lines))
    assert reg.lookup("abcdefgh123") == Principal("Nguyễn Văn A", "publisher")
    js = tmp_path / "tokens.json"
    js.write_text('{"zyxwvuts999": "admin"}', encoding="utf-8")
    assert TokenRegistry.from_settings(Settings(editor_tokens_file=js)).lookup("zyxwvuts999").role == "admin"


def test_bad_roles_and_short_tokens_are_refused():
    reg = TokenRegistry()
    with pytest.raises(ValueError, match="vai trò"):
        reg.add_token("long-enough-token", "superuser")
    with pytest.raises(ValueError, match="8 ký tự"):
        reg.add_token("short", "editor")
