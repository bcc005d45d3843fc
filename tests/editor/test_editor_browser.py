"""The editor page in headless Chromium against the real server: log in, edit an answer, publish, and
see the citizens' chat answer change (``/api/v1/chat``), in the publishing process and in a second
app process on the same data (another worker). Leaves /tmp/editor.png for a human look.

Same set-up as tests/api/test_widget_browser.py (Debian chromium + chromedriver, nothing downloaded).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from evaluation.load_test import wait_ready
from tests.api.test_widget_browser import _free_port, browser, wait  # noqa: F401 - the browser fixture

from .conftest import PUBLISHER_TOKEN, make_workspace

pytestmark = pytest.mark.integration
ENTRY = "cu_tru_dang_ky_tam_tru"
QUESTION = "Đăng ký tạm trú cần giấy tờ gì?"
MARK = "SỬA TRÊN TRÌNH DUYỆT:"
PUBLISH_TIMEOUT = 420


def _chat(base: str, message: str) -> dict:
    req = urllib.request.Request(base + "/api/v1/chat", data=json.dumps({"message": message}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def _serve(env: dict, log_path: Path):
    """``assistant serve`` on a free port until the block ends (SIGTERM, then waited for); its base URL."""
    port = _free_port()
    cmd = [str(Path(sys.executable).parent / "assistant"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT) as proc:
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_ready(base, timeout=300)
            except TimeoutError:
                pytest.fail(f"server not ready:\n{log_path.read_text(errors='replace')[-3000:]}")
            yield base
        finally:
            proc.terminate()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Two app processes on one workspace (as two workers): the editor uses the first."""
    tmp = tmp_path_factory.mktemp("editor-server")
    s = make_workspace(tmp)
    env = {**os.environ, "ASSISTANT_KB_DIR": str(s.kb_dir), "ASSISTANT_DATA_DIR": str(s.data_dir),
           "ASSISTANT_MODEL_DIR": str(s.models_path), "ASSISTANT_DATABASE_URL": s.db_url,
           "ASSISTANT_EDITOR_TOKENS": json.dumps(s.editor_tokens), "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    with _serve(env, tmp / "server.log") as base, _serve(env, tmp / "other.log") as other:
        yield base, other


def test_log_in_edit_publish_and_the_chat_answer_changes(server, browser):  # noqa: F811
    base, other = server
    before = _chat(base, QUESTION)["reply"]
    assert MARK not in before
    d = browser
    d.set_window_size(1280, 1000)
    d.get(base + "/editor")
    d.find_element(By.ID, "token").send_keys("khong-dung-dau")
    d.find_element(By.ID, "login-btn").click()
    wait(d, lambda d: "không đúng" in d.find_element(By.ID, "login-error").text, message="wrong token refused")
    token = d.find_element(By.ID, "token")
    token.clear()
    token.send_keys(PUBLISHER_TOKEN)
    d.find_element(By.ID, "login-btn").click()
    wait(d, lambda d: d.find_element(By.ID, "app").is_displayed(), message="logged in")
    assert "người duyệt xuất bản" in d.find_element(By.ID, "who-name").text

    d.find_element(By.ID, "entry-search").send_keys("dang ky tam tru")
    row = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr.entry-row[data-id="{ENTRY}"]'), message="row")[0]
    row.click()
    answer = wait(d, lambda d: d.find_element(By.ID, "f-answer") if d.find_element(By.ID, "panel-edit").is_displayed()
                  else None, message="editor open")
    wait(d, lambda d: "Hợp lệ" in d.find_element(By.ID, "validation").text, message="valid as published")
    answer.send_keys(Keys.CONTROL, Keys.HOME)
    answer.send_keys(MARK + " ")
    wait(d, lambda d: MARK in d.find_element(By.ID, "preview-answer").text, message="live preview")
    legal = d.find_element(By.ID, "f-legal_basis")
    saved_legal = legal.get_attribute("value")
    legal.clear()
    legal.send_keys("x")  # live validation: a broken legal basis is reported in Vietnamese
    wait(d, lambda d: "căn cứ pháp lý" in d.find_element(By.ID, "validation").text.lower(), message="live validation")
    d.execute_script("const t = document.getElementById('f-legal_basis'); t.value = arguments[0];"
                     "t.dispatchEvent(new Event('input', {bubbles: true}));", saved_legal)
    wait(d, lambda d: "Hợp lệ" in d.find_element(By.ID, "validation").text, message="valid again")
    d.find_element(By.ID, "save-btn").click()
    wait(d, lambda d: "Đã lưu bản nháp" in d.find_element(By.ID, "notice").text, message="saved")
    assert _chat(base, QUESTION)["reply"] == before  # a draft is not shown to citizens

    d.find_element(By.ID, "tab-publish").click()
    wait(d, lambda d: MARK in d.find_element(By.ID, "changes").text, message="diff shown")
    d.find_element(By.ID, "publish-message").send_keys("thử nghiệm trên trình duyệt")
    d.find_element(By.ID, "publish-btn").click()
    wait(d, lambda d: d.find_element(By.ID, "publish-status").get_attribute("data-state") in ("live", "failed"),
         timeout=PUBLISH_TIMEOUT, message="publish finished")
    status = d.find_element(By.ID, "publish-status").text
    assert "Đã áp dụng" in status, status
    d.save_screenshot("/tmp/editor.png")
    assert MARK in _chat(base, QUESTION)["reply"]
    deadline = time.monotonic() + 30  # the other process follows data/index/CURRENT by itself
    while MARK not in _chat(other, QUESTION)["reply"]:
        assert time.monotonic() < deadline, "the second process did not switch to the new version"
        time.sleep(0.5)

    d.find_element(By.ID, "tab-versions").click()
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#version-list tr")) >= 2, message="versions listed")
    d.find_element(By.ID, "tab-audit").click()
    wait(d, lambda d: "publish" in d.find_element(By.ID, "audit-list").text, message="audit listed")
