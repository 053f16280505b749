// radiolatent explorer: plain JavaScript, no build step, nothing loaded from the network.
// The page talks to the JSON endpoints of explore/server.py (see docs/explore.md).
"use strict";

// ---------------------------------------------------------------------------
// palettes (matplotlib's tab10 / tab20 and viridis, so the page matches `radiolatent map`)
// ---------------------------------------------------------------------------
const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const TAB20 = ["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
  "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5"];
// viridis from 8 % up: its darkest purple vanishes on the dark map
const VIRIDIS = ["#481d6f", "#424186", "#33628d", "#277e8e", "#1f9a8a", "#31b57b", "#69cd5b", "#b2dd2d", "#fde725"];
const UNKNOWN = "#3b414c";
// short names of the model scores in the selected source's table
const SCORE_NAMES = {anomaly: "anomaly (iforest)", al_score: "AL score", loglik: "log-likelihood"};
const BINS = 64;  // continuous colours are drawn in this many bins (one fillStyle each)

const state = {
  info: null,
  ids: [], x: new Float32Array(0), y: new Float32Array(0), hover: {},
  colour: null,          // {name, kind, values, categories | min/max, lo/hi}
  pointColour: null,     // Int16Array per point: palette index (categorical) or bin (continuous), -1 unknown
  drawOrder: null,       // Int32Array of point indices grouped by colour, in drawing order
  groups: [],            // [{colour, start, end}] slices of drawOrder, unknown first
  labels: {},            // id -> score
  selected: null,        // id shown in the detail panel, target of keys 0-5
  query: null,           // id whose similar sources are shown (null for a dropped file)
  neighbours: [],        // result rows of the last search
  tile: -1,              // position of the selected tile in the grid (-1: the query)
  list: [], listIndex: -1, listBy: "acquisition",
  view: {scale: 1, ox: 0, oy: 0},
  hoverIndex: -1,
};

// ---------------------------------------------------------------------------
// small helpers
// ---------------------------------------------------------------------------
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
};
const thumbUrl = (id) => "/api/thumb/" + encodeURIComponent(id);
const fmt = (v, digits = 3) => {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
  }
  return String(v);
};
const badge = (score) => score === undefined || score === null ? null
  : el("span", {class: "badge s" + Math.round(score), text: String(Math.round(score)), title: "your score"});

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
    : response.statusText);
  return body;
}

function status(text, kind = "") {
  const node = $("#status");
  node.textContent = text;
  node.className = kind;
}

// ---------------------------------------------------------------------------
// the map: a canvas scatter with pan and zoom
// ---------------------------------------------------------------------------
const canvas = $("#map");
const ctx = canvas.getContext("2d");

function resizeCanvas() {
  const ratio = window.devicePixelRatio || 1;
  const box = canvas.getBoundingClientRect();
  canvas.width = Math.max(1, Math.round(box.width * ratio));
  canvas.height = Math.max(1, Math.round(box.height * ratio));
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
}

function fitView() {
  const box = canvas.getBoundingClientRect();
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < state.x.length; i++) {
    x0 = Math.min(x0, state.x[i]); x1 = Math.max(x1, state.x[i]);
    y0 = Math.min(y0, state.y[i]); y1 = Math.max(y1, state.y[i]);
  }
  const scale = 0.9 * Math.min(box.width / Math.max(x1 - x0, 1e-9), box.height / Math.max(y1 - y0, 1e-9));
  // y grows upwards on the map, downwards on the screen
  state.view = {scale, ox: box.width / 2 - scale * (x0 + x1) / 2, oy: box.height / 2 + scale * (y0 + y1) / 2};
  state.baseScale = scale;
}

const toScreen = (i) => [state.view.ox + state.view.scale * state.x[i], state.view.oy - state.view.scale * state.y[i]];

