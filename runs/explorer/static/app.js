/* The trace explorer: a page per hash route, drawn from the JSON the server returns (or
 * that an exported file embeds). Text from a run only ever reaches the page as
 * textContent, and Plotly labels are escaped first: nothing from a trace runs. */
"use strict";


(function () {
  const {VPP, EMBEDDED, SITE_COLORS, api, el, esc, fmt, link, runHref, plot, chartBox,
    shiftTime, isoNaive} = window.VPPUI;
  const PAGES = window.VPPPages;
  const nav = document.getElementById("nav");
  const live = document.getElementById("live");
  const mainRef = {el: document.getElementById("main")};
  const PAGE_TITLES = {overview: "Overview", negotiation: "Negotiation", admm: "ADMM",
    grid: "Grid event", voltage: "Volt-VAR", market: "Markets & trading"};

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
