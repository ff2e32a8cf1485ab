// audioconv page: plain JavaScript, no build step, no external scripts.
// The token lives in sessionStorage only; the format choices come from GET /api/formats.
"use strict";

(() => {
  const TOKEN_KEY = "audioconv.token";
  const USER_KEY = "audioconv.user";
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);

  let formats = [];          // from GET /api/formats
  const cards = new Map();   // task id -> {li, task}
  let pollTimer = null;
  const uploads = new Set();  // XMLHttpRequests still sending

  // ---- small helpers ------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function showNotice(message, kind) {
    $("notice-text").textContent = message;
    $("notice").classList.toggle("info", kind === "info");
    $("notice").hidden = false;
  }

  function clearNotice() { $("notice").hidden = true; }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "kB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }

  function seconds(s) {
    if (s === null || s === undefined) return "–";
    const m = Math.floor(s / 60);
    const rest = (s - m * 60).toFixed(2).padStart(5, "0");
    return m ? `${m}:${rest}` : `${Number(s).toFixed(2)} s`;
  }

  function messageOf(status, body, fallback) {
    if (body && typeof body.message === "string" && body.message) return body.message;
    if (status === 0) return "the server could not be reached; check your connection";
    return `${fallback} (HTTP ${status})`;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const headers = {};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, messageOf(0));
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
    if (!response.ok) {
      const error = new ApiError(response.status, messageOf(response.status, data, "request failed"));
      if (response.status === 401 && token()) expired(error.message);
      throw error;
    }
    return data;
  }

  // ---- account ------------------------------------------------------------

  function showSignedIn(signedIn) {
    $("auth").hidden = signedIn;
    $("workspace").hidden = !signedIn;
    $("account").hidden = !signedIn;
    $("whoami").textContent = sessionStorage.getItem(USER_KEY) || "";
  }

  function signIn(username, newToken) {
    sessionStorage.setItem(TOKEN_KEY, newToken);
    sessionStorage.setItem(USER_KEY, username);
    clearNotice();
    showSignedIn(true);
    loadTasks();
    loadProfile();
    loadPresets();
    $("format").focus();
  }

  // The profile: whether the address is verified (until it is, no mail goes to it).
  function showProfile(profile) {
    const verified = Boolean(profile.emailVerified);
    $("verify-email").textContent = profile.email;
    $("verify-banner").hidden = verified;
    $("account-email").textContent = profile.email;
    const state = $("account-email-state");
    state.textContent = verified ? "verified" : "not verified";
    state.className = `status ${verified ? "verified" : "unverified"}`;
  }

  async function loadProfile() {
    try {
      showProfile(await api("GET", "/api/me"));
    } catch (err) {
      if (err.status !== 401) showNotice(`Could not load your profile: ${err.message}`);
    }
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    clearTimeout(pollTimer);
    for (const xhr of uploads) xhr.abort();
    cards.clear();
    $("tasks").replaceChildren();
    $("batches").replaceChildren();
    $("verify-banner").hidden = true;
    showAccountPanel(false);
    for (const id of ["password-form", "delete-form", "key-form"]) $(id).reset();
    $("key-made").hidden = true;
    $("key-value").value = "";
    $("key-list").replaceChildren();
    presets = [];
    showPresets();
    $("preset-name").value = "";
    showSignedIn(false);
  }

  function showAccountPanel(open) {
    $("account-panel").hidden = !open;
    $("account-toggle").setAttribute("aria-expanded", String(open));
  }

  function expired(message) {
    signOut();
    showNotice(`Please log in again: ${message}`);
  }

  function formValues(form) {
    return Object.fromEntries(new FormData(form).entries());
  }

  async function withBusy(button, work) {
    button.disabled = true;
    try { await work(); } finally { button.disabled = false; }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const values = formValues(form);
    withBusy(form.querySelector("button"), async () => {
      try {
        const result = await api("POST", "/api/auth/login", values);
        form.reset();
        signIn(values.username, result.token);
      } catch (err) { showNotice(`Could not log in: ${err.message}`); }
    });
  });

  $("signup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const values = formValues(form);
    withBusy(form.querySelector("button"), async () => {
      try {
        const result = await api("POST", "/api/auth/signup", values);
        form.reset();
        signIn(values.username, result.token);
      } catch (err) { showNotice(`Could not sign up: ${err.message}`); }
    });
  });

  $("logout").addEventListener("click", (event) => {
    withBusy(event.currentTarget, async () => {
      try {
        await api("POST", "/api/auth/logout");  // the token is refused from now on
      } catch (err) { /* revoked or expired already: logged out either way */ }
      signOut();
      showNotice("You are logged out.", "info");
      $("login-username").focus();
    });
  });

  $("verify-resend").addEventListener("click", (event) => {
    withBusy(event.currentTarget, async () => {
      try {
        const sent = await api("POST", "/api/me/email/verify");
        showNotice(`A new link is on its way to ${sent.email}.`, "info");
      } catch (err) {
        if (err.status === 409) loadProfile();
        showNotice(`Could not send the link: ${err.message}`);
      }
    });
  });

  $("account-toggle").addEventListener("click", () => {
    const open = $("account-panel").hidden;
    showAccountPanel(open);
    if (open) { loadProfile(); loadKeys(); $("account-title").scrollIntoView(); }
  });

  $("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const values = formValues(form);
    if (values.newPassword !== values.newPasswordAgain) {
      showNotice("Could not change the password: the new passwords differ");
      return;
    }
    withBusy(form.querySelector("button"), async () => {
      try {
        const body = { oldPassword: values.oldPassword, newPassword: values.newPassword };
        const result = await api("PUT", "/api/me/password", body);
        form.reset();
        const others = result.revokedTokens === 1 ? "1 other session was" : `${result.revokedTokens} other sessions were`;
        showNotice(`Your password is changed; ${others} logged out.`, "info");
      } catch (err) { showNotice(`Could not change the password: ${err.message}`); }
    });
  });

  $("delete-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!$("delete-confirm").checked) {
      showNotice("Tick the box to confirm that everything is to be deleted.");
      return;
    }
    const { password } = formValues(form);
    withBusy(form.querySelector("button"), async () => {
      try {
        const { deleted } = await api("DELETE", "/api/me", { password });
        signOut();
        showNotice(`Your account is deleted, with ${deleted.tasks} conversions and ${deleted.files} stored files.`, "info");
      } catch (err) { showNotice(`Could not delete the account: ${err.message}`); }
    });
  });

  $("notice-close").addEventListener("click", clearNotice);

  // ---- formats and options ------------------------------------------------

  function formatByName(name) { return formats.find((f) => f.name === name); }

  function optionField(id, labelText, control, hint) {
    return el("div", { class: "field" },
      el("label", { for: id, text: labelText }), control,
      hint ? el("small", { id: `${id}-hint`, text: hint }) : null);
  }

  function choiceSelect(id, name, defaultLabel, values, describe) {
    const select = el("select", { id, name });
    select.append(el("option", { value: "", text: defaultLabel }));
    for (const value of values) select.append(el("option", { value: String(value), text: describe(value) }));
    return select;
  }

  function renderOptions() {
    const fmt = formatByName($("format").value);
    const box = $("options");
    box.replaceChildren();
    if (!fmt) return;
    const opts = fmt.options;
    if (opts.quality) {
      box.append(optionField("opt-quality", "Quality",
        choiceSelect("opt-quality", "quality", opts.quality.default,
          opts.quality.values.filter((q) => q !== opts.quality.default), (q) => q)));
    }
    if (opts.bitrate) {
      const input = el("input", {
        id: "opt-bitrate", name: "bitrate", type: "number", inputmode: "numeric",
        min: opts.bitrate.min, max: opts.bitrate.max, step: 1, placeholder: "preset",
        "aria-describedby": "opt-bitrate-hint",
      });
      input.addEventListener("input", () => {
        const quality = $("opt-quality");
        if (quality) quality.disabled = input.value !== "";
      });
      box.append(optionField("opt-bitrate", "Bitrate (kbit/s)", input,
        `${opts.bitrate.min}–${opts.bitrate.max}; replaces the quality preset`));
    }
    if (opts.sampleRate) {
      box.append(optionField("opt-sampleRate", "Sample rate",
        choiceSelect("opt-sampleRate", "sampleRate", "as the input", opts.sampleRate.values,
          (r) => `${(r / 1000).toString()} kHz`)));
    }
    if (opts.channels) {
      const counts = [];
      for (let n = opts.channels.min; n <= opts.channels.max; n += 1) counts.push(n);
      const names = { 1: "1 (mono)", 2: "2 (stereo)" };
      box.append(optionField("opt-channels", "Channels",
        choiceSelect("opt-channels", "channels", "as the input", counts, (n) => names[n] || String(n))));
    }
    if (opts.bitDepth) {
      box.append(optionField("opt-bitDepth", "Bit depth",
        choiceSelect("opt-bitDepth", "bitDepth", "as the input", opts.bitDepth.values,
          (b) => (b === 32 ? "32-bit float" : `${b}-bit`))));
    }
    if (opts.upscale) {
      box.append(optionField("opt-upscale", "Above the input's bitrate",
        choiceSelect("opt-upscale", "upscale", "allowed, warned", ["false"],
          () => "never: cap at the input's")));
    }
    if (opts.gain) {
      box.append(optionField("opt-gain", "Gain tags",
        choiceSelect("opt-gain", "gain", "none", opts.gain.values,
          (g) => (g === "album" ? "album (files sent together)" : "track")),
        "ReplayGain 2.0 (R128 for Opus): players level the volume, the audio stays as it is"));
    }
    if (opts.loudness) {
      box.append(optionField("opt-loudness", "Loudness",
        choiceSelect("opt-loudness", "loudness", "as it is", [-14, -16, -23],
          (l) => `${l} LUFS${l === -23 ? " (EBU R128)" : ""}`)));
    }
    const seconds = [["start", "Start at (s)"], ["end", "End at (s)"],
      ["fadeIn", "Fade in (s)"], ["fadeOut", "Fade out (s)"]];
    for (const [name, label] of seconds) {
      if (!opts[name]) continue;
      box.append(optionField(`opt-${name}`, label, el("input", {
        id: `opt-${name}`, name, type: "number", inputmode: "decimal", min: 0, step: "any",
        placeholder: name === "end" ? "the end" : name === "start" ? "0" : "none",
      })));
    }
    for (const button of document.querySelectorAll("button[data-again]")) {
      button.textContent = `Convert to ${fmt.name}`;
    }
  }

  // The chosen format and the options it accepts that were set.
  function chosen() {
    const values = { newFormat: $("format").value };
    for (const node of $("options").querySelectorAll("input, select")) {
      if (!node.disabled && node.value !== "") values[node.name] = node.value;
    }
    return values;
  }

  async function loadFormats() {
    const result = await api("GET", "/api/formats");
    formats = result.formats;
    const select = $("format");
    select.replaceChildren();
    for (const fmt of formats) {
      const label = `${fmt.name} (.${fmt.extension}${fmt.lossless ? ", lossless" : ""})`;
      select.append(el("option", { value: fmt.name, text: label }));
    }
    select.value = formatByName("mp3") ? "mp3" : formats[0].name;
    renderOptions();
  }

  $("format").addEventListener("change", renderOptions);

  // ---- presets: the current choices saved under a name, and picked again -----

  let presets = [];

  function showPresets(selected) {
    const select = $("preset");
    select.replaceChildren(el("option", { value: "", text: "none" }));
    for (const preset of presets) {
      select.append(el("option", { value: String(preset.id), text: `${preset.name} (${preset.newFormat})` }));
    }
    select.value = selected ? String(selected) : "";
    $("preset-delete").disabled = !select.value;
  }

  async function loadPresets(selected) {
    try {
      presets = await api("GET", "/api/presets");
      showPresets(selected);
    } catch (err) {
      if (err.status !== 401) showNotice(`Could not load your presets: ${err.message}`);
    }
  }

  // Set the form to a preset's format and options (an option the list lacks is added).
  function applyPreset(preset) {
    $("format").value = preset.newFormat;
    renderOptions();
    for (const [name, value] of Object.entries(preset.options || {})) {
      const node = $(`opt-${name}`);
      if (!node) continue;
      const text = String(value);
      if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === text)) {
        node.append(el("option", { value: text, text }));
      }
      node.value = text;
      node.dispatchEvent(new Event("input"));
    }
    $("preset-name").value = preset.name;
  }

  $("preset").addEventListener("change", () => {
    const preset = presets.find((p) => String(p.id) === $("preset").value);
    $("preset-delete").disabled = !preset;
    if (preset) applyPreset(preset);
  });

  $("preset-save").addEventListener("click", (event) => {
    const name = $("preset-name").value.trim();
    if (!name) {
      showNotice("Give the preset a name first.");
      $("preset-name").focus();
      return;
    }
    withBusy(event.currentTarget, async () => {
      const body = { name, ...chosen() };
      const same = presets.find((p) => p.name === name);
      try {
        const saved = same
          ? await api("PUT", `/api/presets/${same.id}`, body)
          : await api("POST", "/api/presets", body);
        await loadPresets(saved.id);
        showNotice(`Preset ${saved.name} ${same ? "updated" : "saved"}: pick it to use these choices again.`, "info");
      } catch (err) {
        showNotice(`Could not save the preset: ${err.message}`);
      }
    });
  });

  $("preset-delete").addEventListener("click", (event) => {
    const preset = presets.find((p) => String(p.id) === $("preset").value);
    if (!preset) return;
    withBusy(event.currentTarget, async () => {
      try {
        await api("DELETE", `/api/presets/${preset.id}`);
        await loadPresets();
        showNotice(`Preset ${preset.name} deleted.`, "info");
      } catch (err) {
        showNotice(`Could not delete the preset: ${err.message}`);
      }
    });
  });

  // ---- API keys (in the account panel) ----------------------------------------

  function when(iso) { return iso ? new Date(iso).toLocaleString() : "never"; }

  function showKeys(keys) {
    const list = $("key-list");
    list.replaceChildren();
    for (const key of keys) {
      const revoke = el("button", { type: "button", class: "danger", text: "Revoke",
        "aria-label": `Revoke key ${key.name}` });
      revoke.addEventListener("click", () => withBusy(revoke, async () => {
        try {
          await api("DELETE", `/api/keys/${key.id}`);
          showNotice(`Key ${key.name} is revoked: it is refused from now on.`, "info");
          await loadKeys();
        } catch (err) {
          showNotice(`Could not revoke the key: ${err.message}`);
        }
      }));
      list.append(el("li", {},
        el("span", {}, el("strong", { text: key.name }), " ", el("code", { text: `${key.prefix}…` })),
        el("span", { class: "muted", text: `may ${key.scopes.join(", ")}; last used: ${when(key.lastUsedAt)}` }),
        revoke));
    }
    $("keys-empty").hidden = keys.length > 0;
  }

  async function loadKeys() {
    try {
      showKeys(await api("GET", "/api/keys"));
    } catch (err) {
      if (err.status !== 401) showNotice(`Could not load your API keys: ${err.message}`);
    }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const values = formValues(event.currentTarget);
    if (!values.name.trim()) {
      showNotice("Say what the key is for (its name).");
      $("key-name").focus();
      return;
    }
    withBusy(event.submitter, async () => {
      try {
        const made = await api("POST", "/api/keys", { name: values.name, scopes: [values.scope] });
        $("key-value").value = made.key;
        $("key-made").hidden = false;
        $("key-name").value = "";
        $("key-value").select();
        await loadKeys();
      } catch (err) {
        showNotice(`Could not make the key: ${err.message}`);
      }
    });
  });

  // ---- tasks --------------------------------------------------------------

  function statusBadge(text) { return el("span", { class: `status ${text}`, text }); }

  function progressRow(value, label) {
    const bar = el("progress", { max: 100, value: Math.max(0, Math.min(100, value)) });
    bar.setAttribute("aria-label", label);
    return el("div", { class: "progress" }, bar, el("span", { text: label }));
  }

  function depthName(sampleFormat) {
    const bits = sampleFormat.replace(/^[a-z]+/, "");
    return sampleFormat.startsWith("f") ? `${bits}-bit float` : `${bits}-bit`;
  }

  // What the conversion proved (verified), could not say (exact length) and warns of.
  function fidelityNotes(task) {
    const notes = [];
    if (task.verified) {
      notes.push(el("p", { class: "verified", text: "✓ Verified: the output decodes to the input's very samples" }));
    }
    const warnings = task.warnings || [];
    if (warnings.length) {
      notes.push(el("ul", { class: "warnings", "aria-label": "Warnings" },
        ...warnings.map((w) => el("li", { text: `⚠ ${w}` }))));
    }
    if (task.exactLength === false && task.exactLengthReason) {
      notes.push(el("p", { class: "muted", text: `Length not exact: ${task.exactLengthReason}` }));
    }
    return notes;
  }

  function detailsTable(task, sizes) {
    const input = task.input || {};
    const output = task.output || {};
    const rows = [
      ["Format", (p) => p.format],
      ["Codec", (p) => p.codec],
      ["Duration", (p) => (p.duration === undefined ? undefined : seconds(p.duration))],
      ["Bitrate", (p) => (p.bitrate ? `${Math.round(p.bitrate / 1000)} kbit/s` : undefined)],
      ["Sample rate", (p) => (p.sampleRate ? `${p.sampleRate} Hz` : undefined)],
      ["Channels", (p) => p.channels],
      ["Bit depth", (p) => (p.sampleFormat ? depthName(p.sampleFormat) : undefined)],
      ["Loudness", (p) => (p.loudness ? `${p.loudness.integrated.toFixed(1)} LUFS` : p.loudnessReason)],
      ["Loudness range", (p) => (p.loudness ? `${p.loudness.range.toFixed(1)} LU` : undefined)],
      ["True peak", (p) => (p.loudness ? `${p.loudness.truePeak.toFixed(1)} dBTP` : undefined)],
    ];
    const body = el("tbody");
    for (const [name, pick] of rows) {
      const a = pick(input);
      const b = pick(output);
      body.append(el("tr", {}, el("th", { scope: "row", text: name }),
        el("td", { text: a === undefined || a === null ? "–" : String(a) }),
        el("td", { text: b === undefined || b === null ? "–" : String(b) })));
    }
    body.append(el("tr", {}, el("th", { scope: "row", text: "Size" }),
      el("td", { text: bytes(sizes.original) }), el("td", { text: bytes(sizes.converted) })));
    return el("table", { class: "details" },
      el("caption", { class: "visually-hidden", text: `Details of ${task.fileName}` }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" },
        el("span", { class: "visually-hidden", text: "Detail" })),
        el("th", { scope: "col", text: "Input" }), el("th", { scope: "col", text: "Output" }))),
      body);
  }

  // Sizes come from the download routes' Content-Length (HEAD), once per file.
  async function fetchSize(card, which) {
    const url = card.task.links[which];
    if (!url || card.sizes[`${which}Url`] === url) return;
    card.sizes[`${which}Url`] = url;
    try {
      const response = await fetch(url, { method: "HEAD", headers: { Authorization: `Bearer ${token()}` } });
      if (response.ok) {
        card.sizes[which] = Number(response.headers.get("Content-Length"));
        renderTask(card);
      }
    } catch (err) { /* the size is a nicety: leave it as "–" */ }
  }

  function cardFor(task) {
    let card = cards.get(task.id);
    if (!card) {
      card = { li: el("li", { class: "task", "data-task": task.id }), task, sizes: {} };
      cards.set(task.id, card);
    }
    card.task = task;
    return card;
  }

  function renderTask(card) {
    const task = card.task;
    const fmt = formatByName($("format").value);
    const head = el("div", { class: "task-head" },
      el("h3", { text: task.fileName }),
      el("span", {}, `→ ${task.newFormat} `, statusBadge(task.status)));
    const parts = [head];
    const asked = Object.entries(task.options || {});
    if (asked.length) {
      const units = { bitrate: " kbit/s", sampleRate: " Hz" };
      const text = asked.map(([k, v]) => `${k} ${v}${units[k] || ""}`).join(", ");
      parts.push(el("p", { class: "muted asked", text: `Asked for: ${text}` }));
    }
    if (["processing", "uploaded", "downloading"].includes(task.status)) {
      const pct = task.progress || 0;
      const doing = task.status === "downloading" ? "fetching the file" : "converting";
      parts.push(progressRow(pct, task.status === "uploaded" ? "waiting…" : `${doing} ${pct.toFixed(0)}%`));
    }
    if (task.status === "failed" && task.error) parts.push(el("p", { class: "error", text: task.error }));
    if (task.status === "processed" && task.albumGain === "due") {
      parts.push(el("p", { class: "muted album-gain", text: "Album gain: written once every track of the album is converted…" }));
    }
    parts.push(...fidelityNotes(task));
    parts.push(detailsTable(task, card.sizes));
    if (task.links.waveform && card.waveform && card.waveform.image && card.waveform.url === task.links.waveform) {
      parts.push(el("img", {
        class: "waveform", src: card.waveform.image, width: 1200, height: 320,
        alt: `Waveforms of ${task.fileName}: the input above, the output below`,
      }));
    }
    const actions = el("div", { class: "actions" });
    if (task.status === "processed" && task.links.converted) {
      actions.append(el("button", {
        type: "button", text: `Download ${task.outputFileName}`, onclick: () => download(card),
      }));
    }
    actions.append(el("button", {
      type: "button", class: "secondary", "data-again": "1", text: `Convert to ${fmt ? fmt.name : "…"}`,
      onclick: (event) => convertAgain(card, event.currentTarget),
    }));
    const del = el("button", { type: "button", class: "danger", text: "Delete" });
    del.addEventListener("click", () => removeTask(card, del));
    actions.append(del);
    parts.push(actions);
    if (card.message) parts.push(el("p", { class: "error", role: "status", text: card.message }));
    const focused = card.li.contains(document.activeElement) ? document.activeElement.textContent : null;
    card.li.replaceChildren(...parts);
    card.li.classList.remove("pending");
    if (focused) {
      const again = [...card.li.querySelectorAll("button")].find((b) => b.textContent === focused);
      if (again) again.focus();
    }
    if (task.status === "processed") fetchSize(card, "converted");
    fetchSize(card, "original");
    fetchWaveform(card);
  }

  // The waveform picture needs the token, so it is fetched and shown from a blob URL.
  async function fetchWaveform(card) {
    const url = card.task.links.waveform;
    if (!url || (card.waveform && card.waveform.url === url)) return;
    if (card.waveform) URL.revokeObjectURL(card.waveform.image);
    card.waveform = { url, image: "" };
    try {
      const response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
      if (!response.ok) { card.waveform = null; return; }
      card.waveform.image = URL.createObjectURL(await response.blob());
      renderTask(card);
    } catch (err) { card.waveform = null; /* a nicety: the card works without it */ }
  }

  // Show a task: in place if it has a card, else where an upload's placeholder was,
  // else at the top (a new upload) or the bottom (a listed older task).
  function showTask(task, before, atEnd) {
    const card = cardFor(task);
    if (!card.li.isConnected) {
      if (before && before.isConnected) before.replaceWith(card.li);
      else if (atEnd) $("tasks").append(card.li);
      else $("tasks").prepend(card.li);
    }
    renderTask(card);
    $("empty").hidden = true;
    schedulePoll();
  }

  // Merge the server's list with what is shown: uploads still running, and tasks
  // created after the list was read, stay.
  async function loadTasks() {
    const known = new Set(cards.keys());
    try {
      const list = await api("GET", "/api/tasks?order=1");
      const listed = new Set(list.map((t) => t.id));
      for (const id of known) {
        const card = cards.get(id);
        if (card && !listed.has(id)) { card.li.remove(); cards.delete(id); }
      }
      for (const task of list) showTask(task, null, true);
      $("empty").hidden = $("tasks").children.length > 0;
    } catch (err) { if (token()) showNotice(`Could not load your files: ${err.message}`); }
  }

  // Still changing: converting, or converted with its report (loudness, waveform) to come.
  function pending(task) {
    return ["uploaded", "downloading", "processing"].includes(task.status) || task.report === "due"
      || task.albumGain === "due";
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    const busy = [...cards.values()].some((c) => pending(c.task));
    if (busy && token()) pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    for (const card of cards.values()) {
      if (!pending(card.task)) continue;
      try {
        card.task = await api("GET", `/api/tasks/${card.task.id}`);
        card.message = null;
      } catch (err) {
        if (err.status === 404) { card.li.remove(); cards.delete(card.task.id); continue; }
        card.message = err.message;
      }
      renderTask(card);
    }
    schedulePoll();
  }

  async function download(card) {
    const task = card.task;
    try {
      const response = await fetch(task.links.converted, { headers: { Authorization: `Bearer ${token()}` } });
      if (!response.ok) {
        let data = null;
        try { data = await response.json(); } catch (err) { data = null; }
        throw new Error(messageOf(response.status, data, "download failed"));
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: task.outputFileName, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      card.message = null;
    } catch (err) {
      card.message = `Could not download: ${err.message}`;
      renderTask(card);
    }
  }

  async function convertAgain(card, button) {
    button.disabled = true;
    try {
      card.task = await api("PUT", `/api/tasks/${card.task.id}`, chosen());
      card.message = null;
      card.sizes.convertedUrl = null;
      card.sizes.converted = null;
    } catch (err) {
      card.message = `Could not convert again: ${err.message}`;
    }
    renderTask(card);
    schedulePoll();
  }

  async function removeTask(card, button) {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Really delete?";
      setTimeout(() => { if (button.isConnected) { button.classList.remove("armed"); button.textContent = "Delete"; } }, 5000);
      return;
    }
    try {
      await api("DELETE", `/api/tasks/${card.task.id}`);
      const next = card.li.nextElementSibling || card.li.previousElementSibling;
      card.li.remove();
      cards.delete(card.task.id);
      $("empty").hidden = $("tasks").children.length > 0;
      const target = next ? next.querySelector("button") : $("format");
      target.focus();
    } catch (err) {
      card.message = `Could not delete: ${err.message}`;
      renderTask(card);
    }
  }

  // ---- uploads ------------------------------------------------------------

  // The card of files being sent: a progress bar with its label, and `fail`, which
  // shows the reason instead, with a button to dismiss the card.
  function uploadCard(title, fileName, newFormat) {
    const li = el("li", { class: "task pending" });
    const bar = el("progress", { max: 100, value: 0, "aria-label": `uploading ${fileName}` });
    const label = el("span", { text: "0%" });
    const head = (status) => el("div", { class: "task-head" }, el("h3", { text: title }),
      el("span", {}, `→ ${newFormat} `, statusBadge(status)));
    li.append(head("uploading"), el("div", { class: "progress" }, bar, label));
    $("tasks").prepend(li);
    $("empty").hidden = true;
    const progress = (sent, total, note) => {
      const pct = total ? (100 * sent) / total : 100;
      bar.value = pct;
      label.textContent = `${pct.toFixed(0)}% of ${bytes(total)}${note || ""}`;
    };
    const fail = (message) => {
      li.classList.remove("pending");
      li.replaceChildren(
        head("failed"),
        el("p", { class: "error", text: message }),
        el("div", { class: "actions" }, el("button", {
          type: "button", class: "secondary", text: "Dismiss",
          onclick: () => { li.remove(); $("empty").hidden = $("tasks").children.length > 0; $("format").focus(); },
        })));
    };
    return { li, progress, fail };
  }

  // POST a form with files to /api/tasks, its progress on `card`: `created` gets the
  // answer's body (201), anything else fails the card with the server's reason. Until
  // it ends it is in `uploads`, which logging out aborts.
  function postFiles(form, card, created) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/tasks");
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) card.progress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201 && xhr.response) {
        created(xhr.response);
      } else {
        if (xhr.status === 401) expired(messageOf(xhr.status, xhr.response, "not logged in"));
        card.fail(`Not converted: ${messageOf(xhr.status, xhr.response, "upload refused")}`);
      }
    });
    xhr.addEventListener("error", () => card.fail(`Not uploaded: ${messageOf(0)}`));
    xhr.addEventListener("loadend", () => uploads.delete(xhr));
    uploads.add(xhr);
    xhr.send(form);
  }

  function uploadFile(file, values, batchId) {
    const card = uploadCard(file.name, file.name, values.newFormat);
    if (file.size > RESUMABLE_BYTES && window.tus && window.tus.isSupported) {
      resumableUpload(file, values, batchId, card);
      return;
    }
    const form = new FormData();
    form.append("fileName", file, file.name);
    for (const [key, value] of Object.entries(values)) form.append(key, value);
    if (batchId) form.append("batch", String(batchId));
    postFiles(form, card, (task) => showTask(task, card.li));
  }

  // An album as one audio file and its cue sheet, sent together in one request: the
  // server cuts it into its tracks, a task each in one batch (named for the album).
  function uploadAlbum(audio, sheet, values) {
    const card = uploadCard(`${audio.name} + ${sheet.name}`, audio.name, values.newFormat);
    const form = new FormData();
    form.append("fileName", audio, audio.name);
    form.append("fileName", sheet, sheet.name);
    for (const [key, value] of Object.entries(values)) form.append(key, value);
    postFiles(form, card, (batch) => {
      card.li.remove();
      for (const task of [...batch.tasks].reverse()) showTask(task);
      showBatch(batch.id, batch.tasks.length, batch.name, "album");
    });
  }

  // A large file goes as a resumable (tus) upload: a dropped connection is retried
  // from the server's offset, and the same file dropped again after a reload goes on
  // where it stopped (tus-js-client remembers its upload URL in localStorage).
  const RESUMABLE_BYTES = 8 * 1024 * 1024;
  const TUS_RETRY_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

  function resumableUpload(file, values, batchId, card) {
    const metadata = { filename: file.name, ...values };
    if (batchId) metadata.batch = String(batchId);
    const handle = { abort: () => upload.abort() };
    const upload = new window.tus.Upload(file, {
      endpoint: "/api/uploads/tus",
      headers: { Authorization: `Bearer ${token()}` },
      metadata,
      chunkSize: 16 * 1024 * 1024,  // under App Engine's 32 MB request limit
      retryDelays: TUS_RETRY_MS,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => card.progress(sent, total, " (resumable)"),
      onError: (err) => {
        uploads.delete(handle);
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        let body = null;
        try { body = JSON.parse(err.originalResponse.getBody()); } catch (e) { body = null; }
        if (status === 401) expired(messageOf(status, body, "not logged in"));
        card.fail(`Not uploaded: ${messageOf(status, body, err.message)}`);
      },
      onSuccess: async () => {
        uploads.delete(handle);
        const id = upload.url.split("/").pop();
        try {
          let task = null;
          while (!task) {
            const response = await fetch(`/api/uploads/${id}`, { headers: { Authorization: `Bearer ${token()}` } });
            if (response.status === 200) task = await response.json();
            else if (response.status !== 202) throw new Error(messageOf(response.status, await response.json(), "upload refused"));
            else await new Promise((resolve) => setTimeout(resolve, 500));
          }
          showTask(task, card.li);
        } catch (err) {
          card.fail(`Not converted: ${err.message}`);
        }
      },
    });
    uploads.add(handle);
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  // Several files at once go into one batch, which downloads as one ZIP.
  async function uploadFiles(files) {
    if (!token()) { showNotice("Log in first, then drop your files."); return; }
    if (!formats.length) { showNotice("The list of formats has not loaded yet; try again in a moment."); return; }
    const values = chosen();
    const sheets = files.filter((f) => f.name.toLowerCase().endsWith(".cue"));
    if (sheets.length) {
      const audio = files.filter((f) => !sheets.includes(f));
      if (sheets.length === 1 && audio.length === 1) { uploadAlbum(audio[0], sheets[0], values); return; }
      showNotice("Drop a cue sheet together with its one audio file (the whole album).");
      return;
    }
    let batch = null;
    if (files.length > 1) {
      try {
        batch = await api("POST", "/api/batches", {});
      } catch (err) {
        showNotice(`Could not start a batch (the files are sent one by one): ${err.message}`);
      }
    }
    for (const file of files) uploadFile(file, values, batch && batch.id);
    if (batch) showBatch(batch.id, files.length);
  }

  function showBatch(id, count, name, layout) {
    const button = el("button", { type: "button", class: "secondary", text: "Download all as ZIP" });
    const what = name ? `${name}: ${count} tracks` : `${count} files sent together`;
    const row = el("p", { class: "batch" }, `${what} (batch ${id}) `, button);
    button.addEventListener("click", () => downloadZip(id, button, layout || "flat"));
    $("batches").prepend(row);
  }

  async function downloadZip(id, button, layout) {
    button.disabled = true;
    try {
      const response = await fetch(`/api/batches/${id}/zip?layout=${layout}`, { headers: { Authorization: `Bearer ${token()}` } });
      if (!response.ok) {
        let data = null;
        try { data = await response.json(); } catch (err) { data = null; }
        throw new Error(messageOf(response.status, data, "download failed"));
      }
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: `batch-${id}.zip`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      showNotice(`Could not download the ZIP: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  $("file-input").addEventListener("change", (event) => {
    uploadFiles([...event.currentTarget.files]);
    event.currentTarget.value = "";
  });

  // Drop anywhere on the page.
  let dragDepth = 0;
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    document.body.classList.remove("dragging");
    const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (files.length) uploadFiles(files);
  });

  $("refresh").addEventListener("click", loadTasks);

  // ---- start --------------------------------------------------------------

  window.addEventListener("error", (event) => showNotice(`Something went wrong on this page: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    showNotice(`Something went wrong: ${event.reason && event.reason.message ? event.reason.message : event.reason}`);
  });

  async function start() {
    showSignedIn(Boolean(token()));
    try {
      await loadFormats();
    } catch (err) {
      showNotice(`Could not load the list of formats: ${err.message}`);
    }
    if (token()) { loadTasks(); loadProfile(); loadPresets(); }
  }

  start();
})();
