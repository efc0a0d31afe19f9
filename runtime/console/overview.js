// The overview: one row per agent from GET /v1/status, updated in place
// (a row keeps its focus across refreshes), and a chart per agent of
// requests/s and p99 service time kept in the browser from the polls.
import { $, el, cell, us, spark } from "./ui.js";

const KEEP = 150; // points per agent: 5 minutes at one poll per 2 s

const rows = new Map(); // agent -> {tr, cells, hist}

function stateClass(s) {
	return "state " + String(s).replace(/\s+/g, "-");
}

function gens(a) {
	const g = a.generations || [];
	if (g.length <= 1) return a.version + " (g" + a.generation + ")";
	return g.map((x) => x.version + " " + x.role + " " + x.share + "%").join(" / ");
}

function newRow(name, onOpen) {
	const tr = document.createElement("tr");
	tr.dataset.agent = name;
	const first = tr.appendChild(document.createElement("th"));
	first.scope = "row";
	const b = first.appendChild(el("button", name, "link"));
	b.type = "button";
	b.addEventListener("click", () => onOpen(name));
	const cells = {};
	for (const k of ["state", "ready", "gens", "rps", "errors", "p99", "qp99", "restarts", "pending", "chart"])
		cells[k] = cell(tr, "", k);
	return { tr, cells, hist: { t: [], req: [], rps: [], p99: [] } };
}

// One poll's answer into the table; onOpen(name) opens an agent.
export function renderStatus(st, onOpen) {
	const body = $("#agents tbody");
	const now = Date.now();
	const seen = new Set();
	let pending = 0;
	st.agents.forEach((a, i) => {
		seen.add(a.name);
		let r = rows.get(a.name);
		if (!r) {
			r = newRow(a.name, onOpen);
			rows.set(a.name, r);
		}
		const h = r.hist;
		const prevT = h.t.length ? h.t[h.t.length - 1] : 0;
		const prevReq = h.req.length ? h.req[h.req.length - 1] : a.requests;
		const rps = prevT && now > prevT ? Math.max(0, ((a.requests - prevReq) * 1000) / (now - prevT)) : 0;
		h.t.push(now);
		h.req.push(a.requests);
		h.rps.push(rps);
		h.p99.push(a.service.p99_us);
		for (const k of ["t", "req", "rps", "p99"]) if (h[k].length > KEEP) h[k].shift();
		const c = r.cells;
		const p = a.decisions ? a.decisions.pending : 0;
		pending += p;
		c.state.textContent = a.state;
		c.state.className = stateClass(a.state);
		c.ready.textContent = a.ready + "/" + a.desired;
		c.gens.textContent = gens(a);
		c.rps.textContent = rps.toFixed(rps < 10 ? 1 : 0);
		c.errors.textContent = String(a.errors);
		c.p99.textContent = us(a.service.p99_us);
		c.qp99.textContent = us(a.queue_wait.p99_us);
		c.restarts.textContent = String(a.restarts);
		c.pending.textContent = String(p);
		c.chart.replaceChildren(spark([{ values: h.rps, cls: "rps" }, { values: h.p99, cls: "p99" }]));
		c.chart.title = "last " + Math.round((now - h.t[0]) / 60000) + " min: requests/s (blue), p99 (orange)";
		if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
	});
	for (const [name, r] of rows)
		if (!seen.has(name)) {
			r.tr.remove();
			rows.delete(name);
		}
	$("#agentd-info").textContent =
		"agentd " + st.version + ", pid " + st.pid + ", up " + Math.round((now - st.started_ms) / 60000) + " min, " +
		st.agents.length + " agents";
	return pending;
}

export function resetOverview() {
	for (const r of rows.values()) r.tr.remove();
	rows.clear();
}
