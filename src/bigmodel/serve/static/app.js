// The zoo page: the taxonomy with each model's card, and a try-it panel per family.
// Plain JavaScript over the server's own /v1 routes; nothing is fetched from elsewhere.
"use strict";

const FAMILY_ORDER = ["llm", "vision", "multimodal", "decision", "vertical", "generative"];
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("bigmodel-api-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("bigmodel-api-key", keyInput.value); load(); });

function headers(extra = {}) {
  return keyInput.value ? { ...extra, Authorization: `Bearer ${keyInput.value}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `${response.status} ${response.statusText}`);
  return body;
}

function postJSON(path, data) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function humanCount(n) {
  if (n === null || n === undefined) return "? parameters";
  for (const [size, unit] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    if (n >= size) return `${(n / size).toFixed(n >= 10 * size ? 0 : 1)}${unit} parameters`;
  }
  return `${n} parameters`;
}

// --- the taxonomy -------------------------------------------------------------------------

function drawTree(zoo) {
  const families = $("families");
  families.replaceChildren();
  for (const family of FAMILY_ORDER) {
    const column = el("div", `family ${family}`);
    column.dataset.family = family;
    column.append(el("div", "name", family === "llm" ? "LLM" : family), el("div", "what", zoo.families[family] || ""));
    const members = zoo.models.filter((m) => m.family === family);
    if (!members.length) column.append(el("div", "empty", "none served"));
    for (const m of members) column.append(modelCard(m));
    families.append(column);
  }
}

function modelCard(m) {
  const card = el("div", "card");
  card.dataset.model = m.name;
  const report = m.report || {};
  const parameters = (m.card && m.card.parameters) ?? report.parameters;
  const large = (m.card && m.card.large) ?? report.large;
  card.append(el("div", "title", m.name));
  const facts = el("div", "facts", `${humanCount(parameters)} · ${report.architecture || (m.card && m.card.architecture) || "?"}`);
  card.append(facts);
  const badges = el("div");
  badges.append(el("span", "badge", large ? "large" : "not large (< 1B)"));
  if (m.family === "llm" || m.family === "vertical") badges.append(el("span", "badge", m.chat ? "chat" : "base"));
  if (m.card && m.card.domain) badges.append(el("span", "badge", `domain: ${m.card.domain}`));
  if (m.game) badges.append(el("span", "badge", m.game.title));
  if (!m.served) badges.append(el("span", "badge", "listed only"));
  card.append(badges);
  const base = m.base || (m.card && m.card.base_model) || report.base_model;
  if (base) card.append(el("div", "lineage", `↳ derived from ${base}`));
  return card;
}

// --- try-it panels ------------------------------------------------------------------------

function fillSelect(select, models) {
  const previous = select.value;
  select.replaceChildren(...models.map((m) => { const o = el("option", "", m.name); o.value = m.name; return o; }));
  if (models.some((m) => m.name === previous)) select.value = previous;
  select.closest(".panel").hidden = !models.length;
}

let chatHistory = [];

function addMessage(role, text) {
  const line = el("div", `msg ${role}`, text);
  $("chat-log").append(line);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return line;
}

// Reads server-sent events from a fetch response; calls onData with each parsed `data:` object.
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        onData(JSON.parse(data));
      }
    }
  }
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  $("chat-input").value = "";
  chatHistory.push({ role: "user", content: text });
  addMessage("user", `you: ${text}`);
  const line = addMessage("assistant", `${$("chat-model").value}: `);
  const reply = el("span", "reply");
  line.append(reply);
  $("chat-send").disabled = true;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: $("chat-model").value, messages: chatHistory, stream: true, max_tokens: 64, temperature: 0.8 }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    await readEvents(response, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message);
      const delta = chunk.choices.length ? chunk.choices[0].delta : {};
      if (delta.content) reply.textContent += delta.content;
    });
    chatHistory.push({ role: "assistant", content: reply.textContent });
  } catch (err) {
    line.append(el("span", "error", ` (${err.message})`));
    chatHistory.pop();
  } finally {
    $("chat-send").disabled = false;
  }
});
$("chat-model").addEventListener("change", () => { chatHistory = []; $("chat-log").replaceChildren(); });

// Student vs professor.
async function loadQuestions() {
  const model = $("svp-model").value;
  if (!model) return;
  try {
    const data = await api(`/v1/vertical/questions?model=${encodeURIComponent(model)}&count=12`);
    $("svp-question").replaceChildren(...data.questions.map((q) => {
      const o = el("option", "", `${q.question}${q.kind === "made_up" ? " (made up)" : ""}`);
      o.value = q.id;
      return o;
    }));
  } catch (err) {
    $("svp-gold").replaceChildren(el("span", "error", err.message));
  }
}
$("svp-model").addEventListener("change", loadQuestions);
$("svp-ask").addEventListener("click", async () => {
  $("svp-ask").disabled = true;
  for (const side of ["student", "professor"]) {
    const box = $(`svp-${side}`);
    box.querySelector(".text").textContent = "…";
    box.querySelector(".verdict").textContent = "";
    box.querySelector(".verdict").className = "verdict";
    box.querySelector(".passages").replaceChildren();
  }
  try {
    const result = await postJSON("/v1/vertical/compare", { model: $("svp-model").value, question_id: $("svp-question").value });
    $("svp-gold").textContent = `pack's answer: ${result.gold}`;
    for (const answer of result.answers) {
      const box = $(`svp-${answer.role}`);
      box.querySelector("h4").textContent = `${answer.role}: ${answer.model}`;
      box.querySelector(".text").textContent = answer.answer.trim() || "(empty answer)";
      const verdict = box.querySelector(".verdict");
      verdict.textContent = answer.verdict;
      verdict.className = `verdict ${answer.verdict}`;
      // A grounded model's retrieved passages: what it read before answering.
      box.querySelector(".passages").replaceChildren(...answer.passages.map((text) => el("li", "", `read: ${text}`)));
    }
  } catch (err) {
    $("svp-gold").replaceChildren(el("span", "error", err.message));
  } finally {
    $("svp-ask").disabled = false;
  }
});

