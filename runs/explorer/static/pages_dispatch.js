/* The runs, a run's overview, a step's negotiation, two runs compared. */
"use strict";

(function () {
  const {VPP, EMBEDDED, SITE_COLORS, api, el, esc, fmt, link, runHref, plot, chartBox,
    shiftTime, isoNaive} = window.VPPUI;
  const PAGES = window.VPPPages = window.VPPPages || {};
  // what the run's trace level left out ("messages not recorded at trace level rounds")
  const traceNote = (text) => el("p", {class: "trace-note", id: "trace-note"}, text);
  Object.assign(PAGES, {
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
      if (o.trace && o.trace.note) view.append(traceNote(o.trace.note));
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
      if (o.heatmap) view.append(chartBox("chart-heatmap", `Every site's dispatch (${o.heatmap.sites.length} sites` +
        (o.heatmap.bin_steps ? `; means over ${o.heatmap.bin_steps} steps a column)` : ")")));
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
        await plot("chart-heatmap", [{type: "heatmap", x: o.heatmap.times || x, y: o.heatmap.sites.map(esc), z: o.heatmap.z,
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
      const note = steps.trace_note ? traceNote(steps.trace_note) : null;
      if (!numbers.length) {
        view.append(el("p", {}, "No step of this run holds messages."));
        if (note) view.append(note);
        return;
      }
      const step = asked !== null ? asked : numbers[0];
      const i = numbers.indexOf(step);
      const input = el("input", {type: "number", id: "seq-step", value: String(step),
        min: String(numbers[0]), max: String(numbers[numbers.length - 1])});
      input.addEventListener("change", () => { location.hash = runHref(route.run, "negotiation", input.value); });
      const prev = i > 0 ? link(runHref(route.run, "negotiation", numbers[i - 1]), "◀ previous") : el("span", {class: "muted"}, "◀");
      const next = i >= 0 && i < numbers.length - 1 ? link(runHref(route.run, "negotiation", numbers[i + 1]), "next ▶") : el("span", {class: "muted"}, "▶");
      const head = el("div", {class: "step-nav"}, prev, " step ", input, " ", next);
      view.append(el("h2", {}, `${route.run}: negotiation of step ${step}`), head);
      if (note) view.append(note);
      if (steps.omitted && steps.omitted.includes(step)) {
        view.append(el("p", {class: "error"}, `Step ${step} is not in this exported file ` +
          `(it holds ${steps.steps.length - steps.omitted.length} of ${steps.steps.length} steps).`));
        return;
      }
      if (i < 0) { view.append(el("p", {class: "error", id: "error"}, `Step ${step} holds no messages.`)); return; }
      const data = stepData || await api(`/run/${run}/step/${step}`);
      VPP.state.step = data;
      if (data.unrecorded && data.unrecorded.length) {
        view.append(el("p", {class: "muted", id: "unrecorded"}, "Counted, not recorded: " +
          data.unrecorded.map(([k, d, n]) => `${k} ${d} ${n}`).join(", ")));
      }
      if (data.events_in_step > data.counts.events) {
        view.append(el("p", {class: "muted", id: "events-shown"},
          `Drawn: the first ${data.counts.events.toLocaleString("en")} of this step's ` +
          `${data.events_in_step.toLocaleString("en")} events (the oldest); ` +
          `vpp trace messages RUN --step ${step} lists them all.`));
      }
      const box = el("div", {class: "seq", id: "seq"});
      view.append(box);
      const keep = VPP.state.seqFilters && VPP.state.seqFilters.run === route.run ? VPP.state.seqFilters : null;
      VPP.seq = VPPSeq.mount(box, data, {state: keep ? {round: keep.round, agent: "all",
        kinds: new Set([...keep.kinds].filter((k) => data.kinds.includes(k)))} : null,
        onFilter: (s) => { VPP.state.seqFilters = {run: route.run, round: s.round, kinds: new Set(s.kinds)}; }});
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
  });
})();
