/* The sequence diagram of one step: one lane per agent, one arrow per message.
 * Drawn on a canvas that only paints the rows and lanes in view, so a step with thousands
 * of messages scrolls as fast as one with ten. Every text from the trace is painted as
 * canvas text or set as textContent: nothing from a trace is ever parsed as HTML. */
"use strict";

window.VPPSeq = (function () {
  const ROW_H = 22, LEFT = 84, HEAD = 52;
  let LANE_W = 132;
  const DROP = 1, DECLINE = 2, REAWARD = 4, NO_RECEIVE = 8, NO_SEND = 16, BROADCAST = 32;
  const PALETTE = {
    CallForBids: "#1f77b4", Bid: "#2ca02c", Award: "#ff7f0e", Accept: "#17becf",
    Decline: "#d62728", StepCleared: "#7f7f7f", AdmmRound: "#9467bd",
    AdmmSchedule: "#8c564b", AdmmDone: "#e377c2", FrequencySample: "#1f77b4",
    FrequencyResponse: "#2ca02c",
  };
  const EXTRA = ["#bcbd22", "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#ffbb78", "#393b79"];

  function kindColor(kinds) {
    let next = 0;
    return kinds.map((k) => PALETTE[k] || EXTRA[next++ % EXTRA.length]);
  }

  function short(address) {
    const i = address.indexOf("/");
    return i >= 0 ? address.slice(i + 1) : address;
  }

  /* Build the view: toolbar filters, the scrolling canvas, the detail panel. */
  function mount(root, data, opts) {
    const colors = kindColor(data.kinds);
    const state = Object.assign({round: "all", agent: "all", kinds: new Set(data.kinds),
      selected: -1}, opts.state || {});
    if (!(state.kinds instanceof Set)) state.kinds = new Set(data.kinds);
    const el = (tag, attrs, ...kids) => {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v);
      }
      for (const c of kids) e.append(c);
      return e;
    };

    const roundSel = el("select", {id: "seq-round", "aria-label": "round"},
      el("option", {value: "all"}, "all rounds"),
      ...data.rounds.map((r) => el("option", {value: String(r)}, `round ${r}`)));
    roundSel.value = String(state.round);
    const agentSel = el("select", {id: "seq-agent", "aria-label": "agent"},
      el("option", {value: "all"}, "all agents"),
      ...data.lanes.map((a, i) => el("option", {value: String(i)}, a)));
    agentSel.value = String(state.agent);
    const kindBoxes = el("span", {class: "seq-kinds", id: "seq-kinds"});
    data.kinds.forEach((k, i) => {
      const box = el("input", {type: "checkbox", "data-kind": k});
      box.checked = state.kinds.has(k);
      box.addEventListener("change", () => {
        if (box.checked) state.kinds.add(k); else state.kinds.delete(k);
        refilter();
      });
      const sw = el("span", {class: "swatch"});
      sw.style.background = colors[i];
      kindBoxes.append(el("label", {class: "kind"}, box, sw, k));
    });
    const counts = el("span", {id: "seq-counts", class: "counts"});
    const toolbar = el("div", {class: "seq-toolbar"}, roundSel, agentSel, kindBoxes, counts);
    const legend = el("div", {class: "seq-legend"},
      "arrows: kind by colour · ", el("b", {class: "flag-decline"}, "✕ decline"), " · ",
      el("b", {class: "flag-reaward"}, "↻ re-award"), " · ",
      el("b", {class: "flag-drop"}, "✕ drop"), " · dashed: sent, no receive in the trace · ",
      "dotted: received, send not in the trace · click an arrow for its body");

    const canvas = el("canvas", {class: "seq-canvas", id: "seq-canvas"});
    const spacer = el("div", {class: "seq-spacer"});
    const scroll = el("div", {class: "seq-scroll", id: "seq-scroll", tabindex: "0"}, canvas, spacer);
    const detail = el("aside", {class: "seq-detail", id: "seq-detail"},
      el("p", {class: "muted"}, "Click an arrow to see the message's decoded body."));
    root.append(toolbar, legend, el("div", {class: "seq-wrap"}, scroll, detail));

    let rows = [], lanes = [], laneX = new Map();

    function refilter() {
      state.round = roundSel.value === "all" ? "all" : Number(roundSel.value);
      state.agent = agentSel.value === "all" ? "all" : Number(agentSel.value);
      const agent = state.agent;
      rows = data.arrows.filter((a) =>
        (state.round === "all" || a[6] === state.round) &&
        (agent === "all" || a[4] === agent || a[5] === agent) &&
        state.kinds.has(data.kinds[a[3]]));
      const used = new Set();
      for (const a of rows) { if (a[4] >= 0) used.add(a[4]); if (a[5] >= 0) used.add(a[5]); }
      lanes = [...used].sort((x, y) => x - y);
      LANE_W = Math.max(100, Math.min(170, Math.floor(((scroll.clientWidth || 900) - LEFT - 20) /
        Math.max(lanes.length, 1))));
      laneX = new Map(lanes.map((l, i) => [l, LEFT + i * LANE_W + LANE_W / 2]));
      const c = data.counts;
      counts.textContent = `${c.events} events (${c.send} sent, ${c.recv} received, ` +
        `${c.drop} dropped) · ${data.arrows.length} messages · ${rows.length} shown`;
      counts.dataset.events = c.events;
      counts.dataset.arrows = data.arrows.length;
      counts.dataset.shown = rows.length;
      counts.dataset.lanes = lanes.length;
      if (opts.onFilter) opts.onFilter(state);
      layout();
    }

    function layout() {
      const w = scroll.clientWidth || 800, h = scroll.clientHeight || 500;
      const dpr = window.devicePixelRatio || 1;
      canvas.width = w * dpr; canvas.height = h * dpr;
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
      spacer.style.marginTop = -h + "px";
      spacer.style.width = (LEFT + Math.max(lanes.length, 1) * LANE_W + 40) + "px";
      spacer.style.height = (HEAD + rows.length * ROW_H + 30) + "px";
      draw();
    }

    function draw() {
      const ctx = canvas.getContext("2d");
      const dpr = window.devicePixelRatio || 1;
      const w = canvas.width / dpr, h = canvas.height / dpr;
      const sx = scroll.scrollLeft, sy = scroll.scrollTop;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.font = "11px sans-serif";
      // lane lines
      ctx.strokeStyle = "#d8d8d8"; ctx.lineWidth = 1;
      for (const [, x0] of laneX) {
        const x = x0 - sx;
        if (x < LEFT - LANE_W || x > w + LANE_W) continue;
        ctx.beginPath(); ctx.moveTo(x, HEAD); ctx.lineTo(x, h); ctx.stroke();
      }
      const first = Math.max(0, Math.floor((sy - ROW_H) / ROW_H));
      const last = Math.min(rows.length, Math.ceil((sy + h) / ROW_H) + 1);
      let prevRound = first > 0 ? rows[first - 1][6] : null;
      for (let i = first; i < last; i++) {
        const a = rows[i], y = HEAD + 8 + i * ROW_H - sy + ROW_H / 2;
        if (a[6] !== prevRound && i > 0) {
          ctx.strokeStyle = "#888"; ctx.setLineDash([2, 3]);
          ctx.beginPath(); ctx.moveTo(LEFT, y - ROW_H / 2); ctx.lineTo(w, y - ROW_H / 2); ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = "#555"; ctx.fillText(`round ${a[6]}`, LEFT + 4, y - ROW_H / 2 + 10);
        }
        prevRound = a[6];
        if (i === state.selected) {
          ctx.fillStyle = "#fff3c4"; ctx.fillRect(0, y - ROW_H / 2, w, ROW_H);
        }
        arrow(ctx, a, y, sx, w);
      }
      // gutter and header, painted last so that they stay on top
      ctx.fillStyle = "#fafafa"; ctx.fillRect(0, HEAD, LEFT - 4, h);
      ctx.fillStyle = "#444";
      for (let i = first; i < last; i++) {
        const y = HEAD + 8 + i * ROW_H - sy + ROW_H / 2;
        if (y < HEAD + 4) continue;
        ctx.fillText(`${(rows[i][0] / 1000).toFixed(2)} ms`, 4, y + 4);
      }
      ctx.fillStyle = "#f0f2f5"; ctx.fillRect(0, 0, w, HEAD);
      ctx.fillStyle = "#222"; ctx.font = "bold 11px sans-serif";
      ctx.fillText("wall time", 4, 18); ctx.fillText("from start", 4, 32);
      ctx.strokeStyle = "#bbb"; ctx.beginPath(); ctx.moveTo(0, HEAD - 0.5); ctx.lineTo(w, HEAD - 0.5); ctx.stroke();
      for (const [lane, x0] of laneX) {
        const x = x0 - sx;
        if (x < LEFT - LANE_W / 2 || x > w + LANE_W / 2) continue;
        const full = data.lanes[lane];
        let label = short(full);
        while (ctx.measureText(label).width > LANE_W - 8 && label.length > 4) label = label.slice(0, -2) + "…";
        ctx.fillText(label, x - ctx.measureText(label).width / 2, 18);
        ctx.font = "10px sans-serif"; ctx.fillStyle = "#777";
        const host = full.split("/")[0];
        ctx.fillText(host, x - ctx.measureText(host).width / 2, 32);
        ctx.font = "bold 11px sans-serif"; ctx.fillStyle = "#222";
      }
    }

    function arrow(ctx, a, y, sx, w) {
      const flags = a[7], color = (flags & DROP) ? "#d62728" : colors[a[3]];
      let x1 = laneX.has(a[4]) ? laneX.get(a[4]) - sx : null;
      let x2 = laneX.has(a[5]) ? laneX.get(a[5]) - sx : null;
      if (x1 === null && x2 === null) return;
      if (x1 === null) x1 = x2 - 40;
      if (x2 === null) x2 = x1 + 60;
      ctx.strokeStyle = color; ctx.fillStyle = color;
      ctx.lineWidth = (flags & (DECLINE | REAWARD | DROP)) ? 2.5 : 1.4;
      ctx.setLineDash((flags & NO_RECEIVE) ? [6, 4] : (flags & NO_SEND) ? [2, 3] : []);
      ctx.beginPath();
      if (x1 === x2) {
        ctx.moveTo(x1, y - 5); ctx.lineTo(x1 + 22, y - 5); ctx.lineTo(x1 + 22, y + 5); ctx.lineTo(x1 + 3, y + 5);
      } else {
        ctx.moveTo(x1, y); ctx.lineTo(x2, y);
      }
      ctx.stroke(); ctx.setLineDash([]);
      const dir = x2 >= x1 ? 1 : -1, tip = x1 === x2 ? x1 + 3 : x2;
      ctx.beginPath();
      if (flags & (DROP | NO_RECEIVE)) {
        ctx.moveTo(tip - 5, y - 5); ctx.lineTo(tip + 5, y + 5);
        ctx.moveTo(tip + 5, y - 5); ctx.lineTo(tip - 5, y + 5); ctx.stroke();
      } else {
        const ty = x1 === x2 ? y + 5 : y, d = x1 === x2 ? -1 : dir;
        ctx.moveTo(tip, ty); ctx.lineTo(tip - d * 8, ty - 4); ctx.lineTo(tip - d * 8, ty + 4);
        ctx.closePath(); ctx.fill();
      }
      let label = data.kinds[a[3]] + (a[6] !== null ? ` r${a[6]}` : "");
      if (flags & DECLINE) label = "✕ DECLINE " + label;
      if (flags & REAWARD) label = "↻ re-award " + label;
      if (flags & DROP) label = "✕ drop: " + String(data.bodies[a[2]] || "");
      if (flags & BROADCAST) label += " (broadcast)";
      if (flags & NO_RECEIVE) label += " · not received";
      // an end beyond the view: name it
      if (a[5] >= 0 && (x2 > w || x2 < LEFT)) label += ` → ${short(data.lanes[a[5]])}`;
      if (a[4] >= 0 && (x1 > w || x1 < LEFT)) label += ` (from ${short(data.lanes[a[4]])})`;
      ctx.font = (flags & (DECLINE | REAWARD | DROP)) ? "bold 11px sans-serif" : "11px sans-serif";
      const lx = Math.max(Math.min(x1, x2) + 6, LEFT + 2);
      if (lx < w) ctx.fillText(label, lx, y - 4);
      ctx.font = "11px sans-serif";
    }

    function show(i) {
      state.selected = i;
      draw();
      const a = rows[i];
      detail.replaceChildren();
      if (!a) return;
      const ev = (j) => data.events[j];
      const from = a[4] >= 0 ? data.lanes[a[4]] : "?", to = a[5] >= 0 ? data.lanes[a[5]] : "(topic)";
      detail.append(el("h3", {}, data.kinds[a[3]]), el("p", {}, `${from} → ${to}`));
      const facts = el("dl", {});
      const add = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, String(v)));
      add("round", a[6]);
      if (a[1] >= 0) add("sent", `${(ev(a[1])[0] / 1000).toFixed(3)} ms on ${data.hosts[ev(a[1])[7]]}`);
      if (a[2] >= 0) add(ev(a[2])[1] === 2 ? "dropped" : "received",
        `${(ev(a[2])[0] / 1000).toFixed(3)} ms on ${data.hosts[ev(a[2])[7]]}`);
      if (a[1] >= 0 && a[2] >= 0) add("latency", `${((ev(a[2])[0] - ev(a[1])[0]) / 1000).toFixed(3)} ms`);
      const e = ev(a[1] >= 0 ? a[1] : a[2]);
      add("simulated time", `${e[8]} s`);
      add("size", `${e[6]} bytes`);
      const flags = [];
      if (a[7] & DECLINE) flags.push("declined");
      if (a[7] & REAWARD) flags.push("re-award");
      if (a[7] & DROP) flags.push("dropped");
      if (a[7] & NO_RECEIVE) flags.push("no receive in the trace");
      if (a[7] & NO_SEND) flags.push("send not in the trace");
      if (a[7] & BROADCAST) flags.push("broadcast");
      if (flags.length) add("marks", flags.join(", "));
      const body = data.bodies[a[1] >= 0 ? a[1] : a[2]];
      const pre = el("pre", {class: "body", id: "seq-body"});
      pre.textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
      detail.append(facts, el("h4", {}, (a[7] & DROP) ? "reason" : "body"), pre);
    }

    function rowAt(ev) {
      const r = canvas.getBoundingClientRect();
      const y = ev.clientY - r.top + scroll.scrollTop - HEAD - 8;
      if (ev.clientY - r.top < HEAD) return -1;
      const i = Math.floor(y / ROW_H);
      return i >= 0 && i < rows.length ? i : -1;
    }

    scroll.addEventListener("scroll", () => requestAnimationFrame(draw));
    canvas.addEventListener("click", (ev) => { const i = rowAt(ev); if (i >= 0) show(i); });
    canvas.addEventListener("mousemove", (ev) => {
      canvas.style.cursor = rowAt(ev) >= 0 ? "pointer" : "default";
    });
    scroll.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        const i = Math.max(0, Math.min(rows.length - 1, state.selected + (ev.key === "ArrowDown" ? 1 : -1)));
        show(i);
        if ((i + 1) * ROW_H + HEAD > scroll.scrollTop + scroll.clientHeight) scroll.scrollTop += ROW_H;
        if (i * ROW_H < scroll.scrollTop) scroll.scrollTop -= ROW_H;
        ev.preventDefault();
      }
    });
    roundSel.addEventListener("change", refilter);
    agentSel.addEventListener("change", refilter);
    window.addEventListener("resize", layout);
    refilter();
    return {
      state, select: (i) => show(i), rows: () => rows, lanes: () => lanes.map((l) => data.lanes[l]),
      destroy: () => window.removeEventListener("resize", layout),
    };
  }

  return {mount};
})();
