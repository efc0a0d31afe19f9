// One agent: what runs (generations, instances), its settings (secrets
// masked by agentd, which never sends them), its recent decisions,
// its state keys (read for a viewer, written by an operator), and the
// admin's acts (reload, promote, rollback, restart, scale), each asked
// for twice and audited by agentd as the token's name.
import { api } from "./api.js";
import { $, el, row, may, failed, us, when, duration, confirmDo } from "./ui.js";

let name = null;
let stateKey = null;

export function currentAgent() {
	return name;
}

function fact(dl, k, v) {
	dl.appendChild(el("dt", k));
	dl.appendChild(el("dd", v));
}

// What a generation's instances counted (host->count()), each with its
// rate per request answered, the measure to compare a canary on:
// "conversions 12 (0.30/req) · visits 40 (1.00/req)".
function counters(gen) {
	return Object.entries(gen.counters || {})
		.map(([k, v]) => k + " " + v + (gen.requests > 0 ? " (" + (v / gen.requests).toFixed(2) + "/req)" : ""))
		.join(" · ");
}

// The agent's part of a status answer into the view.
export function renderAgent(st) {
	const a = st.agents.find((x) => x.name === name);
	if (!a) {
		$("#agent-facts").replaceChildren(el("dd", "agentd runs no agent of this name now."));
		return;
	}
	const dl = document.createDocumentFragment();
	fact(dl, "State", a.state);
	fact(dl, "Plugin", a.plugin);
	fact(dl, "Version", a.version + " (generation " + a.generation + ")");
	fact(dl, "Instances", a.ready + " ready of " + a.desired + " (min " + a.min + ", max " + a.max + ", " + a.scaling + ")");
	fact(dl, "Requests", a.requests + " (" + a.errors + " errors, " + a.redispatched + " redispatched)");
	fact(dl, "In flight / queued", a.inflight + " / " + a.queued);
	fact(dl, "Service p50 / p99", us(a.service.p50_us) + " / " + us(a.service.p99_us));
	fact(dl, "Queue wait p50 / p99", us(a.queue_wait.p50_us) + " / " + us(a.queue_wait.p99_us));
	fact(dl, "Events published / delivered / dropped", a.events_published + " / " + a.events_delivered + " / " + a.events_dropped);
	fact(dl, "Restarts", String(a.restarts));
	if (a.decisions) fact(dl, "Decisions pending", String(a.decisions.pending));
	$("#agent-facts").replaceChildren(dl);
	const g = document.createDocumentFragment();
	for (const x of a.generations || [])
		g.appendChild(row([x.generation, x.role, x.version, x.share + "%", x.instances, x.requests, x.errors, counters(x), x.hash.slice(0, 15)]));
	$("#agent-gens tbody").replaceChildren(g);
	const i = document.createDocumentFragment();
	for (const x of a.instances || [])
		i.appendChild(row([x.id, x.state, x.pid, x.generation, duration(x.uptime_ms), x.inflight, x.served, x.rss_kb + " kB"]));
	$("#agent-insts tbody").replaceChildren(i);
	// Schedules (schedule "NAME" { }): shown only for an agent that has any.
	const sch = document.createDocumentFragment();
	for (const x of a.schedules || [])
		sch.appendChild(row([x.name, x.spec + (x.timezone ? " " + x.timezone : ""), x.missed,
			when(x.next_due_ms), when(x.last_due_ms), x.runs, x.missed_runs, x.skipped]));
	$("#agent-scheds tbody").replaceChildren(sch);
	$("#agent-scheds").hidden = !(a.schedules && a.schedules.length);
	const sc = $("#scale-count");
	if (document.activeElement !== sc && sc.value === "") sc.value = String(a.desired);
}

// Settings change only with a reload: read when the page opens.
async function loadSettings() {
	const body = $("#agent-settings tbody");
	try {
		const ans = await api("GET", "/v1/agents/" + encodeURIComponent(name) + "/settings");
		const rows = document.createDocumentFragment();
		for (const x of ans.settings) {
			const tr = row([x.name, x.type, x.masked ? "******** (" + (x.file ? "from " + x.file : "hidden") + ")" : typeof x.value === "string" ? x.value : JSON.stringify(x.value)]);
			if (x.masked) tr.classList.add("masked");
			rows.appendChild(tr);
		}
		if (!ans.settings.length) rows.appendChild(row(["This agent's plugin takes no settings.", "", ""]));
		body.replaceChildren(rows);
	} catch (e) {
		body.replaceChildren(row([e.message, "", ""]));
		failed(e);
	}
}

async function loadDecisions() {
	try {
		const ans = await api("GET", "/v1/decisions?agent=" + encodeURIComponent(name) + "&limit=20");
		const rows = document.createDocumentFragment();
		for (const d of ans.decisions) rows.appendChild(row([d.id, when(d.proposed_ms), d.risk, d.state, d.by, d.title]));
		$("#agent-decisions tbody").replaceChildren(rows);
	} catch (e) {
		failed(e);
	}
}