// points grouped by colour once per colouring (a counting sort), so a frame allocates nothing
function groupPoints() {
  const n = state.x.length, colours = state.pointColour ?? new Int16Array(n).fill(-1);
  let top = 0;
  for (let i = 0; i < n; i++) top = Math.max(top, colours[i]);
  const counts = new Int32Array(top + 2);  // slot 0: unknown (-1)
  for (let i = 0; i < n; i++) counts[colours[i] + 1]++;
  // unknown first, then towards the interesting end, which is drawn last (on top)
  const lowOnTop = state.colour?.interesting === "low";
  const slots = [0, ...Array.from({length: top + 1}, (_, k) => lowOnTop ? top + 1 - k : k + 1)];
  const start = new Int32Array(top + 2);
  const groups = [];
  let at = 0;
  for (const slot of slots) {
    start[slot] = at;
    if (counts[slot]) groups.push({colour: slot - 1, start: at, end: at + counts[slot]});
    at += counts[slot];
  }
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[start[colours[i] + 1]++] = i;
  state.drawOrder = order;
  state.groups = groups;
}

function pointRadius() {
  const zoom = state.view.scale / (state.baseScale || state.view.scale);
  const crowd = state.x.length > 5000 ? 1.6 : state.x.length > 1000 ? 2.2 : 3.2;
  return Math.min(7, crowd * Math.sqrt(Math.max(zoom, 1)));
}

let drawPending = false;
function draw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawNow(); });
}

function drawNow() {
  const box = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, box.width, box.height);
  const r = pointRadius();
  const palette = colourPalette();
  if (!state.drawOrder) groupPoints();
  const {x, y, drawOrder} = state, {scale, ox, oy} = state.view, w = box.width, h = box.height;
  // one path per colour; small points as squares (a circle of 1-2 px looks the same and
  // costs far more), so 100,000 points draw and pan at frame rate
  const square = r < 2.5, side = 2 * r;
  for (const {colour, start, end} of state.groups) {
    ctx.fillStyle = colour < 0 ? UNKNOWN : palette[colour];
    ctx.beginPath();
    for (let k = start; k < end; k++) {
      const i = drawOrder[k], sx = ox + scale * x[i], sy = oy - scale * y[i];
      if (sx < -r || sy < -r || sx > w + r || sy > h + r) continue;
      if (square) {
        ctx.rect(sx - r, sy - r, side, side);
      } else {
        ctx.moveTo(sx + r, sy);
        ctx.arc(sx, sy, r, 0, 2 * Math.PI);
      }
    }
    ctx.fill();
  }
  drawMarks(r);
}

function drawMarks(r) {
  // labelled sources: a thin white ring; similar sources: blue; the query / selection: amber
  ring(Object.keys(state.labels), r + 1.5, "rgba(255,255,255,0.75)", 1);
  ring(state.neighbours.map((n) => n.id), r + 3, "#4fc3f7", 2);
  if (state.query) ring([state.query], r + 6, "#ffb347", 2.5);
  if (state.selected && state.selected !== state.query) ring([state.selected], r + 6, "#4fc3f7", 2.5);
  if (state.hoverIndex >= 0) {
    const [sx, sy] = toScreen(state.hoverIndex);
    ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(sx, sy, r + 4, 0, 2 * Math.PI); ctx.stroke();
  }
}

function ring(ids, radius, colour, width) {
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.beginPath();
  for (const id of ids) {
    const i = state.index.get(id);
    if (i === undefined) continue;
    const [sx, sy] = toScreen(i);
    ctx.moveTo(sx + radius, sy);
    ctx.arc(sx, sy, radius, 0, 2 * Math.PI);
  }
  ctx.stroke();
}

function nearestPoint(px, py, within = 10) {
  let best = -1, bestD = within * within;
  const {x, y} = state, {scale, ox, oy} = state.view;
  for (let i = 0; i < x.length; i++) {
    const dx = ox + scale * x[i] - px, dy = oy - scale * y[i] - py;
    const d = dx * dx + dy * dy;
    if (d < bestD) { bestD = d; best = i; }
  }
  return best;
}

