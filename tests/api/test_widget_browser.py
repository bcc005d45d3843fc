"""The chat widget in a real headless Chromium against the real server (``assistant serve``).

Needs the Debian ``chromium`` and ``chromium-driver`` packages (/usr/bin/chromium, /usr/bin/chromedriver);
Selenium is pointed at both so that Selenium Manager never downloads anything. Besides the checks, the
run leaves two screenshots for a human look: /tmp/widget.png (360×740) and /tmp/widget-1280.png.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUESTION = "Đăng ký tạm trú cần giấy tờ gì?"
XSS = "<img src=x onerror=alert(1)>"
SESSION_KEY = "hoidap-congan.session_id"
ANSWER_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app on a free port with a throw-away SQLite database; its base URL."""
    tmp = tmp_path_factory.mktemp("widget-server")
    exe = Path(sys.executable).parent / "assistant"
    port = _free_port()
    env = {**os.environ, "ASSISTANT_DATABASE_URL": f"sqlite:///{tmp}/chat.db"}
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if _get(base + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in 120 s:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs /usr/bin/chromium and /usr/bin/chromedriver: run scripts/system-deps.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--lang=vi-VN", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


# ---- helpers ------------------------------------------------------------------------------------


def set_viewport(driver, width: int, height: int) -> None:
    """Resize so that the page itself (not the window frame) is width×height."""
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if (inner_w, inner_h) != (width, height):
        driver.set_window_size(2 * width - inner_w, 2 * height - inner_h)


def wait(driver, condition, timeout: float = 10, message: str = ""):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def open_fresh(driver, base: str) -> None:
    """The widget with no remembered session."""
    driver.get(base + "/")
    driver.execute_script("localStorage.clear()")
    driver.get(base + "/")
    wait_ready(driver)


def wait_ready(driver) -> None:
    wait(driver, lambda d: d.execute_script("return document.getElementById('hdca')?.dataset.ready === 'true'"),
         message="widget did not finish loading")


def messages(driver, role: str):
    return driver.find_elements(By.CSS_SELECTOR, f"[data-testid=log] [data-testid=message-{role}]")


def bubble_text(driver, element) -> str:
    """The text a sighted user sees (without the screen-reader-only prefixes)."""
    return driver.execute_script(
        "const c = arguments[0].querySelector('.hdca-bubble').cloneNode(true);"
        "c.querySelectorAll('.hdca-sr').forEach(n => n.remove()); return c.textContent;", element)


def ask(driver, text: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "[data-testid=input]")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def wait_answers(driver, count: int):
    wait(driver, lambda d: len(messages(d, "assistant")) >= count, ANSWER_TIMEOUT, "no assistant reply")
    return messages(driver, "assistant")[count - 1]


def active_testid(driver) -> str | None:
    return driver.execute_script("return document.activeElement && document.activeElement.dataset.testid || null")


def network(driver, *, offline: bool = False, latency_ms: int = 0) -> None:
    """Emulate an offline or slow connection (DevTools protocol); the defaults restore a normal one."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": offline, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1})


def no_horizontal_overflow(driver) -> bool:
    return driver.execute_script(
        "const l = document.querySelector('[data-testid=log]');"
        "return document.documentElement.scrollWidth <= window.innerWidth && l.scrollWidth <= l.clientWidth;")


# ---- tests --------------------------------------------------------------------------------------


def test_ask_see_citation_rate_and_restore(server, browser):
    d = browser
    set_viewport(d, 360, 740)
    open_fresh(d, server)
    box = d.find_element(By.CSS_SELECTOR, "[data-testid=input]")
    assert "cư trú" in box.get_attribute("placeholder")
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=send]").text == "Gửi"

    ask(d, QUESTION)
    wait(d, lambda d: any("68/2020/QH14" in c.text for c in d.find_elements(
        By.CSS_SELECTOR, "[data-testid=message-assistant] [data-testid=citation]")), ANSWER_TIMEOUT,
        "no assistant message citing 68/2020/QH14")
    assert box.get_attribute("value") == ""
    [user] = messages(d, "user")
    assert bubble_text(d, user).strip() == QUESTION
    [answer] = messages(d, "assistant")
    cites = [c.text for c in answer.find_elements(By.CSS_SELECTOR, "[data-testid=citation]")]
    assert any(c.startswith("Căn cứ: ") and "Luật Cư trú (68/2020/QH14)" in c for c in cites), cites
    # the Markdown reply is formatted, not shown raw
    assert answer.find_elements(By.CSS_SELECTOR, ".hdca-md strong")
    assert answer.find_elements(By.CSS_SELECTOR, ".hdca-md ul > li")
    assert "**" not in bubble_text(d, answer)
    assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=typing]")
    assert no_horizontal_overflow(d)
    d.save_screenshot("/tmp/widget.png")

    up = answer.find_element(By.CSS_SELECTOR, "[data-testid=feedback-up]")
    down = answer.find_element(By.CSS_SELECTOR, "[data-testid=feedback-down]")
    assert up.get_attribute("aria-label") == "Câu trả lời hữu ích"
    assert down.get_attribute("aria-label") == "Câu trả lời chưa hữu ích"
    up.click()
    thanks = wait(d, lambda d: answer.find_elements(By.CSS_SELECTOR, "[data-testid=feedback-thanks]"))[0]
    assert thanks.text == "Cảm ơn bạn đã góp ý"
    assert up.get_attribute("aria-pressed") == "true"
    assert down.get_attribute("aria-pressed") == "false"

    session_id = d.execute_script(f"return localStorage.getItem('{SESSION_KEY}')")
    assert session_id
    status, body = _get(f"{server}/api/v1/sessions/{session_id}")
    assert status == 200 and [m["role"] for m in json.loads(body)["messages"]] == ["user", "assistant"]

    d.refresh()
    wait_ready(d)
    [user] = messages(d, "user")
    [answer] = messages(d, "assistant")
    assert bubble_text(d, user).strip() == QUESTION
    assert any("68/2020/QH14" in c.text for c in answer.find_elements(By.CSS_SELECTOR, "[data-testid=citation]"))
    assert answer.find_elements(By.CSS_SELECTOR, ".hdca-md strong")
    assert not d.find_element(By.CSS_SELECTOR, "[data-testid=message-welcome]").is_displayed()

    set_viewport(d, 1280, 800)
    assert no_horizontal_overflow(d)
    d.save_screenshot("/tmp/widget-1280.png")
    set_viewport(d, 360, 740)


def test_suggestion_chip_and_handoff_notice(server, browser):
    d = browser
    open_fresh(d, server)
    chip = d.find_element(By.CSS_SELECTOR, "[data-testid=message-welcome] [data-testid=suggestion]")
    chip_text = chip.text
    chip.click()
    wait_answers(d, 1)
    [user] = messages(d, "user")
    assert bubble_text(d, user).strip() == chip_text
    assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=handoff]")

    ask(d, "Tôi muốn gặp cán bộ")
    wait_answers(d, 2)
    notice = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=handoff]"))[0]
    assert "cán bộ" in notice.text.lower() and "liên hệ" in notice.text

    d.refresh()  # the session remembers the hand-off
    wait_ready(d)
    assert len(messages(d, "assistant")) == 2
    assert len(d.find_elements(By.CSS_SELECTOR, "[data-testid=handoff]")) == 1


def test_unknown_session_is_dropped(server, browser):
    d = browser
    open_fresh(d, server)
    d.execute_script(f"localStorage.setItem('{SESSION_KEY}', 'no-such-session')")
    d.refresh()
    wait_ready(d)
    assert d.execute_script(f"return localStorage.getItem('{SESSION_KEY}')") is None
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=message-welcome]").is_displayed()
    assert not d.find_element(By.CSS_SELECTOR, "[data-testid=error]").is_displayed()


def test_html_in_a_message_is_shown_as_text(server, browser):
    d = browser
    open_fresh(d, server)
    d.execute_script("window.__alerted = false; window.alert = () => { window.__alerted = true; };")
    ask(d, XSS)
    wait_answers(d, 1)
    [user] = messages(d, "user")
    assert bubble_text(d, user).strip() == XSS
    log = d.find_element(By.CSS_SELECTOR, "[data-testid=log]")
    assert not log.find_elements(By.CSS_SELECTOR, "img, script, iframe")
    assert d.execute_script("return window.__alerted") is False

    d.refresh()  # the stored conversation is rendered just as safely
    wait_ready(d)
    d.execute_script("window.__alerted = false; window.alert = () => { window.__alerted = true; };")
    [user] = messages(d, "user")
    assert bubble_text(d, user).strip() == XSS
    assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=log] img")
    assert d.execute_script("return window.__alerted") is False


def test_markdown_renderer_is_safe_and_formats(server, browser):
    d = browser
    open_fresh(d, server)
    source = ("**Hồ sơ <img src=x onerror=alert(1)>:**\n- một _hai_ ba\n  tiếp theo\n- <script>alert(2)</script>\n\n"
              "| Cột <b>1</b> | Cột 2 |\n|---|---|\n| a **b** | &lt;c&gt; |\n\nMã cu_tru, dang_ky_xe giữ nguyên.")
    result = d.execute_async_script("""
        const [src, done] = arguments;
        import(new URL('widget/markdown.js', document.baseURI).href).then((m) => {
          const box = document.createElement('div');
          box.append(m.renderMarkdown(src));
          done({
            bad: box.querySelectorAll('img, script, b').length,
            strong: [...box.querySelectorAll('strong')].map((n) => n.textContent),
            em: [...box.querySelectorAll('em')].map((n) => n.textContent),
            items: [...box.querySelectorAll('ul > li')].map((n) => n.textContent),
            th: [...box.querySelectorAll('th')].map((n) => n.textContent),
            td: [...box.querySelectorAll('td')].map((n) => n.textContent),
            last: box.lastElementChild.outerHTML,
          });
        }, (e) => done({error: String(e)}));
    """, source)
    assert "error" not in result, result
    assert result["bad"] == 0
    assert result["strong"] == ["Hồ sơ <img src=x onerror=alert(1)>:", "b"]
    assert result["em"] == ["hai"]
    assert result["items"] == ["một hai ba tiếp theo", "<script>alert(2)</script>"]
    assert result["th"] == ["Cột <b>1</b>", "Cột 2"]
    assert result["td"] == ["a b", "&lt;c&gt;"]
    assert result["last"] == "<p>Mã cu_tru, dang_ky_xe giữ nguyên.</p>"


def test_keyboard_only(server, browser):
    d = browser
    open_fresh(d, server)
    log = d.find_element(By.CSS_SELECTOR, "[data-testid=log]")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert d.execute_script("return document.querySelector('[data-testid=input]').labels[0].textContent") \
        == "Câu hỏi của bạn"
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=input]").find_element(By.XPATH, "ancestor::form")

    keys = ActionChains(d)
    d.execute_script("document.activeElement && document.activeElement.blur()")
    for _ in range(12):  # Tab from the start of the page reaches the text box; every stop shows its focus
        keys.send_keys(Keys.TAB).perform()
        assert d.execute_script("return getComputedStyle(document.activeElement).outlineStyle") != "none", \
            active_testid(d)
        if active_testid(d) == "input":
            break
    assert active_testid(d) == "input"

    keys.send_keys("Làm lại thẻ căn cước").key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT) \
        .send_keys("bị mất ở đâu?").perform()
    assert d.find_element(By.CSS_SELECTOR, "[data-testid=input]").get_attribute("value") \
        == "Làm lại thẻ căn cước\nbị mất ở đâu?"
    assert not messages(d, "user")
    keys.send_keys(Keys.ENTER).perform()
    answer = wait_answers(d, 1)
    [user] = messages(d, "user")
    assert bubble_text(d, user).strip() == "Làm lại thẻ căn cước\nbị mất ở đâu?"
    assert active_testid(d) == "input"

    for _ in range(15):  # back into the answer: thumbs-down, then an optional comment, by keyboard only
        keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        if active_testid(d) == "feedback-down":
            break
    assert active_testid(d) == "feedback-down"
    keys.send_keys(Keys.ENTER).perform()
    wait(d, lambda d: active_testid(d) == "feedback-comment")
    keys.send_keys("Thiếu thời gian giải quyết").send_keys(Keys.TAB).perform()
    assert active_testid(d) == "feedback-comment-send"
    keys.send_keys(Keys.ENTER).perform()
    wait(d, lambda d: answer.find_elements(By.CSS_SELECTOR, "[data-testid=feedback-thanks]"))
    assert answer.find_element(By.CSS_SELECTOR, "[data-testid=feedback-down]").get_attribute("aria-pressed") == "true"
    assert not answer.find_elements(By.CSS_SELECTOR, "[data-testid=feedback-comment]")


def test_errors_keep_the_typed_text(server, browser):
    d = browser
    open_fresh(d, server)
    box = d.find_element(By.CSS_SELECTOR, "[data-testid=input]")
    error = d.find_element(By.CSS_SELECTOR, "[data-testid=error]")

    too_long = "Tôi hỏi " + "a" * 2000  # over the 2000-character limit: the server answers 422
    d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
                     box, too_long)
    d.find_element(By.CSS_SELECTOR, "[data-testid=send]").click()
    wait(d, lambda d: error.is_displayed())
    assert "2000" in error.text and "ký tự" in error.text
    assert box.get_attribute("value") == too_long
    assert not messages(d, "user")

    box.clear()
    try:
        network(d, offline=True)
        ask(d, QUESTION)
        wait(d, lambda d: error.is_displayed())
        assert "kết nối" in error.text
        assert box.get_attribute("value") == QUESTION
        assert not messages(d, "user")

        # slow network: the typing indicator shows while waiting, then gives way to the answer
        network(d, latency_ms=1500)
        box.send_keys(Keys.ENTER)
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=typing]"))
        assert not error.is_displayed()
        assert d.find_element(By.CSS_SELECTOR, "[data-testid=log]").get_attribute("aria-busy") == "true"
        wait_answers(d, 1)
        assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=typing]")
        assert box.get_attribute("value") == ""
    finally:
        network(d)
