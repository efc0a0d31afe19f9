// The audit trail: search by agent, kind and time, a record's detail,
// and "verify the chain" (GET /v1/audit/verify) with its result.
import { api } from "./api.js";
import { $, el, cell, failed, when } from "./ui.js";

function ms(input) {
	const v = $(input).value;
	return v ? String(new Date(v).getTime()) : "";
}

function showDetail(r) {
	$("#audit-detail-seq").textContent = r.seq + " (" + r.kind + ")";
	$("#audit-detail-json").textContent = JSON.stringify(r, null, 2);
	$("#audit-detail").hidden = false;
}

export async function searchAudit(ev) {
	if (ev) ev.preventDefault();
	const q = new URLSearchParams({ limit: "200" });
	const agent = $("#audit-agent").value.trim(), kind = $("#audit-kind").value.trim();
	if (agent) q.set("agent", agent);
	if (kind) q.set("kind", kind);
	if (ms("#audit-since")) q.set("since_ms", ms("#audit-since"));
	if (ms("#audit-until")) q.set("until_ms", ms("#audit-until"));
	const out = $("#verify-result");
	let ans;
	try {
		ans = await api("GET", "/v1/audit?" + q);
	} catch (e) {
		failed(e, out);
		return;
	}
	const rows = document.createDocumentFragment();
	for (const r of ans.records) {
		const tr = document.createElement("tr");
		const b = tr.appendChild(document.createElement("td")).appendChild(el("button", r.seq, "link"));
		b.type = "button";
		b.setAttribute("aria-label", "record " + r.seq + ": details");
		b.addEventListener("click", () => showDetail(r));
		cell(tr, when(r.time_ms));
		cell(tr, r.agent || "");
		cell(tr, r.kind);
		cell(tr, r.summary);
		rows.appendChild(tr);
	}
	if (!ans.records.length) {
		const tr = document.createElement("tr");
		cell(tr, "No record matches.").colSpan = 5;
		rows.appendChild(tr);
	}
	$("#audit-table tbody").replaceChildren(rows);
}

export async function verifyAudit() {
	const out = $("#verify-result");
	out.textContent = "Verifying…";
	out.className = "";
	try {
		const v = await api("GET", "/v1/audit/verify");
		out.textContent = v.ok
			? "The chain holds: " + v.records + " records, " + v.first_seq + " to " + v.last_seq + "."
			: "The chain is broken at record " + v.bad_seq + ": " + v.what;
		out.className = v.ok ? "ok" : "error";
	} catch (e) {
		failed(e, out);
	}
}

export function initAudit() {
	$("#audit-form").addEventListener("submit", searchAudit);
	$("#audit-verify").addEventListener("click", verifyAudit);
}
