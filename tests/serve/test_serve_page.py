"""The web page in a real browser (Debian's chromium driven by Playwright): the zoo drawn as the
taxonomy, chat with streamed text, student vs professor, the image panels, a move on the Connect Four
board; no request leaves the server."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page(server, api_key):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `bash run.sh setup` installs Debian's chromium (apt-get install chromium); "
                    "the browser tests need it and are not skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1300})
        # The server wants a key: the page keeps it in localStorage, as a user would type it once.
        context.add_init_script(f"localStorage.setItem('bigmodel-api-key', {api_key!r})")
        page = context.new_page()
        requests_elsewhere = []
        page.on("request", lambda r: None if r.url.startswith(server.url) else requests_elsewhere.append(r.url))
        page.goto(server.url + "/")
        yield page
        assert requests_elsewhere == []  # everything the page needs ships in the package
        browser.close()


def test_taxonomy_shows_every_family_with_cards_and_lineage(page, tmp_path):
    for family in ("llm", "vision", "multimodal", "decision", "vertical", "generative"):
        page.wait_for_selector(f".family[data-family={family}]")
    vertical = page.locator(".card[data-model=travel-expert]")
    vertical.wait_for()
    assert "derived from general" in vertical.inner_text()
    assert "not large" in page.locator(".card[data-model=general]").inner_text()
    page.screenshot(path=str(tmp_path / "taxonomy.png"), full_page=True)


def test_chat_streams_text(page, tmp_path):
    chunks = []
    page.on("response", lambda r: chunks.append(r) if r.url.endswith("/v1/chat/completions") else None)
    page.select_option("#chat-model", "general")
    page.fill("#chat-input", "Hello there")
    page.click("#chat-send")
    page.wait_for_function("document.querySelector('#chat-log .assistant .reply')?.textContent.length > 0")
    page.wait_for_function("!document.querySelector('#chat-send').disabled")
    assert chunks and chunks[0].headers["content-type"].startswith("text/event-stream")
    assert "you: Hello there" in page.inner_text("#chat-log")
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)


def test_student_vs_professor(page, tmp_path):
    page.wait_for_function("document.querySelectorAll('#svp-question option').length > 0")
    page.click("#svp-ask")
    page.wait_for_function("document.querySelector('#svp-professor .verdict').textContent.length > 0")
    for side in ("student", "professor"):
        assert page.inner_text(f"#svp-{side} .verdict") in ("right", "wrong", "abstained")
    assert page.inner_text("#svp-student h4") == "student: general"
    assert page.inner_text("#svp-professor h4") == "professor: travel-expert"
    assert page.inner_text("#svp-gold").startswith("pack's answer: ")
    page.screenshot(path=str(tmp_path / "student-vs-professor.png"), full_page=True)


def test_image_panels_classify_and_caption(page, tmp_path):
    from PIL import Image

    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(image)
    page.set_input_files("#vision-file", str(image))
    page.wait_for_function("document.querySelectorAll('#vision-result li').length === 3")
    assert page.inner_text("#vision-result li").split(" — ")[0] in ("circle", "square", "triangle")
    page.set_input_files("#caption-file", str(image))
    page.wait_for_function("document.querySelectorAll('#caption-result li').length === 4")
    assert "error" not in page.inner_html("#caption-result")


def test_board_move_gets_a_reply(page, tmp_path):
    page.select_option("#game-model", "connect4")
    page.click("#board .cell[data-row='0'][data-col='3']")  # a click anywhere in a column drops to its bottom
    page.wait_for_function("document.querySelectorAll('#board .cell.o').length === 1", timeout=60_000)
    assert page.locator("#board .cell.x[data-row='5'][data-col='3']").count() == 1
    assert "model played" in page.inner_text("#game-status")
    page.screenshot(path=str(tmp_path / "zoo-page.png"), full_page=True)