function setupMapEvents() {
  let drag = null;
  canvas.addEventListener("mousedown", (e) => {
    drag = {x: e.clientX, y: e.clientY, ox: state.view.ox, oy: state.view.oy, moved: false};
  });
  window.addEventListener("mousemove", (e) => {
    if (drag) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      state.view.ox = drag.ox + dx; state.view.oy = drag.oy + dy;
      $("#tooltip").hidden = true;
      draw();
    }
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const wasClick = !drag.moved && e.target === canvas;
    drag = null;
    canvas.classList.remove("dragging");
    if (wasClick) {
      const box = canvas.getBoundingClientRect();
      const i = nearestPoint(e.clientX - box.left, e.clientY - box.top);
      if (i >= 0) selectQuery(state.ids[i]);
    }
  });
  canvas.addEventListener("mousemove", (e) => {
    if (drag) return;
    const box = canvas.getBoundingClientRect();
    const i = nearestPoint(e.clientX - box.left, e.clientY - box.top);
    if (i !== state.hoverIndex) { state.hoverIndex = i; draw(); }
    showTooltip(i, e.clientX - box.left, e.clientY - box.top);
  });
  canvas.addEventListener("mouseleave", () => { state.hoverIndex = -1; $("#tooltip").hidden = true; draw(); });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = canvas.getBoundingClientRect();
    const px = e.clientX - box.left, py = e.clientY - box.top;
    const factor = Math.exp(-e.deltaY * 0.0015);
    // zoom about the cursor: the point under it stays put
    state.view.ox = px - (px - state.view.ox) * factor;
    state.view.oy = py - (py - state.view.oy) * factor;
    state.view.scale *= factor;
    draw();
  }, {passive: false});
  $("#reset-view").addEventListener("click", () => { fitView(); draw(); });
  new ResizeObserver(() => { resizeCanvas(); if (!state.baseScale) fitView(); draw(); }).observe(canvas);
}

function showTooltip(i, px, py) {
  const tip = $("#tooltip");
  if (i < 0) { tip.hidden = true; return; }
  const id = state.ids[i];
  const img = tip.querySelector("img");
  if (img.dataset.id !== id) { img.src = thumbUrl(id); img.dataset.id = id; }
  const text = tip.querySelector(".tip-text");
  text.replaceChildren(el("b", {text: id}), el("br"));
  for (const [name, values] of Object.entries(state.hover)) {
    text.append(`${name}: ${fmt(values[i], 1)}`, el("br"));
  }
  if (state.colour && !(state.colour.name in state.hover)) {
    text.append(`${state.colour.title}: ${colourText(i)}`, el("br"));
  }
  if (state.labels[id] !== undefined) text.append("your score: ", badge(state.labels[id]));
  tip.hidden = false;
  const wrap = $("#map-wrap").getBoundingClientRect();
  const left = px + 16 + 340 > wrap.width ? px - 16 - tip.offsetWidth : px + 16;
  tip.style.left = Math.max(4, left) + "px";
  tip.style.top = Math.min(Math.max(4, py - 20), wrap.height - tip.offsetHeight - 4) + "px";
}

// ---------------------------------------------------------------------------
// colouring and legend
// ---------------------------------------------------------------------------
function colourPalette() {
  if (!state.colour) return [];
  if (state.colour.kind === "categorical") return state.colour.categories.length > 10 ? TAB20 : TAB10;
  return Array.from({length: BINS}, (_, b) => interpolate(continuousStops(), b / (BINS - 1)));
}

// the interesting end of a column (low log-likelihood, high anomaly score) gets the bright colour
const continuousStops = () => state.colour?.interesting === "low" ? [...VIRIDIS].reverse() : VIRIDIS;