async function listKeys(ev) {
	if (ev) ev.preventDefault();
	const out = $("#state-keys");
	const p = $("#state-prefix").value;
	try {
		const ans = await api("GET", "/v1/agents/" + encodeURIComponent(name) + "/state?prefix=" + encodeURIComponent(p));
		const frag = document.createDocumentFragment();
		for (const e of ans.entries) {
			const li = document.createElement("li");
			const b = li.appendChild(el("button", e.key, "link"));
			b.type = "button";
			b.addEventListener("click", () => openKey(e.key));
			frag.appendChild(li);
		}
		if (!ans.entries.length) frag.appendChild(el("li", "No key starts with this prefix.", "muted"));
		out.replaceChildren(frag);
	} catch (e) {
		out.replaceChildren(el("li", e.message, "error"));
		failed(e, out.firstChild);
	}
}

function keyPath(k) {
	return "/v1/agents/" + encodeURIComponent(name) + "/state/" + k.split("/").map(encodeURIComponent).join("/");
}

async function openKey(k) {
	stateKey = k;
	$("#state-error").textContent = "";
	$("#state-key").textContent = k;
	const ta = $("#state-edit");
	try {
		ta.value = JSON.stringify(await api("GET", keyPath(k)), null, 2);
	} catch (e) {
		failed(e, $("#state-error"));
		ta.value = "";
	}
	ta.readOnly = !may("operator");
	$(".state-write").hidden = !may("operator");
	$("#state-value").hidden = false;
	ta.focus();
}

async function saveKey() {
	let v;
	try {
		v = JSON.parse($("#state-edit").value);
	} catch (e) {
		$("#state-error").textContent = "The value is not JSON: " + e.message;
		return;
	}
	try {
		await api("PUT", keyPath(stateKey), v);
		$("#state-error").textContent = "";
		$("#agent-result").textContent = "Saved " + stateKey + ".";
	} catch (e) {
		failed(e, $("#state-error"));
	}
}

async function deleteKey() {
	if (!(await confirmDo("Delete the state key " + stateKey + " of " + name + "?"))) return;
	try {
		await api("DELETE", keyPath(stateKey));
		$("#state-value").hidden = true;
		$("#agent-result").textContent = "Deleted " + stateKey + ".";
		listKeys();
	} catch (e) {
		failed(e, $("#state-error"));
	}
}

const ACTS = {
	reload: ["Reload agentd's configuration? Every agent whose plugin or configuration changed starts its new version.", "POST", () => "/v1/reload"],
	promote: ["Promote the canary of AGENT to all of its traffic?", "POST", (n) => "/v1/agents/" + n + "/promote"],
	rollback: ["Roll AGENT back to its previous version?", "POST", (n) => "/v1/agents/" + n + "/rollback"],
	restart: ["Restart every instance of AGENT?", "POST", (n) => "/v1/agents/" + n + "/restart"],
	scale: ["Run COUNT instances of AGENT (-1: automatic)?", "POST", (n) => "/v1/agents/" + n + "/scale"],
};

async function act(what) {
	const [q, method, path] = ACTS[what];
	const count = parseInt($("#scale-count").value, 10);
	const out = $("#agent-result");
	if (what === "scale" && !Number.isInteger(count)) {
		out.textContent = "Write a number of instances first.";
		out.className = "error";
		return;
	}
	if (!(await confirmDo(q.replace("AGENT", name).replace("COUNT", String(count))))) return;
	out.textContent = what + "…";
	out.className = "";
	try {
		const ans = await api(method, path(encodeURIComponent(name)), what === "scale" ? { count } : undefined);
		const mine = ans && ans.agents ? ans.agents.find((x) => x.agent === name) || ans.agents[0] : null;
		out.textContent = what + ": " + (mine ? mine.line : "done");
		out.className = mine && mine.outcome === "refused" ? "error" : "ok";
	} catch (e) {
		failed(e, out);
	}
}

// Show agent n (its status comes with the next poll).
export function openAgent(n, st) {
	name = n;
	stateKey = null;
	$("#agent-name").textContent = n;
	$("#agent-result").textContent = "";
	$("#state-value").hidden = true;
	$("#state-keys").replaceChildren();
	$("#scale-count").value = "";
	$("#agent-actions").hidden = !may("admin");
	if (st) renderAgent(st);
	$("#agent-settings tbody").replaceChildren();
	loadSettings();
	loadDecisions();
	listKeys();
}

export function refreshAgent(st) {
	renderAgent(st);
	loadDecisions();
}

export function initAgent() {
	$("#state-form").addEventListener("submit", listKeys);
	$("#state-save").addEventListener("click", saveKey);
	$("#state-delete").addEventListener("click", deleteKey);
	for (const b of document.querySelectorAll("#agent-actions button[data-act]"))
		b.addEventListener("click", () => act(b.dataset.act));
}
