/* The pages of particular runs: ADMM, grid events, Volt-VAR, markets and backtests. */
"use strict";

(function () {
  const {VPP, EMBEDDED, SITE_COLORS, api, el, esc, fmt, link, runHref, plot, chartBox,
    shiftTime, isoNaive} = window.VPPUI;
  const PAGES = window.VPPPages = window.VPPPages || {};
  Object.assign(PAGES, {
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

  });
})();
