// phoenix dashboard: draws the snapshot the server streams (/api/events)
// and a version's page (/api/envs/{env}/versions/{version}). No library,
// nothing from the network.
"use strict";

let snap = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function age(t) {
  if (!t || t.startsWith("0001")) return "";
  let s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 90) return Math.round(s) + "s";
  if (s < 5400) return Math.round(s / 60) + "m";
  if (s < 129600) return Math.round(s / 3600) + "h";
  return Math.round(s / 86400) + "d";
}

function when(t) {
  if (!t || t.startsWith("0001")) return "";
  return new Date(t).toLocaleString();
}

function short(s, n) { return s && s.length > n ? s.slice(0, n) + "…" : (s || ""); }

function verdictClass(v) { return "verdict-" + (v || "").replace(/ /g, "-"); }

const roleColor = { live: "var(--live)", candidate: "var(--cand)", previous: "var(--prev)" };

function roleOf(env, version) {
  if (version === env.live) return "live";
  if (version === env.candidate) return "candidate";
  if (version === env.previous) return "previous";
  return "";
}

// split draws where the env sends production traffic.
function split(env) {
  const w = env.candidate ? env.candidateWeight : 0;
  const bar = el("div", { class: "split", "data-env": env.env, "data-live": env.live || "", "data-candidate": env.candidate || "", "data-weight": String(w) });
  if (!env.live && !env.candidate) {
    bar.append(el("div", { class: "muted", text: "no traffic routed" }));
    return bar;
  }
  if (env.live && w < 100) {
    const d = el("div", { class: "live", text: `live ${env.live} ${100 - w}%` });
    d.style.width = (100 - w) + "%";
    bar.append(d);
  }
  if (env.candidate && w > 0) {
    const d = el("div", { class: "candidate", text: `candidate ${env.candidate} ${w}%` });
    d.style.width = w + "%";
    bar.append(d);
  }
  return bar;
}

