// The approvals queue: pending HIGH decisions, oldest first, a page at a
// time (GET /v1/approvals?limit=N), with approve / reject (a reason) /
// modify (parameters as JSON); MEDIUM notifications listed apart.  The
// streams (app.js) call refresh() when a decision is proposed or
// answered anywhere, so every open page shows the same queue.
import { api } from "./api.js";
import { $, row, may, failed, banner, duration, when } from "./ui.js";

const PAGE = 100;

let limit = PAGE;
let total = 0; // pending, from the last status
const shown = new Map(); // decision id -> its card
let busy = null; // the refresh running, and whether another is due
let again = false;

function card(d) {
	const li = $("#approval-tpl").content.firstElementChild.cloneNode(true);
	li.dataset.id = d.id;
	const m = li.querySelector(".modify");
	const open = li.querySelector(".modify-open");
	li.querySelector(".approve").addEventListener("click", () => answer(li, "approve"));
	li.querySelector(".reject").addEventListener("click", () => answer(li, "reject"));
	open.addEventListener("click", () => {
		m.hidden = false;
		open.setAttribute("aria-expanded", "true");
		const ta = li.querySelector(".params-edit");
		ta.value = JSON.stringify(li.decision.params, null, 2);
		ta.focus();
	});
	li.querySelector(".modify-cancel").addEventListener("click", () => {
		m.hidden = true;
		open.setAttribute("aria-expanded", "false");
		open.focus();
	});
	li.querySelector(".modify-send").addEventListener("click", () => answer(li, "modify"));
	return li;
}

function fill(li, d) {
	li.decision = d;
	li.querySelector(".title").textContent = d.title;
	li.querySelector(".id").textContent = d.id;
	li.querySelector(".agent").textContent = d.agent;
	li.querySelector(".type").textContent = d.type;
	li.querySelector(".amount").textContent = String(d.amount);
	li.querySelector(".confidence").textContent = String(d.confidence);
	li.querySelector(".rule").textContent = d.rule;
	li.querySelector(".left").textContent = duration(d.left_ms) + " (then " + d.at_deadline + ")";
	li.querySelector(".reasoning").textContent = d.reasoning;
	li.querySelector(".params").textContent = JSON.stringify(d.params, null, 1);
	li.querySelector(".actions").hidden = !may("operator");
	if (!may("operator")) li.querySelector(".modify").hidden = true;
}

async function load() {
	const ans = await api("GET", "/v1/approvals?limit=" + limit);
	const list = $("#approval-list");
	const ids = new Set();
	const frag = document.createDocumentFragment();
	let prev = null;
	for (const d of ans.approvals) {
		ids.add(d.id);
		let li = shown.get(d.id);
		if (!li) {
			li = card(d);
			shown.set(d.id, li);
		}
		fill(li, d);
		// Keep cards in place (a focused one keeps its focus); new
		// ones go after the one before them, in the server's order.
		if (!li.isConnected) {
			if (prev) prev.after(li);
			else frag.appendChild(li);
		}
		prev = li;
	}
	if (frag.childNodes.length) list.prepend(frag);
	for (const [id, li] of shown)
		if (!ids.has(id)) {
			li.remove();
			shown.delete(id);
		}
	const n = ans.approvals.length;
	total = Math.max(total, n);
	$("#approvals-empty").hidden = n > 0;
	$("#approvals-more").hidden = n < limit;
	$("#approvals-shown").textContent = n ? "(" + n + (n >= limit ? " shown of " + total : "") + ", oldest first)" : "";
	$("#pending-count").textContent = String(n >= limit ? total : n);
	await loadNotifications();
}

async function loadNotifications() {
	const ans = await api("GET", "/v1/decisions?limit=100");
	const rows = document.createDocumentFragment();
	for (const d of ans.decisions)
		if (d.risk === "medium" && rows.childNodes.length < 20)
			rows.appendChild(row([d.id, when(d.proposed_ms), d.agent, d.type, d.title, String(d.amount)]));
	$("#notify-table tbody").replaceChildren(rows);
}

// Read the queue again; calls that come while one runs make one more.
export function refresh() {
	if (busy) {
		again = true;
		return busy;
	}
	busy = load()
		.catch((e) => failed(e))
		.finally(() => {
			busy = null;
			if (again) {
				again = false;
				refresh();
			}
		});
	return busy;
}

// The pending count the status says (all agents): what "of N" shows.
export function setTotal(n) {
	total = n;
	$("#pending-count").textContent = String(n);
}

export function more() {
	limit += PAGE;
	refresh();
}

export function resetApprovals() {
	for (const li of shown.values()) li.remove();
	shown.clear();
	limit = PAGE;
}

// Approve, reject or modify one decision; what the page refuses is said
// beside it, and the server refuses the same.
async function answer(li, what) {
	const err = li.querySelector(".error");
	const noteIn = li.querySelector(".note");
	const note = noteIn.value.trim();
	let body;
	err.textContent = "";
	if (what === "approve") {
		body = note ? { note } : {};
	} else if (what === "reject") {
		if (!note) {
			err.textContent = "A rejection needs a reason: write it in the note.";
			noteIn.setAttribute("aria-invalid", "true");
			noteIn.focus();
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
	noteIn.removeAttribute("aria-invalid");
	const buttons = li.querySelectorAll("button");
	for (const b of buttons) b.disabled = true;
	try {
		const d = await api("POST", "/v1/decisions/" + encodeURIComponent(li.dataset.id) + "/" + what, body);
		const next = li.nextElementSibling || li.previousElementSibling;
		li.remove();
		shown.delete(li.dataset.id);
		const outcome = d && d.state ? d.state : what === "modify" ? "modified" : what + "d";
		banner("Decision " + li.dataset.id + " (" + li.decision.title + "): " + outcome, "ok");
		if (next) next.querySelector("button, input")?.focus();
	} catch (e) {
		if (failed(e, err)) for (const b of buttons) b.disabled = false;
	}
	refresh();
}

export function initApprovals() {
	$("#approvals-more").addEventListener("click", more);
}
