// The command center (doc/console.md): sign-in, the agents, the
// approvals queue and the audit trail, from the HTTP API alone.
// Everything the server sends is set as text (textContent), never as
// markup: a title may hold HTML, and it must stay a title.
import { api, ApiError, stream, token, setToken } from "./api.js";

const POLL_MS = 2000;
const RANK = { viewer: 1, operator: 2, admin: 3 };
const $ = (sel, root = document) => root.querySelector(sel);

let me = null;          // {name, role}
let timers = [];
let streamAbort = null;
const shown = new Map(); // decision id -> its card

function may(role) {
	return me && RANK[me.role] >= RANK[role];
}

function banner(text) {
	const b = $("#banner");
	b.textContent = text || "";
	b.hidden = !text;
}

// A failed read: an unknown token goes back to sign-in; agentd not
// answering is said, and the next poll tries again.
function failed(e) {
	if (e instanceof ApiError && e.status === 401) {
		signOut("The token is no longer valid: " + e.message);
		return;
	}
	banner(e.status === 0 ? "agentd does not answer: retrying…" : e.message);
}

function cell(tr, text) {
	const td = document.createElement("td");
	td.textContent = text;
	tr.appendChild(td);
	return td;
}

function ms(us) {
	return us >= 1000 ? (us / 1000).toFixed(1) + " ms" : us + " µs";
}

// ---- overview -------------------------------------------------------------

async function refreshStatus() {
	let st;
	try {
		st = await api("GET", "/v1/status");
	} catch (e) {
		failed(e);
		return;
	}
	banner("");
	$("#agentd-info").textContent = "agentd " + st.version + ", pid " + st.pid;
	const body = $("#agents tbody");
	const rows = document.createDocumentFragment();
	for (const a of st.agents) {
		const tr = document.createElement("tr");
		tr.dataset.agent = a.name;
		cell(tr, a.name);
		cell(tr, a.state).className = "state " + a.state.replace(" ", "-");
		cell(tr, a.ready + "/" + a.desired);
		cell(tr, String(a.requests));
		cell(tr, String(a.errors));
		cell(tr, ms(a.service.p99_us));
		cell(tr, ms(a.queue_wait.p99_us));
		cell(tr, String(a.restarts));
		rows.appendChild(tr);
	}
	body.replaceChildren(rows);
}

// ---- approvals ------------------------------------------------------------

function left(msLeft) {
	if (msLeft <= 0) return "due";
	const s = Math.round(msLeft / 1000);
	return s >= 3600 ? Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min"
		: s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
}

function card(d) {
	const li = $("#approval-tpl").content.firstElementChild.cloneNode(true);
	li.dataset.id = d.id;
	li.querySelector(".actions").hidden = !may("operator");
	li.querySelector(".approve").addEventListener("click", () => answer(li, "approve"));
	li.querySelector(".reject").addEventListener("click", () => answer(li, "reject"));
	li.querySelector(".modify-open").addEventListener("click", () => {
		const m = li.querySelector(".modify");
		m.hidden = false;
		const ta = li.querySelector(".params-edit");
		ta.value = JSON.stringify(li.decision.params, null, 2);
		ta.focus();
	});
	li.querySelector(".modify-cancel").addEventListener("click", () => {
		li.querySelector(".modify").hidden = true;
	});
	li.querySelector(".modify-send").addEventListener("click", () => answer(li, "modify"));
	return li;
}

function fill(li, d) {
	li.decision = d;
	li.querySelector(".title").textContent = d.title;
	li.querySelector(".agent").textContent = d.agent;
	li.querySelector(".type").textContent = d.type;
	li.querySelector(".amount").textContent = String(d.amount);
	li.querySelector(".confidence").textContent = String(d.confidence);
	li.querySelector(".risk").textContent = d.risk;
	li.querySelector(".left").textContent = left(d.left_ms);
	li.querySelector(".reasoning").textContent = d.reasoning;
	li.querySelector(".params").textContent = JSON.stringify(d.params);
}

async function refreshApprovals() {
	let ans;
	try {
		ans = await api("GET", "/v1/approvals");
	} catch (e) {
		failed(e);
		return;
	}
	const list = $("#approval-list");
	const ids = new Set();
	for (const d of ans.approvals) {
		ids.add(d.id);
		let li = shown.get(d.id);
		if (!li) {
			li = card(d);
			shown.set(d.id, li);
		}
		fill(li, d);
		list.appendChild(li); // oldest first, as the server orders them
	}
	for (const [id, li] of shown)
		if (!ids.has(id)) {
			li.remove();
			shown.delete(id);
		}
	$("#approvals-empty").hidden = ans.approvals.length > 0;
	$("#pending-count").textContent = String(ans.approvals.length);
}