// chart draws one figure of each version's series as lines.
function chart(title, env, pick, unit, sparse) {
  const W = 600, H = 120, pad = 4;
  const series = env.traffic || [];
  let lo = Infinity, hi = -Infinity, maxY = 0;
  for (const s of series) for (const p of s.points) {
    const t = Date.parse(p.at); lo = Math.min(lo, t); hi = Math.max(hi, t);
    if (!sparse || p.requests > 0) maxY = Math.max(maxY, pick(p));
  }
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  if (maxY === 0) maxY = 1;
  for (const s of series) {
    // A window without requests has no error rate or latency: those
    // charts leave a gap there rather than draw a zero.
    const runs = [[]];
    for (const p of s.points) {
      if (sparse && !p.requests) {
        if (runs[runs.length - 1].length) runs.push([]);
        continue;
      }
      runs[runs.length - 1].push(p);
    }
    for (const run of runs) {
      if (!run.length) continue;
      const pts = run.map(p => {
        const x = hi > lo ? pad + (Date.parse(p.at) - lo) / (hi - lo) * (W - 2 * pad) : W / 2;
        const y = H - pad - pick(p) / maxY * (H - 2 * pad);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", pts.join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke-width", "2");
      line.setAttribute("vector-effect", "non-scaling-stroke");
      line.setAttribute("stroke", roleColor[roleOf(env, s.version)] || "#888");
      line.setAttribute("data-version", s.version);
      svg.append(line);
    }
  }
  const last = series.map(s => {
    const p = s.points[s.points.length - 1];
    return !p || (sparse && !p.requests) ? "" : `${s.version}: ${fmt(pick(p))}${unit}`;
  }).filter(Boolean).join(", ");
  const span = hi > lo ? ` over the last ${Math.round((hi - lo) / 60000) || 1} min` : "";
  return el("div", { class: "chart" }, el("h4", { text: `${title}${span} (top ${fmt(maxY)}${unit})` }), svg, el("div", { class: "muted mono", text: last ? "now " + last : "" }));
}

function fmt(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }

function traffic(env) {
  const box = el("div", { class: "traffic" });
  box.append(el("h3", { text: "Production traffic" }));
  if (env.trafficError) box.append(el("div", { class: "warn", text: "traffic figures unavailable: " + env.trafficError }));
  const legend = el("div", { class: "legend" });
  for (const s of env.traffic || []) {
    const sw = el("span", { class: "swatch" });
    sw.style.background = roleColor[roleOf(env, s.version)] || "#888";
    legend.append(el("span", {}, sw, el("span", { class: "mono", text: s.version }), ` ${roleOf(env, s.version)}: `,
      el("span", { class: "requests", "data-env": env.env, "data-version": s.version, "data-role": roleOf(env, s.version), "data-requests": String(s.requests), text: String(s.requests) }), " requests"));
  }
  box.append(legend);
  box.append(el("div", { class: "charts" },
    chart("requests/s", env, p => p.seconds ? p.requests / p.seconds : 0, "", false),
    chart("error rate", env, p => p.requests ? 100 * p.errors / p.requests : 0, "%", true),
    chart("p50 latency", env, p => p.p50 || 0, " ms", true),
    chart("p99 latency", env, p => p.p99 || 0, " ms", true)));
  const verdicts = (env.verdicts || []);
  if (verdicts.length) {
    box.append(el("h3", { text: "Verdicts" }));
    const t = el("table", { class: "verdicts" }, el("tr", {}, el("th", { text: "when" }), el("th", { text: "step" }), el("th", { text: "verdict" }), el("th", { text: "then" }), el("th", { text: "figures" })));
    for (const v of verdicts) {
      t.append(el("tr", {},
        el("td", { text: when(v.time) }), el("td", { text: v.step }),
        el("td", { class: verdictClass(v.verdict), "data-verdict": v.verdict, "data-step": v.step, text: v.verdict }),
        el("td", { text: v.then }), el("td", { class: "mono", text: v.figures })));
    }
    box.append(t);
  }
  return box;
}

function versions(env) {
  const t = el("table", { class: "versions" }, el("tr", {}, ...["version", "role", "age", "artifact", "image", "from", "resources"].map(h => el("th", { text: h }))));
  for (const v of env.versions) {
    const role = v.complete ? (v.role || "warm") : (v.failed ? "failed" : "incomplete");
    t.append(el("tr", { "data-version": v.version },
      el("td", { class: "mono" }, el("a", { href: `#/env/${env.env}/version/${v.version}`, text: v.version })),
      el("td", { class: "role-" + role, text: role }),
      el("td", { text: age(v.deployed && !v.deployed.startsWith("0001") ? v.deployed : v.lastUpdate) }),
      el("td", { class: "mono", text: v.artifact || "" }),
      el("td", { class: "mono", title: v.image || "", text: short(v.image, 24) }),
      el("td", { class: "mono", text: v.promotedFrom || "" }),
      el("td", { text: String(v.resources) })));
  }
  return t;
}

function history(events, limit) {
  const t = el("table", { class: "history" }, el("tr", {}, ...["#", "when", "by", "change", "from", "to", "weight", "result", "why"].map(h => el("th", { text: h }))));
  for (const e of events.slice(0, limit)) {
    t.append(el("tr", {},
      el("td", { text: String(e.update) }), el("td", { text: when(e.time) }), el("td", { text: e.by }),
      el("td", { text: e.op }), el("td", { class: "mono", text: e.from || "" }), el("td", { class: "mono", text: e.to || "" }),
      el("td", { text: e.weight ? e.weight + "%" : "" }),
      el("td", { class: e.result && e.result !== "succeeded" ? "result-failed" : "", text: e.result }),
      el("td", { class: "mono", text: e.why || "" })));
  }
  return t;
}

function envCard(env) {
  const card = el("section", { class: "env", id: "env-" + env.env, "data-env": env.env });
  card.append(el("h2", {}, env.env, el("span", { class: "badge", text: env.platform || "not deployed" }),
    env.url ? el("span", { class: "badge" }, el("a", { href: env.url, text: env.url })) : null));
  if (env.lease) {
    const l = env.lease;
    card.append(el("div", { class: "lease", "data-holder": l.command },
      l.stale ? `the lease of phoenix ${l.command} (pid ${l.pid} on ${l.host}) is stale: its holder is gone; the next command takes it over`
        : `phoenix ${l.command} holds the env: ${l.user}@${l.host}, pid ${l.pid}, since ${when(l.since)}`));
  }
  if (env.expires) card.append(el("div", { class: "warn", text: `expires ${when(env.expires)}: phoenix gc --expired destroys it then` }));
  if (env.warning) card.append(el("div", { class: "warn", text: env.warning }));
  if (!env.deployed) {
    card.append(el("p", { class: "muted", text: `env ${env.env} has not been deployed; deploy it with: phoenix deploy --env ${env.env}` }));
    return card;
  }
  card.append(split(env));
  card.append(el("div", { class: "muted" }, `live ${env.live || "none"}`, env.previous ? `, previous ${env.previous} (a rollback returns to it)` : "", `, ${env.retention} warm versions kept besides`));
  card.append(traffic(env));
  card.append(el("h3", { text: "Versions" }), versions(env));
  card.append(el("h3", { text: "History" }), history(env.history || [], 20));
  return card;
}

function overview() {
  const main = document.getElementById("main");
  const kids = [];
  if (snap.envs.length > 1) {
    const diffs = snap.differences || [];
    kids.push(el("p", { class: "muted" },
      `${snap.envs.length} envs: `, snap.sameArtifact ? "one artifact" : "different artifacts", ", ",
      snap.sameProgram ? "one program" : "different programs", diffs.length ? `; config keys that differ: ${diffs.map(d => d.key).join(", ")}` : "; no config difference"));
  }
  for (const env of snap.envs) kids.push(envCard(env));
  main.replaceChildren(...kids);
}

async function versionPage(envName, version) {
  const main = document.getElementById("main");
  main.replaceChildren(el("p", { class: "muted", text: `Reading ${envName}.${version}…` }));
  const r = await fetch(`api/envs/${encodeURIComponent(envName)}/versions/${encodeURIComponent(version)}`);
  if (!r.ok) {
    main.replaceChildren(el("p", { class: "banner", text: await r.text() }), el("a", { href: "#/", text: "all envs" }));
    return;
  }
  const v = await r.json();
  const kids = [el("p", {}, el("a", { href: "#/", text: "← all envs" })),
    el("h2", {}, "version ", el("span", { class: "mono", text: v.stack })),
    el("table", {}, ...[
      ["role", v.role || (v.complete ? "warm" : "incomplete")], ["deployed", when(v.deployed)], ["last update", when(v.lastUpdate)],
      ["artifact", v.artifact], ["image", v.image], ["program", v.program], ["promoted from", v.promotedFrom]]
      .filter(([, x]) => x).map(([k, x]) => el("tr", {}, el("th", { text: k }), el("td", { class: "mono", text: x })))),
    el("h3", { text: `Resources (${v.resources.length})` }),
    el("table", { class: "resources" }, el("tr", {}, el("th", { text: "type" }), el("th", { text: "name" })),
      ...v.resources.map(x => el("tr", {}, el("td", { class: "mono", text: x.type }), el("td", { class: "mono", text: x.name })))),
    el("h3", { text: "Cut-overs" }), v.cutOvers.length ? history(v.cutOvers, 100) : el("p", { class: "muted", text: "never routed" }),
    el("h3", { text: "Logs" })];
  if (v.logsError) kids.push(el("div", { class: "warn", text: v.logsError }));
  kids.push(el("pre", { class: "logs", text: v.logs.map(l => `${l.time} ${l.source} ${l.line}`).join("\n") || "(no output in the last 15 minutes)" }));
  main.replaceChildren(...kids);
}

function route() {
  const m = location.hash.match(/^#\/env\/([^/]+)\/version\/([^/]+)$/);
  if (m) return versionPage(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
  if (snap) overview();
}

function onSnapshot(s) {
  snap = s;
  document.getElementById("updated").textContent = `state read ${when(s.at)}` + (s.trafficAt && !s.trafficAt.startsWith("0001") ? `, traffic ${when(s.trafficAt)}` : "");
  const err = document.getElementById("error");
  err.hidden = !s.error;
  err.textContent = s.error ? "the newest read of the envs failed (showing the last one that worked): " + s.error : "";
  if (!location.hash.startsWith("#/env/")) overview();
}

function connect() {
  const dot = document.getElementById("stream");
  const es = new EventSource("api/events");
  es.addEventListener("snapshot", e => { dot.classList.add("on"); onSnapshot(JSON.parse(e.data)); });
  es.onerror = () => dot.classList.remove("on");
}

window.addEventListener("hashchange", route);
connect();
route();
