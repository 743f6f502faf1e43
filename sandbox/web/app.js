// The sandbox chat page: act as any persona, see what Telegram would show, walk a flow across personas.
// Plain JS, no build step; everything comes from the local server's /sandbox/... endpoints.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  token: null, bot: null, personas: [], presets: [], clock: null,
  active: null, version: 0, unread: {}, history: null,
  lang: localStorage.getItem("sandbox.lang") || (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en"),
  pendingQueries: new Set(), keyboardHidden: false,
};

function t(key, vars) {
  let text = (SANDBOX_TEXTS[state.lang] || SANDBOX_TEXTS.en)[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
  return text;
}
const pick = (labels) => (labels ? labels[state.lang] || labels.en || labels.zh || "" : "");
const api = (path) => `/sandbox/${state.token}${path}`;

async function getJSON(url) {
  const resp = await fetch(url, { cache: "no-store" });
  if (!resp.ok) throw new Error(`${resp.status} ${await resp.text()}`);
  return resp.json();
}
async function postJSON(url, body) {
  const resp = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// ---- formatted text: Telegram entities (offsets in UTF-16 units, which is what JS strings index) ----------
const ENTITY_TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre", spoiler: "span",
  blockquote: "blockquote", expandable_blockquote: "blockquote", text_link: "a", url: "a", bot_command: "span",
  mention: "span", hashtag: "span", phone_number: "span", email: "a",
};
function renderText(text, entities) {
  const frag = document.createDocumentFragment();
  if (!text) return frag;
  const ents = (entities || []).filter((e) => ENTITY_TAGS[e.type]);
  const cuts = new Set([0, text.length]);
  for (const e of ents) { cuts.add(e.offset); cuts.add(Math.min(text.length, e.offset + e.length)); }
  const points = [...cuts].sort((a, b) => a - b);
  for (let i = 0; i < points.length - 1; i++) {
    const [from, to] = [points[i], points[i + 1]];
    let node = document.createTextNode(text.slice(from, to));
    const covering = ents.filter((e) => e.offset <= from && e.offset + e.length >= to)
      .sort((a, b) => a.length - b.length);  // innermost first, wrapped outwards
    for (const e of covering) {
      const wrap = document.createElement(ENTITY_TAGS[e.type]);
      wrap.className = `ent-${e.type}`;
      if (e.type === "text_link") { wrap.href = e.url; wrap.target = "_blank"; wrap.rel = "noopener"; }
      if (e.type === "url") { wrap.href = text.slice(e.offset, e.offset + e.length); wrap.target = "_blank"; }
      if (e.type === "bot_command") {
        const command = text.slice(e.offset, e.offset + e.length);
        wrap.addEventListener("click", () => sendText(command));
      }
      wrap.append(node);
      node = wrap;
    }
    frag.append(node);
  }
  return frag;
}

// ---- personas ------------------------------------------------------------------------------------------------
function personaName(p) { return [p.first_name, p.last_name].filter(Boolean).join(" "); }

function renderPersonas() {
  const list = $("#persona-list");
  list.replaceChildren();
  let group = null;
  for (const p of state.personas) {
    const g = pick(p.group);
    if (g !== group) { group = g; list.append(el("h3", { text: g })); }
    const count = state.unread[String(p.user_id)] || 0;
    list.append(el("button", {
      type: "button", class: `persona${state.active && state.active.user_id === p.user_id ? " active" : ""}`,
      "data-persona": p.user_id, onclick: () => selectPersona(p.user_id),
    },
      el("span", { class: `avatar kind-${p.kind}`, text: (p.first_name || "?").slice(0, 1) }),
      el("span", { class: "persona-text" },
        el("span", { class: "persona-name", text: personaName(p) }),
        el("span", { class: "persona-title", text: pick(p.title) })),
      count ? el("span", { class: "badge", text: String(count), "data-unread": count }) : null));
  }
  const others = Object.entries(state.unread)
    .filter(([id]) => !state.active || id !== String(state.active.user_id))
    .reduce((sum, [, n]) => sum + n, 0);
  const total = $("#total-badge");
  total.hidden = !others;
  total.textContent = String(others);
}

function renderWho() {
  const persona = state.active;
  $("#who-name").textContent = personaName(persona);
  $("#who-title").textContent = [pick(persona.title), persona.phone].filter(Boolean).join(" · ");
}

async function selectPersona(userId) {
  const persona = state.personas.find((p) => p.user_id === userId);
  if (!persona) return;
  state.active = persona;
  state.keyboardHidden = false;
  localStorage.setItem("sandbox.persona", String(userId));
  document.body.classList.remove("people-open");
  renderWho();
  await loadHistory();
  $("#text").focus();
}

// ---- the chat --------------------------------------------------------------------------------------------------
async function loadHistory() {
  if (!state.active) return;
  const userId = state.active.user_id;
  const data = await getJSON(api(`/history/${userId}?read=1`));
  if (!state.active || state.active.user_id !== userId) return;
  state.history = data;
  state.unread[String(userId)] = 0;
  renderMessages();
  renderReplyKeyboard();
  renderPersonas();
}

function fmtTime(unix) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: state.clock ? state.clock.tz : undefined, hour: "2-digit",
    minute: "2-digit" }).format(new Date(unix * 1000));
}
function fmtDay(unix) {
  return new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-GB",
    { timeZone: state.clock ? state.clock.tz : undefined, month: "long", day: "numeric", weekday: "short" })
    .format(new Date(unix * 1000));
}
function fmtSize(bytes) {
  if (!bytes && bytes !== 0) return "";
  return bytes > 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function renderMessage(m) {
  const bubble = el("div", { class: `msg ${m.from_bot ? "in" : "out"}`, "data-message-id": m.id });
  if (m.photo) {
    bubble.append(el("a", { href: m.photo.url, target: "_blank", class: "photo-link" },
      el("img", { src: m.photo.url, alt: "photo", class: "photo", loading: "lazy" })));
  }
  if (m.document) {
    bubble.append(el("a", { class: "document", href: m.document.url, download: m.document.file_name },
      el("span", { class: "doc-icon", text: "📄" }),
      el("span", { class: "doc-text" },
        el("span", { class: "doc-name", text: m.document.file_name }),
        el("span", { class: "doc-size", text: `${fmtSize(m.document.file_size)} · ${t("download")}` }))));
  }
  if (m.location) {
    bubble.append(el("div", { class: "location" }, el("span", { text: "📍" }),
      el("span", { text: ` ${t("location_line", { lat: m.location.latitude.toFixed(5), lon: m.location.longitude.toFixed(5) })}` })));
  }
  if (m.contact) {
    bubble.append(el("div", { class: "contact" }, `👤 ${t("contact_line", { name: m.contact.first_name || "", phone: m.contact.phone_number })}`));
  }
  const text = m.text !== undefined ? m.text : m.caption;
  const entities = m.text !== undefined ? m.entities : m.caption_entities;
  if (text) bubble.append(el("div", { class: "text" }, renderText(text, entities)));
  bubble.append(el("div", { class: "meta" }, m.edited ? `${t("edited")} · ` : "", fmtTime(m.date)));
  if (m.inline_keyboard) {
    const kb = el("div", { class: "ikb" });
    for (const row of m.inline_keyboard) {
      const r = el("div", { class: "ikb-row" });
      for (const b of row) {
        if (b.url) r.append(el("a", { class: "ikb-button", href: b.url, target: "_blank", rel: "noopener", text: `${b.text} ↗` }));
        else r.append(el("button", { type: "button", class: "ikb-button", text: b.text,
          onclick: (ev) => pressInline(m.id, b, ev.currentTarget) }));
      }
      kb.append(r);
    }
    bubble.append(kb);
  }
  return bubble;
}

function renderMessages() {
  const box = $("#messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const messages = state.history ? state.history.messages : [];
  // A day chip wherever the day changes: the sandbox clock can jump days ahead.
  const nodes = [];
  let day = null;
  for (const m of messages) {
    const d = fmtDay(m.date);
    if (d !== day) { day = d; nodes.push(el("div", { class: "day", text: d })); }
    nodes.push(renderMessage(m));
  }
  box.replaceChildren(...nodes);
  const newcomer = state.active && state.active.kind === "newcomer" && state.active.start;
  $("#invite-bar").hidden = !(newcomer && !messages.length);
  if (!messages.length) {
    box.append(el("div", { class: "empty", text: newcomer ? t("invite_hint") : t("empty_chat") }));
  }
  if (atBottom || messages.length) box.scrollTop = box.scrollHeight;
  for (const img of box.querySelectorAll("img")) img.addEventListener("load", () => { box.scrollTop = box.scrollHeight; }, { once: true });
}

function renderReplyKeyboard() {
  const box = $("#reply-keyboard");
  const kb = state.history && state.history.reply_keyboard;
  // A new keyboard from the bot shows again, even after a one-time keyboard was hidden by a tap.
  const signature = JSON.stringify(kb);
  if (signature !== state.keyboardSignature) { state.keyboardSignature = signature; state.keyboardHidden = false; }
  $("#kb-toggle").hidden = !kb;
  $("#text").placeholder = (kb && kb.placeholder) || t("placeholder");
  box.replaceChildren();
  box.hidden = !kb || state.keyboardHidden;
  if (!kb) return;
  for (const row of kb.rows) {
    const r = el("div", { class: "rkb-row" });
    for (const b of row) {
      // Marks what the button shares, unless the bot's label already shows it.
      const mark = b.request_contact ? "📱" : b.request_location ? "📍" : "";
      const icon = mark && !b.text.includes(mark) ? `${mark} ` : "";
      r.append(el("button", { type: "button", class: "rkb-button", text: icon + b.text, "data-label": b.text,
        onclick: () => tapReply(b, kb) }));
    }
    box.append(r);
  }
}

// ---- acting as the persona ---------------------------------------------------------------------------------------
function me() {
  const p = state.active;
  // The page language is the persona's Telegram language: the bot answers in it unless the person chose one.
  return { user_id: p.user_id, first_name: p.first_name, last_name: p.last_name,
           language_code: state.lang === "zh" ? "zh-hans" : "en" };
}
async function send(body) {
  if (!state.active) return;
  try {
    await postJSON(api("/send"), { ...me(), ...body });
  } catch (error) {
    toast(t("send_failed", { error: error.message }));
  }
}
function sendText(text) { return send({ text }); }

async function tapReply(button, kb) {
  if (kb.one_time) state.keyboardHidden = true;
  if (button.request_contact) return shareContact();
  if (button.request_location) return pickLocation();
  return sendText(button.text);
}

async function pressInline(messageId, button, node) {
  if (button.copy_text) { navigator.clipboard && navigator.clipboard.writeText(button.copy_text.text); return; }
  node.classList.add("pressed");
  try {
    const res = await postJSON(api("/press"), { ...me(), message_id: messageId, data: button.callback_data });
    if (res.query_id) state.pendingQueries.add(res.query_id);
  } catch (error) {
    toast(t("send_failed", { error: error.message }));
  } finally {
    setTimeout(() => node.classList.remove("pressed"), 400);
  }
}

function ask(bodyNodes, actions) {
  // A small modal; resolves with the value of the action pressed ("" when dismissed).
  const dialog = $("#dialog");
  $("#dialog-body").replaceChildren(...bodyNodes);
  $("#dialog-actions").replaceChildren(...actions.map(([value, label, primary]) =>
    el("button", { value, class: primary ? "primary" : "", text: label })));
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function shareContact() {
  const phone = state.active.phone;
  const answer = await ask([el("p", { text: t("share_contact_q", { phone }) })],
    [["", t("cancel")], ["share", t("share"), true]]);
  if (answer === "share") await send({ contact: { phone } });
}

async function pickLocation() {
  const input = el("input", { type: "text", id: "coords", placeholder: "38.0428, 114.5149", inputmode: "decimal" });
  const presets = el("div", { class: "presets" }, ...state.presets.map((p, i) =>
    el("button", { value: `preset:${i}`, class: "preset", text: `📍 ${pick(p.label)}` })));
  const answer = await ask([
    el("h4", { text: t("pick_location") }),
    state.presets.length ? el("p", { text: t("location_presets") }) : null,
    presets,
    el("label", { for: "coords", text: t("location_typed") }), input,
  ].filter(Boolean), [["", t("cancel")], ["typed", t("send_location"), true]]);
  let latitude, longitude;
  if (answer.startsWith("preset:")) {
    ({ latitude, longitude } = state.presets[Number(answer.slice(7))]);
  } else if (answer === "typed") {
    const parts = input.value.split(/[,，\s]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || parts.some(Number.isNaN) || Math.abs(parts[0]) > 90 || Math.abs(parts[1]) > 180) {
      toast(t("location_bad"));
      return;
    }
    [latitude, longitude] = parts;
  } else {
    return;
  }
  await send({ location: { latitude, longitude } });
}

async function sendPhoto(file) {
  const caption = $("#text").value.trim();
  const data = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = reject;
    reader.readAsDataURL(file);
  });
  $("#text").value = "";
  await send({ photo: { data, caption } });
}

async function toggleCommands() {
  const menu = $("#command-menu");
  if (!menu.hidden) { menu.hidden = true; return; }
  const lang = state.lang === "zh" ? "zh" : "en";
  const { commands } = await getJSON(api(`/commands?language_code=${lang}&user_id=${state.active ? state.active.user_id : ""}`));
  menu.replaceChildren(el("h4", { text: t("commands") }));
  if (!commands.length) menu.append(el("p", { text: t("no_commands") }));
  for (const c of commands) {
    menu.append(el("button", { type: "button", class: "command", "data-command": c.command,
      onclick: () => { menu.hidden = true; sendText(`/${c.command}`); } },
      el("span", { class: "command-name", text: `/${c.command}` }),
      el("span", { class: "command-desc", text: c.description })));
  }
  menu.hidden = false;
}

// ---- the sandbox clock ---------------------------------------------------------------------------------------------
function fmtClock(clock) {
  // The sandbox time in the bot's time zone, as the scheduler sees it.
  try {
    return new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-GB", {
      timeZone: clock.tz, month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit",
    }).format(new Date(clock.now));
  } catch (_) {
    return clock.now;
  }
}
function renderClock() {
  const button = $("#clock-button");
  button.hidden = !state.clock;
  if (state.clock) $("#clock-now").textContent = fmtClock(state.clock);
}
async function toggleClock() {
  const menu = $("#clock-menu");
  if (!menu.hidden) { menu.hidden = true; return; }
  state.clock = await getJSON("/sandbox/clock");
  renderClock();
  menu.replaceChildren(el("h4", { text: t("clock") }),
    el("p", { class: "muted", text: `${t("clock_now")}${fmtClock(state.clock)}` }),
    ...state.clock.targets.map((target) => el("button", { type: "button", class: "clock-target", "data-target": target.id,
      onclick: () => advanceClock(target.id) },
      el("span", { text: pick(target.label) }),
      el("span", { class: "muted", text: fmtClock({ ...state.clock, now: target.at }) }))),
    el("p", { class: "muted small", text: t("clock_only") }));
  menu.hidden = false;
}
async function advanceClock(target) {
  $("#clock-menu").hidden = true;
  try {
    const result = await postJSON("/sandbox/clock", { target });
    state.clock = result;
    renderClock();
    toast(result.ran && result.ran.length ? t("clock_ran", { jobs: result.ran.join(", ") }) : t("clock_none"));
  } catch (error) {
    toast(t("send_failed", { error: error.message }));
  }
}

