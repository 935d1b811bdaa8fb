/* The trace explorer: a page per hash route, drawn from the JSON the server returns (or
 * that an exported file embeds). Text from a run only ever reaches the page as
 * textContent, and Plotly labels are escaped first: nothing from a trace runs. */
"use strict";

(function () {
  const VPP = window.VPP = {rendered: null, state: {}, version: null, charts: []};
  const dataEl = document.getElementById("vpp-data");
  const EMBEDDED = dataEl ? JSON.parse(dataEl.textContent) : null;
  const nav = document.getElementById("nav");
  const live = document.getElementById("live");
  const mainRef = {el: document.getElementById("main")};
  const PAGE_TITLES = {overview: "Overview", negotiation: "Negotiation", admm: "ADMM",
    grid: "Grid event", voltage: "Volt-VAR", market: "Markets & trading"};
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

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    if (parts[0] === "run" && parts[1]) return {page: parts[2] || null, run: parts[1], arg: parts[3]};
    if (parts[0] === "compare" && parts[1] && parts[2]) return {page: "compare", a: parts[1], b: parts[2]};
    return {page: "runs"};
  }

  function setNav(route, card) {
    nav.replaceChildren();
    if (!card) return;
    nav.append(el("span", {class: "run-name"}, card.name));
    for (const p of card.pages) {
      const a = link(runHref(card.name, p), PAGE_TITLES[p] || p);
      if (p === route.page) a.className = "active";
      nav.append(a);
    }
  }

  async function render() {
    const route = parseRoute();
    VPP.rendered = null;
    delete document.body.dataset.rendered;
    VPP.charts.forEach((d) => Plotly.purge(d));
    VPP.charts = [];
    if (VPP.seq) { VPP.seq.destroy(); VPP.seq = null; }
    const key = location.hash || "#/";
    try {
      let card = null;
      if (route.run) {
        const run = encodeURIComponent(route.run);
        // the version the page is drawn from: a change after this draws it again
        const [v, c] = await Promise.all([EMBEDDED ? null : api(`/run/${run}/version`),
          api(`/run/${run}/card`)]);
        if (v) VPP.version = {run: route.run, stamp: v.version};
        card = c;
        if (!route.page) route.page = card.pages[0] || "overview";
      }
      setNav(route, card);
      const view = mainRef.el.cloneNode(false);
      mainRef.el.replaceWith(view);
      mainRef.el = view;
      await PAGES[route.page](view, route, card);
      document.title = `${route.run || "runs"} · vpp trace explorer`;
    } catch (err) {
      mainRef.el.replaceChildren(el("p", {class: "error", id: "error"}, String(err.message || err)));
    }
    VPP.rendered = key;
    document.body.dataset.rendered = key;
  }

  const PAGES = {
    async runs(view) {
      const runs = await api("/runs");
      const table = el("table", {class: "runs", id: "runs"}, el("thead", {}, el("tr", {},
        ...["run", "mode", "scenario", "written", "headline"].map((h) => el("th", {}, h)))));
      const body = el("tbody");
      for (const r of runs) {
        body.append(el("tr", {"data-run": r.name},
          el("td", {}, link(runHref(r.name), r.name)), el("td", {}, r.mode),
          el("td", {}, r.scenario || "–"), el("td", {}, r.date.replace("T", " ")),
          el("td", {}, el("ul", {class: "headline"}, ...r.headline.map(([k, v, u]) =>
            el("li", {}, `${k}: `, el("b", {}, fmt(v, 3)), u ? ` ${u}` : ""))))));
      }
      table.append(body);
      const pick = (id) => el("select", {id}, ...runs.map((r) => el("option", {value: r.name}, r.name)));
      const a = pick("compare-a"), b = pick("compare-b");
      if (runs.length > 1) b.value = runs[1].name;
      const go = el("button", {id: "compare-go", onclick: () => {
        location.hash = `#/compare/${encodeURIComponent(a.value)}/${encodeURIComponent(b.value)}`;
      }}, "compare");
      view.append(el("h2", {}, `Runs (${runs.length})`), table,
        el("div", {class: "compare-pick"}, "Compare ", a, " with ", b, " ", go));
    },

    async overview(view, route, card) {
      const o = await api(`/run/${encodeURIComponent(route.run)}/overview`);
      VPP.state.overview = o;
      const t = o.totals;
      const status = o.finished ? "" : ` · running: ${o.steps.length} of ${o.steps_planned ?? "?"} steps`;
      view.append(el("h2", {}, `${o.name}: ${o.mode} dispatch`),
        el("p", {class: "muted", id: "run-status"}, `scenario ${o.scenario}, seed ${o.seed}, ` +
          `${o.steps.length} steps of ${o.step_minutes} min from ${o.start || "?"} (UTC)${status}`));
      if (o.unserved_steps.length) {
        const chips = o.unserved_steps.map((k) => {
          const i = o.steps.indexOf(k);
          return link(runHref(o.name, "negotiation", k),
            `step ${k} · ${o.times[i].slice(11, 16)} · ${fmt(o.unserved_kw[i])} kW`);
        });
        view.append(el("div", {class: "alert", id: "unserved"},
          el("b", {}, `Unserved energy in ${o.unserved_steps.length} steps ` +
            `(${fmt(t.unserved_kwh)} kWh): `), ...chips));
      } else {
        view.append(el("div", {class: "ok", id: "unserved"}, "Every step served in full."));
      }
      view.append(el("table", {class: "totals"}, el("tbody", {}, ...[
        ["sites", t.sites, ""], ["target", t.target_kwh, "kWh"], ["served", t.served_kwh, "kWh"],
        ["unserved", t.unserved_kwh, "kWh"], ["reserve shortfall", t.reserve_shortfall_kwh, "kWh"],
        ["cost", t.cost_eur, "EUR"]].map(([k, v, u]) =>
        el("tr", {}, el("th", {}, k), el("td", {}, `${fmt(v)} ${u}`))))));
      view.append(chartBox("chart-dispatch", "Dispatch by site against the target",
          "Bars: each site's power, stacked (+ injects). Red bands: steps with unserved " +
          "energy. Click a step to open its negotiation."),
        chartBox("chart-reserve", "Reserve and unserved power"),
        chartBox("chart-price", "Marginal price and cost"));
      if (o.heatmap) view.append(chartBox("chart-heatmap", `Every site's dispatch (${o.heatmap.sites.length} sites)`));
      const x = o.times, width = o.step_minutes * 60000;
      // a step line holds its last value to the end of the last step
      const xs = x.length ? [...x, shiftTime(x[x.length - 1], width)] : x;
      const hold = (y) => y.length ? [...y, y[y.length - 1]] : y;
      const traces = o.sites.map((s, i) => ({
        type: "bar", x, y: s.power_kw, name: esc(s.site), width, offset: 0,
        marker: {color: SITE_COLORS[i % SITE_COLORS.length]}, meta: {site: s.address},
        hovertemplate: "%{y:.1f} kW"}));
      if (o.others) traces.push({type: "bar", x, y: o.others.power_kw, width, offset: 0,
        name: `${o.others.count} other sites`, marker: {color: "#c7c7c7"}, hovertemplate: "%{y:.1f} kW"});
      traces.push({type: "scatter", mode: "lines", x: xs, y: hold(o.target_kw), name: "target (net)",
        line: {color: "black", width: 2.5, shape: "hv"}, hovertemplate: "%{y:.1f} kW"});
      traces.push({type: "scatter", mode: "lines", x: xs, y: hold(o.served_kw), name: "served (net)",
        line: {color: "#444", width: 1.5, dash: "dash", shape: "hv"}, hovertemplate: "%{y:.1f} kW"});
      const shapes = o.unserved_steps.map((k) => {
        const i = o.steps.indexOf(k);
        return {type: "rect", xref: "x", yref: "paper", x0: x[i], x1: shiftTime(x[i], width),
          y0: 0, y1: 1, fillcolor: "rgba(214,39,40,0.28)", line: {width: 0}, layer: "below"};
      });
      const annotations = o.unserved_steps.length ? [{xref: "x", yref: "paper", x: x[o.steps.indexOf(o.unserved_steps[0])],
        y: 1.02, text: "unserved", showarrow: false, font: {color: "#d62728"}}] : [];
      const d = await plot("chart-dispatch", traces, {barmode: "relative", shapes, annotations,
        xaxis: {title: {text: "time (UTC)"}, type: "date"}, yaxis: {title: {text: "power (kW, + injection)"}},
        height: 480});
      d.on("plotly_click", (ev) => {
        const i = ev.points && ev.points[0] ? ev.points[0].pointIndex : -1;
        if (i >= 0 && o.steps[i] !== undefined) location.hash = runHref(o.name, "negotiation", o.steps[i]);
      });
      await plot("chart-reserve", [
        {type: "bar", x, y: o.unserved_kw, name: "unserved power", width, offset: 0,
          marker: {color: "#d62728"}, hovertemplate: "%{y:.2f} kW"},
        {type: "scatter", mode: "lines", x: xs, y: hold(o.reserve_target_kw), name: "reserve asked",
          line: {color: "#9467bd", shape: "hv", dash: "dot"}, hovertemplate: "%{y:.1f} kW"},
        {type: "scatter", mode: "lines", x: xs, y: hold(o.reserve_served_kw), name: "reserve held",
          line: {color: "#9467bd", shape: "hv"}, fill: "tozeroy", fillcolor: "rgba(148,103,189,0.15)",
          hovertemplate: "%{y:.1f} kW"}],
      {xaxis: {title: {text: "time (UTC)"}, type: "date"}, yaxis: {title: {text: "kW"}}, height: 300, shapes});
      await plot("chart-price", [
        {type: "scatter", mode: "lines", x: xs, y: hold(o.price_eur_mwh), name: "marginal price",
          line: {color: "#9467bd", shape: "hv"}, hovertemplate: "%{y:.2f} EUR/MWh"},
        {type: "bar", x, y: o.cost_eur, name: "cost per step", yaxis: "y2", width, offset: 0,
          marker: {color: "rgba(140,86,75,0.45)"}, hovertemplate: "%{y:.2f} EUR"}],
      {xaxis: {title: {text: "time (UTC)"}, type: "date"}, yaxis: {title: {text: "price (EUR/MWh)"}},
        yaxis2: {title: {text: "cost (EUR)"}, overlaying: "y", side: "right"}, height: 300});
      if (o.heatmap) {
        await plot("chart-heatmap", [{type: "heatmap", x, y: o.heatmap.sites.map(esc), z: o.heatmap.z,
          colorscale: "RdBu", zmid: 0, colorbar: {title: {text: "kW"}},
          hovertemplate: "%{y}<br>%{x}<br>%{z:.1f} kW<extra></extra>"}],
        {xaxis: {title: {text: "time (UTC)"}, type: "date"}, yaxis: {title: {text: "site"}, showticklabels: o.heatmap.sites.length <= 60},
          height: 500, hovermode: "closest"});
      }
    },

    async negotiation(view, route) {
      const run = encodeURIComponent(route.run);
      const asked = route.arg !== undefined && /^\d+$/.test(route.arg) ? Number(route.arg) : null;
      // the step list and the step itself at once (a step not in an export is null)
      const [steps, stepData] = await Promise.all([api(`/run/${run}/steps`),
        asked === null ? null : api(`/run/${run}/step/${asked}`).catch(() => null)]);
      const numbers = steps.steps.map((s) => s[0]);
      if (!numbers.length) { view.append(el("p", {}, "No step of this run holds messages.")); return; }
      const step = asked !== null ? asked : numbers[0];
      const i = numbers.indexOf(step);
      const input = el("input", {type: "number", id: "seq-step", value: String(step),
        min: String(numbers[0]), max: String(numbers[numbers.length - 1])});
      input.addEventListener("change", () => { location.hash = runHref(route.run, "negotiation", input.value); });
      const prev = i > 0 ? link(runHref(route.run, "negotiation", numbers[i - 1]), "◀ previous") : el("span", {class: "muted"}, "◀");
      const next = i >= 0 && i < numbers.length - 1 ? link(runHref(route.run, "negotiation", numbers[i + 1]), "next ▶") : el("span", {class: "muted"}, "▶");
      const head = el("div", {class: "step-nav"}, prev, " step ", input, " ", next);
      view.append(el("h2", {}, `${route.run}: negotiation of step ${step}`), head);
      if (steps.omitted && steps.omitted.includes(step)) {
        view.append(el("p", {class: "error"}, `Step ${step} is not in this exported file ` +
          `(it holds ${steps.steps.length - steps.omitted.length} of ${steps.steps.length} steps).`));
        return;
      }
      if (i < 0) { view.append(el("p", {class: "error", id: "error"}, `Step ${step} holds no messages.`)); return; }
      const data = stepData || await api(`/run/${run}/step/${step}`);
      VPP.state.step = data;
      const box = el("div", {class: "seq", id: "seq"});
      view.append(box);
      const keep = VPP.state.seqFilters && VPP.state.seqFilters.run === route.run ? VPP.state.seqFilters : null;
      VPP.seq = VPPSeq.mount(box, data, {state: keep ? {round: keep.round, agent: "all",
        kinds: new Set([...keep.kinds].filter((k) => data.kinds.includes(k)))} : null,
        onFilter: (s) => { VPP.state.seqFilters = {run: route.run, round: s.round, kinds: new Set(s.kinds)}; }});
    },

    async admm(view, route) {
      const conv = route.arg ? `?conversation=${encodeURIComponent(route.arg)}` : "";
      const a = EMBEDDED ? await api(`/run/${encodeURIComponent(route.run)}/admm`) :
        await api(`/run/${encodeURIComponent(route.run)}/admm${conv}`);
      VPP.state.admm = a;
      if (!a.negotiations.length) { view.append(el("p", {}, "No ADMM rounds in this trace.")); return; }
      const pick = el("select", {id: "admm-conversation"}, ...a.negotiations.map((n) =>
        el("option", {value: n.conversation}, `${n.conversation} (${n.round.length} rounds)`)));
      const sel = a.schedules ? a.schedules.conversation : a.negotiations[0].conversation;
      pick.value = sel;
      pick.addEventListener("change", () => { location.hash = runHref(route.run, "admm", pick.value); });
      const n = a.negotiations.find((x) => x.conversation === sel) || a.negotiations[0];
      const last = n.round.length - 1;
      const ok = n.primal_residual[last] <= n.eps_pri[last] && n.dual_residual[last] <= n.eps_dual[last];
      view.append(el("h2", {}, `${route.run}: ADMM`), el("p", {}, "negotiation ", pick),
        el("p", {class: ok ? "ok" : "alert", id: "admm-last"},
          `last round ${n.round[last]}: primal residual ${n.primal_residual[last].toPrecision(3)} kW ` +
          `(tolerance ${n.eps_pri[last].toPrecision(3)}), dual residual ${n.dual_residual[last].toPrecision(3)} kW ` +
          `(tolerance ${n.eps_dual[last].toPrecision(3)}): ${ok ? "converged" : "not within tolerance"}` +
          (n.dropped.length ? `; sites dropped: ${n.dropped.join(", ")}` : "")),
        chartBox("chart-residuals", "Residuals per round, with their tolerances"),
        chartBox("chart-admm-price", "Mean price and penalty per round"),
        chartBox("chart-schedules", "Each site's schedule against the consensus and the target"));
      await plot("chart-residuals", [
        {x: n.round, y: n.primal_residual, name: "primal residual", line: {color: "#1f77b4"}},
        {x: n.round, y: n.eps_pri, name: "primal tolerance", line: {color: "#1f77b4", dash: "dash"}},
        {x: n.round, y: n.dual_residual, name: "dual residual", line: {color: "#ff7f0e"}},
        {x: n.round, y: n.eps_dual, name: "dual tolerance", line: {color: "#ff7f0e", dash: "dash"}}],
      {yaxis: {type: "log", title: {text: "residual (kW)"}}, xaxis: {title: {text: "round"}}, height: 380});
      await plot("chart-admm-price", [
        {x: n.round, y: n.price_eur_mwh, name: "mean price", line: {color: "#9467bd"}},
        {x: n.round, y: n.rho, name: "penalty rho", yaxis: "y2", line: {color: "#7f7f7f", dash: "dot"}}],
      {yaxis: {title: {text: "price (EUR/MWh)"}}, yaxis2: {title: {text: "rho"}, overlaying: "y", side: "right"},
        xaxis: {title: {text: "round"}}, height: 300});
      const s = a.schedules;
      if (s) {
        const traces = Object.entries(s.sites).map(([site, v], i) => ({type: "bar", x: s.times, y: v,
          name: esc(site), marker: {color: SITE_COLORS[i % SITE_COLORS.length]}, hovertemplate: "%{y:.1f} kW"}));
        traces.push({type: "scatter", mode: "lines+markers", x: s.times, y: s.consensus_kw,
          name: "consensus (sum of schedules)", line: {color: "black", width: 2}});
        if (s.target_kw.some((v) => v !== null)) traces.push({type: "scatter", mode: "lines", x: s.times,
          y: s.target_kw, name: "target", line: {color: "#d62728", dash: "dash", width: 2}});
        await plot("chart-schedules", traces, {barmode: "relative", height: 420,
          xaxis: {title: {text: "time (UTC)"}}, yaxis: {title: {text: "power (kW, + injection)"}}});
      }
    },

    async grid(view, route) {
      const g = await api(`/run/${encodeURIComponent(route.run)}/grid`);
      VPP.state.grid = g;
      const results = el("table", {class: "totals"}, el("thead", {}, el("tr", {}, el("th", {}, "run"),
        ...["nadir (Hz)", "at (s)", "max |RoCoF| (Hz/s)", "VPP peak (MW)", "shed peak (MW)"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...Object.entries(g.results).map(([k, r]) => el("tr", {}, el("th", {}, k),
        ...[r.nadir_hz, r.nadir_t_s, r.max_abs_rocof_hz_per_s, r.vpp_peak_mw, r.shed_peak_mw].map((v) =>
          el("td", {}, fmt(v, 3)))))));
      view.append(el("h2", {}, `${route.run}: grid event`),
        el("p", {class: "muted"}, `nominal ${g.f0_hz} Hz` + (g.clock_start ? `, replay from ${g.clock_start}` : "") +
          `; ${g.stages.length} stage groups fired`), results,
        chartBox("chart-frequency", "Frequency, with each stage that fired as its own marker"),
        chartBox("chart-rocof", "Rate of change of frequency"),
        chartBox("chart-response", "The VPP's response"),
        chartBox("chart-soc", "Mean state of charge"));
      const xs = (t) => g.clock_start ? t.map((s) => shiftTime(g.clock_start, s * 1000)) : t;
      const xaxis = {title: {text: g.clock_start ? "time" : "time from the event's start (s)"},
        type: g.clock_start ? "date" : "linear"};
      const runs = Object.entries(g.runs);
      const f = runs.map(([label, r], i) => ({x: xs(r.t_s), y: r.f_hz, name: esc(label), mode: "lines",
        line: label === "without-vpp" ? {color: "#7f7f7f", dash: "dash"} : {color: SITE_COLORS[i]}}));
      const symbols = ["triangle-down", "square", "diamond", "star", "circle", "x", "cross", "hexagon"];
      const stageColors = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#9467bd", "#2ca02c"];
      g.stages.forEach((s, i) => {
        const label = `${s.run}: ${s.kind} stage ${s.stage} ${s.action} (${s.sites.length} sites)`;
        f.push({x: xs([s.t_s]), y: [s.f_hz], mode: "markers+text", name: esc(label),
          text: [esc(`${s.kind} ${s.stage} ${s.action}`)], textposition: i % 2 ? "middle left" : "middle right",
          marker: {size: 13, symbol: symbols[i % symbols.length], color: stageColors[i % stageColors.length],
            line: {color: "black", width: 1}}, meta: {stage: label},
          hovertemplate: `${esc(label)}<br>%{y:.3f} Hz<extra></extra>`});
      });
      await plot("chart-frequency", f, {xaxis, yaxis: {title: {text: "frequency (Hz)"}}, height: 480,
        hovermode: "closest"});
      await plot("chart-rocof", runs.map(([label, r], i) => ({x: xs(r.t_s), y: r.rocof_hz_per_s, name: esc(label),
        mode: "lines", line: {color: label === "without-vpp" ? "#7f7f7f" : SITE_COLORS[i]}})),
      {xaxis, yaxis: {title: {text: "RoCoF (Hz/s)"}}, height: 280});
      const resp = [];
      for (const [label, r] of runs) {
        if (label === "without-vpp") continue;
        resp.push({x: xs(r.t_s), y: r.vpp_mw, name: esc(`${label}: net injection change`), line: {color: "black"}},
          {x: xs(r.t_s), y: r.response_mw, name: esc(`${label}: service response`), line: {color: "#1f77b4"}},
          {x: xs(r.t_s), y: r.shed_mw, name: esc(`${label}: load shed`), line: {color: "#d62728"}},
          {x: xs(r.t_s), y: r.curtailed_mw.map((v) => v === null ? null : -v),
            name: esc(`${label}: PV/wind curtailed (−)`), line: {color: "#bcbd22"}});
      }
      await plot("chart-response", resp, {xaxis, yaxis: {title: {text: "MW (+ injection)"}}, height: 340});
      await plot("chart-soc", runs.map(([label, r], i) => ({x: xs(r.t_s), y: r.state_of_charge, name: esc(label),
        line: {color: label === "without-vpp" ? "#7f7f7f" : SITE_COLORS[i]}})),
      {xaxis, yaxis: {title: {text: "mean state of charge (0-1)"}}, height: 260});
    },

    async voltage(view, route) {
      const v = await api(`/run/${encodeURIComponent(route.run)}/voltage`);
      VPP.state.voltage = v;
      view.append(el("h2", {}, `${route.run}: Volt-VAR (${v.curve}) on ${v.network}`),
        el("p", {id: "voltage-out"}, `steps out of the band ${v.band_pu.join("–")} pu: ` +
          `${v.out_of_band.without} without Volt-VAR, ${v.out_of_band.with} with it`),
        chartBox("chart-voltage", "Monitored voltage band, with and without Volt-VAR"),
        chartBox("chart-kvar", "Each inverter's reactive power, against its room sqrt(S² − P²)"));
      const x = v.times.map(isoNaive);
      const [lo, hi] = v.band_pu;
      await plot("chart-voltage", [
        {x, y: v.max_vm_pu_without, name: "without: highest", line: {color: "#d62728", shape: "hv"}},
        {x, y: v.min_vm_pu_without, name: "without: lowest", line: {color: "#d62728", shape: "hv", dash: "dot"},
          fill: "tonexty", fillcolor: "rgba(214,39,40,0.12)"},
        {x, y: v.max_vm_pu_with, name: "with: highest", line: {color: "#1f77b4", shape: "hv"}},
        {x, y: v.min_vm_pu_with, name: "with: lowest", line: {color: "#1f77b4", shape: "hv", dash: "dot"},
          fill: "tonexty", fillcolor: "rgba(31,119,180,0.15)"}],
      {xaxis: {title: {text: "time (UTC)"}, type: "date"}, yaxis: {title: {text: "voltage (pu)"}}, height: 420,
        shapes: [lo, hi].map((y) => ({type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y,
          line: {color: "black", dash: "dash", width: 1}})),
        annotations: [{xref: "paper", x: 1, y: hi, text: `upper limit ${hi} pu`, showarrow: false, xanchor: "right", yanchor: "bottom"},
          {xref: "paper", x: 1, y: lo, text: `lower limit ${lo} pu`, showarrow: false, xanchor: "right", yanchor: "top"}]});
      const traces = [];
      Object.entries(v.inverters).forEach(([site, s], i) => {
        const c = SITE_COLORS[i % SITE_COLORS.length];
        traces.push({x: s.time.map(isoNaive), y: s.q_kvar, name: esc(`${site} Q`), mode: "lines+markers", line: {color: c}},
          {x: s.time.map(isoNaive), y: s.room_kvar.map((r) => -r), name: esc(`${site} −room`), line: {color: c, dash: "dot", width: 1}});
      });
      await plot("chart-kvar", traces, {xaxis: {title: {text: "time (UTC)"}, type: "date"},
        yaxis: {title: {text: "reactive power (kvar, + injects)"}}, height: 380});
    },

    async market(view, route) {
      const m = await api(`/run/${encodeURIComponent(route.run)}/market`);
      VPP.state.market = m;
      view.append(el("h2", {}, `${route.run}: markets and trading`));
      if (m.day_ahead && m.day_ahead.hours.length) {
        const hours = m.day_ahead.hours;
        const pick = el("select", {id: "market-hour"}, ...hours.map((h, i) => el("option", {value: String(i)}, `hour ${h.hour}`)));
        view.append(el("p", {}, "day-ahead auction, bidders: " + m.day_ahead.bidders.join(", ") + " · ", pick),
          chartBox("chart-curves", "Supply and demand curves and the clearing point",
            "Zoomed on the clearing point; double-click the chart for the whole curves."),
          chartBox("chart-clearing", "Clearing price per hour and the VPP's position"));
        const draw = async (i) => {
          const h = hours[i];
          await plot("chart-curves", [
            {x: h.supply.q_mw, y: h.supply.price_eur_mwh, name: "supply (sell steps)", line: {color: "#2ca02c", shape: "hv"}},
            {x: h.demand.q_mw, y: h.demand.price_eur_mwh, name: "demand (buy steps)", line: {color: "#1f77b4", shape: "hv"}},
            {x: [h.volume_mwh], y: [h.clearing_price_eur_mwh], mode: "markers+text", name: "clearing point",
              text: [`${fmt(h.clearing_price_eur_mwh, 2)} EUR/MWh`], textposition: "top right",
              marker: {size: 14, color: "#d62728", symbol: "x"}}],
          {xaxis: {title: {text: "cumulative quantity (MW)"}, range: h.zoom ? h.zoom.q_mw : undefined},
            yaxis: {title: {text: "price (EUR/MWh)"}, range: h.zoom ? h.zoom.price_eur_mwh : undefined},
            height: 400, hovermode: "closest"});
        };
        pick.addEventListener("change", () => draw(Number(pick.value)));
        await draw(0);
        await plot("chart-clearing", [
          {x: hours.map((h) => h.hour), y: hours.map((h) => h.clearing_price_eur_mwh), name: "clearing price",
            line: {color: "#9467bd", shape: "hv"}},
          {type: "bar", x: hours.map((h) => h.hour), y: hours.map((h) => h.sold_mw), name: "VPP sold", yaxis: "y2",
            marker: {color: "rgba(44,160,44,0.6)"}},
          {type: "bar", x: hours.map((h) => h.hour), y: hours.map((h) => -(h.bought_mw || 0)), name: "VPP bought (−)",
            yaxis: "y2", marker: {color: "rgba(31,119,180,0.6)"}}],
        {xaxis: {title: {text: "delivery hour"}}, yaxis: {title: {text: "price (EUR/MWh)"}},
          yaxis2: {title: {text: "MW"}, overlaying: "y", side: "right"}, barmode: "relative", height: 320});
      }
      if (m.ancillary) {
        const a = m.ancillary;
        view.append(el("p", {id: "ancillary"}, `ancillary ${a.product}: offered ${fmt(a.offered_mw, 3)} MW, ` +
          `awarded ${fmt(a.awarded_mw, 3)} MW at ${fmt(a.price_eur_mw_h, 2)} EUR/MW/h for ${fmt(a.hours)} h: ` +
          `${fmt(a.payment_eur, 2)} EUR`));
      }
      const b = m.backtest;
      if (b) {
        view.append(chartBox("chart-equity", "Equity per trader"), chartBox("chart-drawdown", "Drawdown of the hourly equity"),
          chartBox("chart-trades", "Trades (order book and auctions): price per delivery hour"),
          chartBox("chart-rejections", "Orders rejected, by limit"));
        const x = b.times.map(isoNaive);
        const names = Object.keys(b.traders);
        await plot("chart-equity", names.map((t, i) => ({x, y: b.traders[t].equity_eur, name: esc(t),
          line: {color: SITE_COLORS[i]}})), {xaxis: {title: {text: "time (UTC)"}, type: "date"},
          yaxis: {title: {text: "equity (EUR)"}}, height: 340});
        await plot("chart-drawdown", names.map((t, i) => ({x, y: b.traders[t].drawdown_eur, name: esc(t),
          fill: "tozeroy", line: {color: SITE_COLORS[i]}})), {xaxis: {title: {text: "time (UTC)"}, type: "date"},
          yaxis: {title: {text: "drawdown (EUR)"}}, height: 280});
        const groups = {};
        for (const t of b.trades) (groups[`${t.trader} ${t.market} ${t.side}`] ||= []).push(t);
        await plot("chart-trades", Object.entries(groups).map(([k, ts]) => ({x: ts.map((t) => t.delivery_hour),
          y: ts.map((t) => t.price_eur_mwh), mode: "markers", name: esc(k),
          marker: {size: ts.map((t) => 5 + Math.sqrt(t.quantity_mw) * 2),
            symbol: k.endsWith("buy") ? "triangle-up" : "triangle-down"},
          text: ts.map((t) => `${t.quantity_mw} MW`)})),
        {xaxis: {title: {text: "delivery hour from the start"}}, yaxis: {title: {text: "price (EUR/MWh)"}},
          height: 360, hovermode: "closest"});
        const limits = [...new Set(Object.values(b.rejections).flatMap((r) => Object.keys(r)))];
        await plot("chart-rejections", limits.map((l) => ({type: "bar", name: esc(l), x: names,
          y: names.map((t) => (b.rejections[t] || {})[l] || 0)})),
        {barmode: "stack", yaxis: {title: {text: "orders rejected"}}, height: 280, hovermode: "closest"});
      }
      if (!m.day_ahead && !m.ancillary && !b) view.append(el("p", {}, "No market results in this run."));
    },

    async compare(view, route) {
      const c = await api(`/compare/${encodeURIComponent(route.a)}/${encodeURIComponent(route.b)}`);
      VPP.state.compare = c;
      view.append(el("h2", {}, `Compare ${c.a.name} (A) with ${c.b.name} (B)`));
      const sa = c.series.a, sb = c.series.b;
      if (sa && sb) {
        view.append(chartBox("chart-compare-power", "Target and served, overlaid (by step)"),
          chartBox("chart-compare-price", "Marginal price and cost, overlaid (by step)"));
        await plot("chart-compare-power", [
          {x: sa.steps, y: sa.target_kw, name: "A target", line: {color: "black", shape: "hv"}},
          {x: sa.steps, y: sa.served_kw, name: "A served", line: {color: "#1f77b4", shape: "hv"}},
          {x: sb.steps, y: sb.target_kw, name: "B target", line: {color: "#7f7f7f", dash: "dash", shape: "hv"}},
          {x: sb.steps, y: sb.served_kw, name: "B served", line: {color: "#ff7f0e", dash: "dash", shape: "hv"}},
          {type: "bar", x: sa.steps, y: sa.unserved_kw, name: "A unserved", marker: {color: "rgba(214,39,40,0.7)"}},
          {type: "bar", x: sb.steps, y: sb.unserved_kw, name: "B unserved", marker: {color: "rgba(214,39,40,0.3)"}}],
        {xaxis: {title: {text: "step"}}, yaxis: {title: {text: "power (kW)"}}, height: 400});
        await plot("chart-compare-price", [
          {x: sa.steps, y: sa.price_eur_mwh, name: "A price", line: {color: "#9467bd", shape: "hv"}},
          {x: sb.steps, y: sb.price_eur_mwh, name: "B price", line: {color: "#9467bd", dash: "dash", shape: "hv"}},
          {type: "bar", x: sa.steps, y: sa.cost_eur, name: "A cost", yaxis: "y2", marker: {color: "rgba(140,86,75,0.6)"}},
          {type: "bar", x: sb.steps, y: sb.cost_eur, name: "B cost", yaxis: "y2", marker: {color: "rgba(140,86,75,0.3)"}}],
        {xaxis: {title: {text: "step"}}, yaxis: {title: {text: "price (EUR/MWh)"}},
          yaxis2: {title: {text: "cost (EUR)"}, overlaying: "y", side: "right"}, height: 320});
      }
      view.append(el("h3", {}, "Differences"), el("table", {class: "totals", id: "differences"},
        el("thead", {}, el("tr", {}, ...["quantity", "A", "B", "B − A"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...c.differences.map(([k, a, b, d]) => el("tr", {class: d ? "changed" : ""},
          el("th", {}, k), el("td", {}, fmt(a, 4)), el("td", {}, fmt(b, 4)), el("td", {}, fmt(d, 4)))))));
      if (c.only_a.length || c.only_b.length)
        view.append(el("p", {class: "muted"}, `only in A: ${c.only_a.join(", ") || "–"}; only in B: ${c.only_b.join(", ") || "–"}`));
    },
  };

  function shiftTime(t, ms) {
    const d = new Date(t.replace(" ", "T") + (/[zZ]|[+-]\d\d:\d\d$/.test(t) ? "" : "Z"));
    return isoNaive(new Date(d.getTime() + ms).toISOString());
  }
  function isoNaive(t) { return t.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, ""); }

  /* Follow a running run: when its files change, draw the page again. */
  async function poll() {
    const route = parseRoute();
    if (EMBEDDED || !route.run || VPP.rendered === null) return;
    try {
      const v = await api(`/run/${encodeURIComponent(route.run)}/version`);
      if (VPP.version && VPP.version.run === route.run && VPP.version.stamp !== v.version) {
        const y = window.scrollY;
        await render();
        window.scrollTo(0, y);
      }
      live.textContent = v.finished ? "" : "● live";
    } catch (err) { live.textContent = ""; }
  }

  window.addEventListener("hashchange", render);
  render();
  if (!EMBEDDED) setInterval(poll, 1000);
  else document.getElementById("live").textContent = "exported file";
})();