// Approve, reject or modify one decision; what the page refuses is
// said beside it, and the server refuses the same.
async function answer(li, what) {
	const err = li.querySelector(".error");
	const note = li.querySelector(".note").value.trim();
	let body;
	err.textContent = "";
	if (what === "approve") {
		body = note ? { note } : {};
	} else if (what === "reject") {
		if (!note) {
			err.textContent = "A rejection needs a reason: write it in the note.";
			li.querySelector(".note").focus();
			return;
		}
		body = { reason: note };
	} else {
		let params;
		try {
			params = JSON.parse(li.querySelector(".params-edit").value);
		} catch (e) {
			err.textContent = "The parameters are not JSON: " + e.message;
			return;
		}
		if (params === null || typeof params !== "object" || Array.isArray(params)) {
			err.textContent = "The parameters must be a JSON object.";
			return;
		}
		body = note ? { params, note } : { params };
	}
	for (const b of li.querySelectorAll("button")) b.disabled = true;
	try {
		await api("POST", "/v1/decisions/" + encodeURIComponent(li.dataset.id) + "/" + what, body);
		li.remove();
		shown.delete(li.dataset.id);
		banner("Decision " + li.dataset.id + ": " + (what === "modify" ? "modified" : what + "d"));
	} catch (e) {
		err.textContent = e.message;
	} finally {
		for (const b of li.querySelectorAll("button")) b.disabled = false;
	}
	refreshApprovals();
}

// The events stream, where agentd has it: a new decision is shown at
// once instead of at the next poll.  Without it, polling alone.
async function watchStream() {
	streamAbort = new AbortController();
	const had = await stream("/v1/events/stream", () => refreshApprovals(), streamAbort.signal);
	if (had && me) setTimeout(watchStream, POLL_MS);
}

// ---- audit ----------------------------------------------------------------

async function searchAudit(ev) {
	if (ev) ev.preventDefault();
	const q = new URLSearchParams({ limit: "100" });
	const agent = $("#audit-agent").value.trim(), kind = $("#audit-kind").value.trim();
	if (agent) q.set("agent", agent);
	if (kind) q.set("kind", kind);
	let ans;
	try {
		ans = await api("GET", "/v1/audit?" + q);
	} catch (e) {
		$("#verify-result").textContent = e.message;
		return;
	}
	const rows = document.createDocumentFragment();
	for (const r of ans.records) {
		const tr = document.createElement("tr");
		cell(tr, String(r.seq));
		cell(tr, new Date(r.time_ms).toLocaleString());
		cell(tr, r.agent || "");
		cell(tr, r.kind);
		cell(tr, r.summary);
		rows.appendChild(tr);
	}
	$("#audit-table tbody").replaceChildren(rows);
}

async function verifyAudit() {
	const out = $("#verify-result");
	out.textContent = "Verifying…";
	try {
		const v = await api("GET", "/v1/audit/verify");
		out.textContent = v.ok
			? "The chain holds: " + v.records + " records, " + v.first_seq + " to " + v.last_seq + "."
			: "The chain is broken at record " + v.bad_seq + ": " + v.what;
		out.className = v.ok ? "ok" : "error";
	} catch (e) {
		out.textContent = e.message;
		out.className = "error";
	}
}

// ---- views and sign-in ----------------------------------------------------

function show(view) {
	for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== view;
	for (const b of document.querySelectorAll("#tabs button"))
		if (b.dataset.view === view) b.setAttribute("aria-current", "page");
		else b.removeAttribute("aria-current");
	if (view === "audit") searchAudit();
}

function stopAll() {
	for (const t of timers) clearInterval(t);
	timers = [];
	if (streamAbort) streamAbort.abort();
	streamAbort = null;
}

function signOut(why) {
	stopAll();
	setToken(null);
	me = null;
	for (const li of shown.values()) li.remove();
	shown.clear();
	$("#signin").hidden = false;
	$("#tabs").hidden = $("#who").hidden = true;
	for (const s of document.querySelectorAll(".view")) s.hidden = true;
	$("#signin-error").textContent = why || "";
	banner("");
	$("#token").focus();
}

async function signIn() {
	try {
		me = await api("GET", "/v1/whoami");
	} catch (e) {
		signOut(e.status === 401 ? "agentd does not know this token." : e.message);
		return;
	}
	$("#signin").hidden = true;
	$("#tabs").hidden = $("#who").hidden = false;
	$("#who-name").textContent = me.name;
	$("#who-role").textContent = me.role;
	document.body.dataset.role = me.role;
	show("overview");
	refreshStatus();
	refreshApprovals();
	timers.push(setInterval(refreshStatus, POLL_MS));
	timers.push(setInterval(refreshApprovals, POLL_MS));
	watchStream();
}

$("#signin-form").addEventListener("submit", (ev) => {
	ev.preventDefault();
	const t = $("#token").value.trim();
	if (!t) return;
	$("#token").value = "";
	setToken(t);
	signIn();
});
$("#sign-out").addEventListener("click", () => signOut(""));
$("#tabs").addEventListener("click", (ev) => {
	const b = ev.target.closest("button[data-view]");
	if (b) show(b.dataset.view);
});
$("#audit-form").addEventListener("submit", searchAudit);
$("#audit-verify").addEventListener("click", verifyAudit);

if (token()) signIn();
else signOut("");