// ---- feedback ------------------------------------------------------------------------------------------------------
let toastTimer = null;
function toast(text) {
  const box = $("#toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
}
function showAnswers(answers) {
  for (const a of answers) {
    if (!state.pendingQueries.has(a.query_id)) continue;
    state.pendingQueries.delete(a.query_id);
    if (!a.text) continue;
    if (a.show_alert) ask([el("p", { class: "alert-text", text: a.text })], [["ok", t("ok"), true]]);
    else toast(a.text);
  }
}

// ---- live updates: a long poll on the server's change feed ------------------------------------------------------------
async function watch() {
  for (;;) {
    try {
      const ev = await getJSON(api(`/events?since=${state.version}`));
      const changed = ev.version !== state.version;
      state.version = ev.version;
      state.unread = ev.unread;
      showAnswers(ev.answers);
      if (changed && state.active && ev.changed.includes(state.active.user_id)) await loadHistory();
      else renderPersonas();
    } catch (_) {
      toast(t("server_down"));
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("#lang-button").textContent = state.lang === "zh" ? "EN" : "中文";
  renderPersonas();
  renderClock();
  if (state.active) renderWho();
  if (state.history) { renderMessages(); renderReplyKeyboard(); }
  else $("#text").placeholder = t("placeholder");
}

async function init() {
  const info = await getJSON("/sandbox/info");
  Object.assign(state, { token: info.token, bot: info.bot, personas: info.personas, presets: info.presets,
                         clock: info.clock, unread: info.unread, version: info.version });
  $("#bot-name").textContent = `@${info.bot.username}`;
  applyLanguage();

  $("#composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("#text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    input.style.height = "auto";
    sendText(text);
  });
  // Enter sends, Shift+Enter starts a new line (budget lines, addresses), as in Telegram's desktop app.
  $("#text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("#composer").requestSubmit(); }
  });
  $("#text").addEventListener("input", (ev) => {
    ev.target.style.height = "auto";
    ev.target.style.height = `${Math.min(ev.target.scrollHeight, 140)}px`;
  });
  $("#menu-button").addEventListener("click", toggleCommands);
  $("#attach-button").addEventListener("click", () => $("#photo-input").click());
  $("#photo-input").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    ev.target.value = "";
    if (file) sendPhoto(file);
  });
  $("#kb-toggle").addEventListener("click", () => { state.keyboardHidden = !state.keyboardHidden; renderReplyKeyboard(); });
  $("#invite-open").addEventListener("click", () => sendText(state.active.start));
  $("#lang-button").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("sandbox.lang", state.lang);
    applyLanguage();
  });
  $("#clock-button").addEventListener("click", toggleClock);
  $("#open-people").addEventListener("click", () => document.body.classList.add("people-open"));
  $("#close-people").addEventListener("click", () => document.body.classList.remove("people-open"));
  document.addEventListener("click", (ev) => {
    for (const [menu, opener] of [["#command-menu", "#menu-button"], ["#clock-menu", "#clock-button"]]) {
      if (!$(menu).hidden && !ev.target.closest(menu) && !ev.target.closest(opener)) $(menu).hidden = true;
    }
  });

  const remembered = Number(localStorage.getItem("sandbox.persona"));
  const first = state.personas.find((p) => p.user_id === remembered) || state.personas[0];
  if (first) await selectPersona(first.user_id);
  else document.body.classList.add("people-open");
  watch();
}

init();
