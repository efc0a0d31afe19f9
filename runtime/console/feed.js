// The activity feed: events and audit records from the live streams.
// Items arrive at any rate (a burst of thousands a second); they are
// queued and drawn once per animation frame, newest first, at most
// MAX_ROWS kept in the page and MAX_QUEUE waiting, so drawing costs the
// same at 10 events/s and at 10 000: the page never freezes.
import { $, el } from "./ui.js";

const MAX_ROWS = 300;
const MAX_QUEUE = MAX_ROWS;

let queue = [];
let scheduled = false;
let paused = false;
let received = 0, skipped = 0;
let filter = { agent: "", topic: "", kind: "" };

function text(v) {
	const s = typeof v === "string" ? v : JSON.stringify(v);
	return s.length > 240 ? s.slice(0, 240) + "…" : s;
}

// {kind: "event"|"audit", time, agent, what, summary}
function item(x) {
	const li = el("li", null, "feed-" + x.kind);
	li.appendChild(el("time", new Date(x.time).toLocaleTimeString()));
	li.appendChild(el("span", x.kind, "tag"));
	li.appendChild(el("span", x.agent || "-", "who"));
	li.appendChild(el("span", x.what, "what"));
	li.appendChild(el("span", x.summary, "sum"));
	return li;
}

function passes(x) {
	if (filter.kind && x.kind !== filter.kind) return false;
	if (filter.agent && x.agent !== filter.agent) return false;
	if (filter.topic && !x.what.startsWith(filter.topic)) return false;
	return true;
}

function count() {
	$("#feed-count").textContent =
		"(" + received + " received" + (skipped ? ", " + skipped + " passed by while drawing" : "") +
		(paused ? ", paused: " + queue.length + " waiting" : "") + ")";
}

function draw() {
	scheduled = false;
	if (paused) {
		count();
		return;
	}
	const list = $("#feed-list");
	const frag = document.createDocumentFragment();
	// The queue is oldest first; the list is newest first.
	for (let i = queue.length - 1; i >= 0; i--) frag.appendChild(item(queue[i]));
	queue = [];
	list.prepend(frag);
	while (list.childElementCount > MAX_ROWS) list.lastElementChild.remove();
	count();
}

function push(x) {
	received++;
	if (!passes(x)) return;
	queue.push(x);
	if (queue.length > MAX_QUEUE) {
		skipped += queue.length - MAX_QUEUE;
		queue.splice(0, queue.length - MAX_QUEUE);
	}
	if (!scheduled) {
		scheduled = true;
		requestAnimationFrame(draw);
	}
}

export function feedEvent(ev) {
	push({ kind: "event", time: Date.now(), agent: ev.src, what: ev.topic, summary: text(ev.body) });
}

export function feedAudit(r) {
	push({ kind: "audit", time: r.time_ms, agent: r.agent, what: r.kind, summary: r.summary });
}

export function resetFeed() {
	queue = [];
	received = skipped = 0;
	$("#feed-list").replaceChildren();
	count();
}

export function initFeed() {
	const read = () => {
		filter = {
			agent: $("#feed-agent").value.trim(),
			topic: $("#feed-topic").value.trim(),
			kind: $("#feed-kind").value,
		};
	};
	for (const id of ["#feed-agent", "#feed-topic", "#feed-kind"]) $(id).addEventListener("input", read);
	$("#feed-form").addEventListener("submit", (ev) => ev.preventDefault());
	$("#feed-pause").addEventListener("click", () => {
		paused = !paused;
		const b = $("#feed-pause");
		b.textContent = paused ? "Resume" : "Pause";
		b.setAttribute("aria-pressed", String(paused));
		if (!paused) draw();
		else count();
	});
	$("#feed-clear").addEventListener("click", resetFeed);
}