// The game board: the human plays x and moves first; the model answers through /v1/decision/move.
let game = null;
let position = null;
let busy = false;

function emptyPosition(g) { return Array(g.rows).fill(".".repeat(g.cols)).join("/"); }

function newGame() {
  const model = gameModels.find((m) => m.name === $("game-model").value);
  if (!model) return;
  game = model.game;
  position = emptyPosition(game);
  $("game-status").textContent = `${game.title}: you play x and move first${game.name === "connect4" ? " (click a column)" : ""}.`;
  drawBoard();
}

function drawBoard() {
  const board = $("board");
  board.className = game.name === "connect4" ? "board" : "board grid";
  board.style.gridTemplateColumns = `repeat(${game.cols}, auto)`;
  const rows = position.split("/");
  board.replaceChildren();
  rows.forEach((row, r) => [...row].forEach((stone, c) => {
    const cell = el("button", `cell ${stone === "." ? "" : stone}`, game.name === "connect4" ? "" : stone.replace(".", ""));
    cell.dataset.row = r;
    cell.dataset.col = c;
    cell.setAttribute("aria-label", `row ${r + 1} column ${c + 1}`);
    cell.addEventListener("click", () => play(r, c));
    board.append(cell);
  }));
}

async function play(r, c) {
  if (busy || !game) return;
  const rows = position.split("/").map((row) => [...row]);
  if (game.name === "connect4") {  // gravity: the stone falls to the lowest empty cell of the column
    r = rows.map((row) => row[c]).lastIndexOf(".");
    if (r < 0) return;
  } else if (rows[r][c] !== ".") {
    return;
  }
  rows[r][c] = "x";
  position = rows.map((row) => row.join("")).join("/");
  drawBoard();
  busy = true;
  $("game-status").textContent = "the model is thinking…";
  try {
    const result = await postJSON("/v1/decision/move", { model: $("game-model").value, position });
    position = result.position;
    drawBoard();
    const said = result.analysis ? `model played ${result.analysis.move} (value ${result.analysis.value.toFixed(2)})` : "";
    if (result.over) {
      const outcome = result.draw ? "draw" : result.winner === "x" ? "you win" : "the model wins";
      $("game-status").textContent = `${said}${said ? " — " : ""}${outcome}. New game?`;
      return;  // busy stays set: the board is shown but takes no more moves
    }
    $("game-status").textContent = `${said}; your move.`;
  } catch (err) {
    $("game-status").replaceChildren(el("span", "error", err.message));
  }
  busy = false;
}
$("game-new").addEventListener("click", () => { busy = false; newGame(); });
$("game-model").addEventListener("change", () => { busy = false; newGame(); });

// Image panels.
function showRanking(list, items) {
  list.replaceChildren(...items.map(([text, p]) => el("li", "", `${text} — ${(100 * p).toFixed(1)}%`)));
}

$("vision-file").addEventListener("change", async () => {
  const form = new FormData();
  form.append("model", $("vision-model").value);
  form.append("file", $("vision-file").files[0]);
  try {
    const result = await api("/v1/images/classify", { method: "POST", body: form });
    showRanking($("vision-result"), result.top.map((t) => [t.label, t.probability]));
  } catch (err) {
    $("vision-result").replaceChildren(el("li", "error", err.message));
  }
});

$("caption-file").addEventListener("change", async () => {
  const form = new FormData();
  form.append("model", $("caption-model").value);
  form.append("file", $("caption-file").files[0]);
  for (const text of $("caption-texts").value.split("\n").map((t) => t.trim()).filter(Boolean)) form.append("texts", text);
  try {
    const result = await api("/v1/images/caption", { method: "POST", body: form });
    showRanking($("caption-result"), result.ranking.map((t) => [t.text, t.probability]));
  } catch (err) {
    $("caption-result").replaceChildren(el("li", "error", err.message));
  }
});

// --- start ----------------------------------------------------------------------------------

let gameModels = [];

async function load() {
  let zoo;
  try {
    zoo = await api("/v1/zoo");
  } catch (err) {
    $("families").replaceChildren(el("div", "error", `cannot load the zoo: ${err.message}`));
    return;
  }
  drawTree(zoo);
  const served = (families) => zoo.models.filter((m) => m.served && families.includes(m.family));
  fillSelect($("chat-model"), served(["llm", "vertical"]));
  fillSelect($("svp-model"), served(["vertical"]).filter((m) => m.base));
  fillSelect($("vision-model"), served(["vision"]));
  fillSelect($("caption-model"), served(["multimodal"]));
  gameModels = served(["decision"]);
  fillSelect($("game-model"), gameModels);
  await loadQuestions();
  newGame();
}

load();
