// Small helpers the views share.  Every string from the server goes
// into the page through text (textContent, value, attributes), never as
// markup: a plugin's title may hold HTML, and it must stay a title.
import { ApiError } from "./api.js";

export const $ = (sel, root = document) => root.querySelector(sel);

const RANK = { viewer: 1, operator: 2, admin: 3 };

// Who is signed in ({name, role}), and what happens when the token is
// no longer accepted (set by app.js).
export const session = { me: null, lost: () => {} };

export function may(role) {
	return session.me !== null && RANK[session.me.role] >= RANK[role];
}

export function banner(text, kind) {
	const b = $("#banner");
	b.textContent = text || "";
	b.className = kind || "";
	b.hidden = !text;
	// A success is said for a while; a warning stays until it is over.
	if (kind === "ok")
		setTimeout(() => {
			if (b.textContent === text) banner("");
		}, 8000);
}

// A failed request: a token agentd no longer knows goes back to
// sign-in; anything else is said where the caller shows it (out), or
// in the banner.  True when the caller should go on.
export function failed(e, out) {
	if (e instanceof ApiError && e.status === 401) {
		session.lost("agentd no longer accepts this token (" + e.message + "): sign in again.");
		return false;
	}
	const text = e.status === 0 ? "agentd does not answer: retrying…" : e.message;
	if (out) {
		out.textContent = text;
		out.className = "error";
	} else {
		banner(text, "warn");
	}
	return true;
}

export function el(tag, text, cls) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null) e.textContent = String(text);
	if (cls) e.className = cls;
	return e;
}

export function cell(tr, text, cls) {
	return tr.appendChild(el("td", text, cls));
}

export function row(values) {
	const tr = document.createElement("tr");
	for (const v of values) cell(tr, v);
	return tr;
}

export function us(n) {
	if (!n) return "0";
	return n >= 1e6 ? (n / 1e6).toFixed(2) + " s" : n >= 1000 ? (n / 1000).toFixed(1) + " ms" : n + " µs";
}

export function when(ms) {
	return ms ? new Date(ms).toLocaleString() : "";
}

export function duration(ms) {
	if (ms <= 0) return "due";
	const s = Math.round(ms / 1000);
	if (s >= 86400) return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
	if (s >= 3600) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
	return s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
}

// Ask before an act that changes what runs: the dialog's answer.
export function confirmDo(text) {
	const d = $("#confirm");
	$("#confirm-text").textContent = text;
	d.returnValue = "";
	return new Promise((resolve) => {
		d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true });
		d.showModal();
		$("#confirm-no").focus();
	});
}

// A small line chart of values (oldest first) as SVG, no library.
const SVGNS = "http://www.w3.org/2000/svg";

export function spark(series, w = 120, h = 28) {
	const svg = document.createElementNS(SVGNS, "svg");
	svg.setAttribute("viewBox", "0 0 " + w + " " + h);
	svg.setAttribute("width", w);
	svg.setAttribute("height", h);
	svg.setAttribute("class", "spark");
	svg.setAttribute("aria-hidden", "true");
	for (const { values, cls } of series) {
		if (values.length < 2) continue;
		const max = Math.max(...values) || 1;
		const step = w / (values.length - 1);
		const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 4)).toFixed(1));
		const pl = document.createElementNS(SVGNS, "polyline");
		pl.setAttribute("points", pts.join(" "));
		pl.setAttribute("class", cls);
		svg.appendChild(pl);
	}
	return svg;
}