function interpolate(stops, t) {
  const pos = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, stops.length - 1), f = pos - lo;
  const a = hexRgb(stops[lo]), b = hexRgb(stops[hi]);
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
}
const hexRgb = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const pos = q * (sorted.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

async function setColour(name) {
  const column = await api("/api/colour/" + encodeURIComponent(name));
  if (column.kind === "continuous") {
    // 2-98 % range, so a few extreme values do not flatten everyone else into one colour
    const known = column.values.filter((v) => v !== null).sort((a, b) => a - b);
    column.lo = quantile(known, 0.02); column.hi = quantile(known, 0.98);
    if (!(column.hi > column.lo)) { column.lo = column.min; column.hi = column.max > column.min ? column.max : column.min + 1; }
    state.pointColour = Int16Array.from(column.values, (v) => v === null ? -1
      : Math.round(Math.min(Math.max((v - column.lo) / (column.hi - column.lo), 0), 1) * (BINS - 1)));
  } else {
    const palette = column.categories.length > 10 ? TAB20 : TAB10;
    state.pointColour = Int16Array.from(column.values, (c) => c < 0 ? -1 : c % palette.length);
  }
  state.colour = column;
  groupPoints();
  drawLegend();
  draw();
}

function colourText(i) {
  const c = state.colour, v = c.values[i];
  if (c.kind === "categorical") return v < 0 ? (c.unknown_name || "unknown") : c.categories[v];
  return v === null ? "unknown" : fmt(v);
}

function drawLegend() {
  const c = state.colour, legend = $("#legend");
  legend.replaceChildren(el("div", {class: "title", text: c.title}));
  if (c.kind === "categorical") {
    const palette = colourPalette();
    c.categories.forEach((name, k) => legend.append(el("div", {class: "row"},
      el("span", {class: "swatch", style: `background:${palette[k % palette.length]}`}),
      el("span", {text: name}), el("span", {class: "count", text: `(${c.counts[k]})`}))));
    const unknown = c.values.filter((v) => v < 0).length;
    if (unknown) legend.append(el("div", {class: "row"}, el("span", {class: "swatch", style: `background:${UNKNOWN}`}),
      el("span", {text: c.unknown_name || "unknown"}), el("span", {class: "count", text: `(${unknown})`})));
    return;
  }
  const stops = continuousStops().map((s, k) => `${s} ${(100 * k / (VIRIDIS.length - 1)).toFixed(0)}%`).join(",");
  legend.append(el("div", {class: "bar", style: `background:linear-gradient(to right,${stops})`}),
    el("div", {class: "ticks"}, el("span", {text: "≤ " + fmt(c.lo, 2)}), el("span", {text: fmt((c.lo + c.hi) / 2, 2)}),
      el("span", {text: "≥ " + fmt(c.hi, 2)})));
  const unknown = c.values.filter((v) => v === null).length;
  legend.append(el("div", {class: "note", text: `colours span the 2–98 % range (${fmt(c.min, 2)} … ${fmt(c.max, 2)})`
    + (c.interesting ? ` · ${c.interesting === "low" ? "lowest" : "highest"} drawn brightest, on top` : "")
    + (unknown ? ` · grey: unknown (${unknown})` : "")}));
}

async function loadColumns(fallback) {
  const {columns} = await api("/api/columns");
  const select = $("#colour");
  // the person may have picked a colour while the list was loading: keep their choice
  const keep = select.value || fallback;
  select.replaceChildren();
  // the most useful first: the person's own scores and the models', then the metadata
  const first = ["label_name", "las_arcsec", "dataset", "loglik", "anomaly", "al_score", "interest"];
  columns.sort((a, b) => rankOf(first, a.name) - rankOf(first, b.name));
  for (const column of columns) {
    const option = el("option", {value: column.name, text: column.title});
    if (column.kind === "unavailable") {
      option.disabled = true;
      option.textContent += " (start with --density DIR)";
    }
    select.append(option);
  }
  const wanted = keep && columns.some((c) => c.name === keep && c.kind !== "unavailable") ? keep : columns[0].name;
  select.value = wanted;
  await setColour(wanted);
}
const rankOf = (order, name) => (order.indexOf(name) + order.length + 1) % (order.length + 1);

// ---------------------------------------------------------------------------
// the selected source, its similar sources, dropped files
// ---------------------------------------------------------------------------
async function selectQuery(id) {
  // a new query: show it and search from it
  state.query = id;
  state.tile = -1;
  await Promise.all([showSource(id), searchFrom(id)]);
}

async function showSource(id) {
  state.selected = id;
  draw();
  const source = await api("/api/source/" + encodeURIComponent(id));
  if (state.selected !== id) return;  // the person moved on meanwhile
  const meta = source.metadata;
  const rows = ["dataset", "split", "label_name", "las_arcsec", "ra", "dec", "redshift", "survey", "set", "morphology"]
    .filter((k) => k in meta && meta[k] !== null && meta[k] !== "")
    .map((k) => el("tr", {}, el("td", {text: k}), el("td", {text: fmt(meta[k], k === "ra" || k === "dec" ? 4 : 2)})));
  for (const [name, value] of Object.entries(source.scores)) {
    if (name !== "interest" && value !== null) {
      rows.push(el("tr", {}, el("td", {text: SCORE_NAMES[name] ?? name}), el("td", {text: fmt(value)})));
    }
  }
  const box = $("#selected");
  box.className = "";
  box.replaceChildren(
    el("h2", {text: id}),
    el("img", {src: thumbUrl(id), alt: id}),
    el("table", {}, ...rows),
    scoreBar(id, source.interest),
  );
}

function scoreBar(id, current) {
  const bar = el("div", {class: "scorebar"}, el("span", {class: "label", text: "interest"}));
  for (let s = 0; s <= 5; s++) {
    bar.append(el("button", {class: "s" + s + (current === s ? " on" : ""), text: String(s), "data-score": s,
      title: `score ${s} (key ${s})`, onclick: () => label(id, s)}));
  }
  if (id !== state.query) {
    bar.append(el("button", {class: "search-from", text: "Find similar", title: "search from this source (Enter)",
      onclick: () => selectQuery(id)}));
  }
  return bar;
}

function searchParams() {
  return `k=${state.info.k}&metric=${encodeURIComponent($("#metric").value)}&in=${encodeURIComponent($("#scope").value)}`;
}

async function searchFrom(id) {
  const result = await api(`/api/neighbours/${encodeURIComponent(id)}?${searchParams()}`);
  if (state.query !== id) return;
  showNeighbours(result, `Similar to ${id}`, thumbUrl(id));
}

function showNeighbours(result, title, queryImage) {
  state.neighbours = result.results;
  $("#neighbours-title").textContent = title;
  $("#neighbours-title").title = title;
  const grid = $("#neighbours");
  const scoreName = result.metric === "euclidean-pca" ? "dist" : "sim";
  grid.replaceChildren(tile({id: state.query, label_name: "query"}, queryImage, -1, "query"));
  // codes of one model often share a large common direction: cosine needs four decimals
  const digits = result.metric === "cosine" ? 4 : 3;
  result.results.forEach((r, k) => grid.append(tile(r, thumbUrl(r.id), k, `${scoreName} ${fmt(r.score, digits)}`)));
  markTile();
  draw();
}

function tile(r, src, k, caption) {
  const node = el("div", {class: "tile" + (k < 0 ? " query" : ""), "data-id": r.id ?? "", title: r.id ?? "dropped file",
    onclick: () => { if (r.id) { state.tile = k; markTile(); showSource(r.id); } },
    ondblclick: () => { if (r.id) selectQuery(r.id); }},
  el("img", {src, alt: r.id ?? "query"}),
  k >= 0 ? el("span", {class: "rank", text: "#" + r.rank}) : null,
  badge(r.id ? state.labels[r.id] : undefined),
  el("div", {class: "cap"}, el("span", {class: "score", text: caption}), el("br"),
    document.createTextNode(k < 0 ? (r.id ?? "dropped file") : fmt(r.label_name))));
  return node;
}

function markTile() {
  document.querySelectorAll("#neighbours .tile").forEach((node, position) => {
    node.classList.toggle("current", position - 1 === state.tile && state.tile >= 0);
  });
}

async function searchFile(file) {
  status(`embedding ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  form.append("k", state.info.k);
  form.append("metric", $("#metric").value);
  form.append("in", $("#scope").value);
  try {
    const result = await api("/api/search/upload", {method: "POST", body: form});
    state.query = null;
    state.tile = -1;
    showNeighbours(result, `Similar to ${result.query} (dropped)`, result.preview);
    status(`searched with ${result.query}`, "ok");
    if (result.results.length) { state.tile = 0; markTile(); showSource(result.results[0].id); }
  } catch (error) {
    status(error.message, "error");
  }
}

function setupDrop() {
  const input = $("#drop-input");
  input.addEventListener("change", () => { if (input.files.length) searchFile(input.files[0]); input.value = ""; });
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; document.body.classList.add("dragover"); });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; document.body.classList.remove("dragover"); } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragover");
    if (e.dataTransfer.files.length) searchFile(e.dataTransfer.files[0]);
  });
}

// ---------------------------------------------------------------------------
// labels, lists, retraining
// ---------------------------------------------------------------------------
async function label(id, score) {
  try {
    await api("/api/labels", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({id, score})});
  } catch (error) {
    status(error.message, "error");
    return;
  }
  state.labels[id] = score;
  status(`${id}: interest ${score}`, "ok");
  refreshBadges();
  if (state.selected === id) {
    document.querySelectorAll(".scorebar button[data-score]").forEach((b) => b.classList.toggle("on", +b.dataset.score === score));
  }
  if (state.colour?.name === "interest") await setColour("interest");
  draw();
}

function refreshBadges() {
  $("#labelled-count").textContent = `${Object.keys(state.labels).length} labelled`;
  // list rows keep their badge in a slot; tiles carry it directly (drawn in a corner)
  document.querySelectorAll("#list li[data-id], #neighbours .tile[data-id]").forEach((node) => {
    const slot = node.querySelector(".badge-slot") || node;
    slot.querySelectorAll(":scope > .badge").forEach((old) => old.remove());
    const fresh = badge(state.labels[node.dataset.id]);
    if (fresh) slot.append(fresh);
  });
}

async function loadList(by) {
  state.listBy = by;
  $("#ranking").value = by;
  const result = await api(`/api/ranking?by=${encodeURIComponent(by)}&limit=${state.info.list_length ?? 200}`);
  state.list = result.rows;
  state.listIndex = -1;
  $("#list-message").textContent = result.available ? result.message : result.message || "not available";
  const list = $("#list");
  list.replaceChildren(...result.rows.map((r, k) => listItem(r, k, by)));
  updateFitInfo(result.fitted_on);
}

function listItem(r, k, by) {
  const value = by === "active" ? `predicted ${fmt(r.score, 3)} ± ${fmt(r.spread, 2)}`
    : by === "acquisition" ? (r.score === null ? "first batch" : `EI ${fmt(r.score)}`)
      : by === "loglik" ? `log L ${fmt(r.score, 1)}` : `anomaly ${fmt(r.score)}`;
  const moved = r.moved ? el("span", {class: r.moved > 0 ? "moved-up" : "moved-down",
    text: (r.moved > 0 ? " ▲" : " ▼") + Math.abs(r.moved), title: "places moved since the last retrain"}) : null;
  return el("li", {"data-id": r.id, onclick: () => chooseListItem(k)},
    el("span", {class: "rank", text: String(r.rank)}),
    el("img", {src: thumbUrl(r.id), alt: "", loading: "lazy"}),
    el("div", {}, el("div", {class: "name", text: r.id, title: r.id}),
      el("div", {class: "sub"}, `${fmt(r.label_name)} · ${value}`, moved)),
    el("span", {class: "badge-slot"}, badge(state.labels[r.id])));
}

function chooseListItem(k) {
  if (k < 0 || k >= state.list.length) return;
  state.listIndex = k;
  document.querySelectorAll("#list li").forEach((node, position) => node.classList.toggle("current", position === k));
  document.querySelectorAll("#list li")[k].scrollIntoView({block: "nearest"});
  selectQuery(state.list[k].id);
}

function updateFitInfo(fittedOn) {
  $("#fit-info").textContent = fittedOn ? `model fitted to ${fittedOn} labels` : "no model yet";
}

async function retrain() {
  const button = $("#retrain");
  button.disabled = true;
  status("retraining…");
  try {
    const result = await api("/api/retrain", {method: "POST"});
    status(`refitted to ${result.fitted_on} labels: ranking updated`, "ok");
    await loadList("active");
    await loadColumns();
  } catch (error) {
    status(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// keyboard
// ---------------------------------------------------------------------------
function onKey(e) {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName);
  if (typing) {
    if (e.key === "Escape") document.activeElement.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[0-5]$/.test(e.key) && state.selected) {
    e.preventDefault();
    const fromList = state.listIndex >= 0 && state.list[state.listIndex]?.id === state.selected;
    label(state.selected, Number(e.key)).then(() => { if (fromList) chooseListItem(state.listIndex + 1); });
  } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    chooseListItem(Math.max(0, state.listIndex + (e.key === "ArrowDown" ? 1 : -1)));
  } else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && state.neighbours.length) {
    e.preventDefault();
    state.tile = Math.min(Math.max(-1, state.tile + (e.key === "ArrowRight" ? 1 : -1)), state.neighbours.length - 1);
    markTile();
    const id = state.tile < 0 ? state.query : state.neighbours[state.tile].id;
    if (id) showSource(id);
  } else if (e.key === "Enter" && state.selected && state.selected !== state.query) {
    selectQuery(state.selected);
  } else if (e.key === "r" || e.key === "R") {
    retrain();
  } else if (e.key === "/") {
    e.preventDefault();
    $("#find-input").focus();
  }
}

// ---------------------------------------------------------------------------
// finding an id
// ---------------------------------------------------------------------------
function setupFind() {
  const input = $("#find-input");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const {ids} = await api("/api/find?q=" + encodeURIComponent(input.value));
      $("#find-matches").replaceChildren(...ids.map((id) => el("option", {value: id})));
    }, 150);
  });
  $("#find").addEventListener("submit", async (e) => {
    e.preventDefault();
    const {ids} = await api("/api/find?q=" + encodeURIComponent(input.value));
    if (!ids.length) { status(`no id contains "${input.value}"`, "error"); return; }
    input.blur();
    status(ids.length > 1 && ids[0] !== input.value.trim() ? `${ids.length} matches; showing ${ids[0]}` : `found ${ids[0]}`);
    await selectQuery(ids[0]);
  });
}

// ---------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------
async function start() {
  status("loading…");
  const [info, points, labels] = await Promise.all([api("/api/info"), api("/api/map"), api("/api/labels")]);
  state.info = info;
  // typed arrays: a map of 100,000 points is drawn from them every frame
  Object.assign(state, {ids: points.ids, x: Float32Array.from(points.x, (v) => v ?? NaN),
    y: Float32Array.from(points.y, (v) => v ?? NaN), hover: points.hover, labels: labels.labels});
  state.index = new Map(points.ids.map((id, i) => [id, i]));
  $("#summary").textContent = `${info.codes} · ${info.rows.toLocaleString()} sources · ${info.model} · ${info.dims}-d codes`
    + (info.density ? " · density model loaded" : "");
  $("#map-title").textContent = `UMAP of ${info.rows.toLocaleString()} codes`;
  const metricNames = {"whitened-cosine": "whitened cosine", "cosine": "cosine (raw)", "euclidean-pca": "Euclidean (PCA)"};
  for (const m of info.metrics) $("#metric").append(el("option", {value: m, text: metricNames[m] || m}));
  $("#metric").value = info.metric;
  for (const s of info.scopes) $("#scope").append(el("option", {value: s, text: s === "all" ? "in all rows" : "in " + s}));
  if (!info.density) {
    $("#ranking option[value=loglik]").textContent += " (needs --density)";
  }
  resizeCanvas();
  fitView();
  setupMapEvents();
  setupDrop();
  setupFind();
  document.addEventListener("keydown", onKey);
  $("#ranking").addEventListener("change", (e) => loadList(e.target.value));
  $("#colour").addEventListener("change", (e) => setColour(e.target.value));
  $("#retrain").addEventListener("click", retrain);
  for (const id of ["#metric", "#scope"]) $(id).addEventListener("change", () => { if (state.query) searchFrom(state.query); });
  await loadColumns("label_name");
  await loadList(info.fitted_on ? "active" : "acquisition");
  refreshBadges();
  status(`${Object.keys(state.labels).length} labels loaded`, "ok");
  document.body.dataset.ready = "1";
}

// for tests and the curious: where a source is drawn, in page coordinates
window.explorer = {
  state,
  pointOnScreen(id) {
    const i = state.index.get(id), box = canvas.getBoundingClientRect();
    const [sx, sy] = toScreen(i);
    return {x: box.left + sx, y: box.top + sy};
  },
};

start().catch((error) => status(error.message, "error"));
