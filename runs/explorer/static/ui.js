/* Shared by the explorer's pages: data access (the server's JSON, or the data an exported
 * file embeds), DOM building from text only, Plotly with escaped labels, time helpers. */
"use strict";

window.VPPUI = (function () {
  const VPP = window.VPP = {rendered: null, state: {}, version: null, charts: []};
  const dataEl = document.getElementById("vpp-data");
  const EMBEDDED = dataEl ? JSON.parse(dataEl.textContent) : null;
  const SITE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31"];

  async function api(path) {
    if (EMBEDDED) {
      if (path in EMBEDDED) return EMBEDDED[path];
      throw new Error(`not in this exported file: ${path}`);
    }
    const r = await fetch("api" + path, {cache: "no-store"});
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  /* Plotly reads a few HTML tags in labels: escape every text that came from a run. */
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const fmt = (v, d = 1) => v === null || v === undefined ? "–" :
    typeof v === "number" ? v.toLocaleString("en-US", {maximumFractionDigits: d}) : String(v);
  const link = (href, text) => el("a", {href}, text);
  const runHref = (name, page, arg) => `#/run/${encodeURIComponent(name)}` +
    (page ? `/${page}` : "") + (arg !== undefined ? `/${encodeURIComponent(arg)}` : "");

  async function plot(id, traces, layout) {
    const div = document.getElementById(id);
    const base = {margin: {l: 70, r: 70, t: 10, b: 50}, hovermode: "x unified",
      legend: {orientation: "h", x: 0, y: 1.01, yanchor: "bottom"}, font: {size: 12}};
    await Plotly.newPlot(div, traces, Object.assign(base, layout),
      {displaylogo: false, responsive: true});
    VPP.charts.push(div);
    return div;
  }

  function chartBox(id, title, note) {
    return el("section", {class: "chart"}, el("h3", {}, title),
      note ? el("p", {class: "muted"}, note) : null, el("div", {id, class: "plot"}));
  }


  function shiftTime(t, ms) {
    const d = new Date(t.replace(" ", "T") + (/[zZ]|[+-]\d\d:\d\d$/.test(t) ? "" : "Z"));
    return isoNaive(new Date(d.getTime() + ms).toISOString());
  }
  function isoNaive(t) { return t.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, ""); }

  return {VPP, EMBEDDED, SITE_COLORS, api, el, esc, fmt, link, runHref, plot, chartBox,
    shiftTime, isoNaive};
})();
