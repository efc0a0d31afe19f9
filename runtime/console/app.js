// The command center (doc/console.md): sign-in, then the overview,
// approvals, activity feed, agent detail and audit views, all from the
// HTTP API.  Status and the queue are polled; the two live streams
// (events, audit) feed the activity view and make a new or answered
// decision show at once.  When agentd stops answering the page says so,
// keeps trying, and picks up where it was when agentd is back.
import { api, ApiError, stream, token, setToken } from "./api.js";
import { $, session, banner, failed } from "./ui.js";
import { renderStatus, resetOverview } from "./overview.js";
import { refresh as refreshApprovals, setTotal, resetApprovals, initApprovals } from "./approvals.js";
import { feedEvent, feedAudit, resetFeed, initFeed } from "./feed.js";
import { openAgent, refreshAgent, currentAgent, initAgent } from "./agent.js";
import { searchAudit, initAudit } from "./audit.js";

const POLL_MS = 2000;

let view = "overview";
let timer = null;
let aborts = [];
let lastStatus = null;
let down = false; // agentd did not answer the last poll
let pid = 0;
let auditSeq = null; // the last audit record seen: a stream resumes after it
let soon = null;

// Many stream items in a burst make one read of the queue.
function approvalsSoon() {
	if (soon) return;
	soon = setTimeout(() => {
		soon = null;
		refreshApprovals();
	}, 100);
}

async function poll() {
	let st;
	try {
		st = await api("GET", "/v1/status");
	} catch (e) {
		if (e instanceof ApiError && e.status === 0) {
			down = true;
			document.body.dataset.down = "true";
			banner("agentd does not answer (stopped or restarting?): reconnecting…", "warn");
		} else {
			failed(e);
		}
		return;
	}
	if (down || (pid && st.pid !== pid)) {
		banner("Reconnected to agentd (pid " + st.pid + ").", "ok");
		refreshApprovals();
	} else if ($("#banner").className === "warn") {
		banner("");
	}
	down = false;
	delete document.body.dataset.down;
	pid = st.pid;
	lastStatus = st;
	setTotal(st.agents.reduce((n, a) => n + (a.decisions ? a.decisions.pending : 0), 0));
	renderStatus(st, (n) => show("agent", n));
	if (view === "agent") refreshAgent(st);
}

function live() {
	const n = aborts.filter((a) => a.open).length;
	$("#live").className = "live" + (n === 2 ? " on" : "");
	$("#live").title = n === 2 ? "live: events and audit streams open" : "live streams: reconnecting";
}

// Read one stream for as long as signed in, reconnecting after it ends
// or fails (agentd restarting), every 1 s at first, then at most 5 s.
async function follow(path, onData) {
	const ctl = new AbortController();
	const me = { ctl, open: false };
	aborts.push(me);
	let wait = 1000;
	while (session.me && !ctl.signal.aborted) {
		try {
			await stream(path(), onData, ctl.signal, () => {
				me.open = true;
				wait = 1000;
				live();
			});
		} catch (e) {
			if (e instanceof ApiError && e.status === 401) {
				failed(e);
				return;
			}
		}
		me.open = false;
		live();
		if (ctl.signal.aborted) return;
		await new Promise((r) => setTimeout(r, wait));
		wait = Math.min(wait * 2, 5000);
	}
}

function onEvent(type, data) {
	let ev;
	try {
		ev = JSON.parse(data);
	} catch (e) {
		return;
	}
	if (typeof ev.topic === "string" && (ev.topic.startsWith("approvals.") || ev.topic.startsWith("decision.")))
		approvalsSoon();
	feedEvent(ev);
}

function onAudit(type, data, id) {
	let r;
	try {
		r = JSON.parse(data);
	} catch (e) {
		return;
	}
	if (id) auditSeq = id;
	if (typeof r.kind === "string" && r.kind.startsWith("decision.")) approvalsSoon();
	feedAudit(r);
}

function startStreams() {
	follow(() => "/v1/events/stream", onEvent);
	follow(() => "/v1/audit/stream" + (auditSeq ? "?after=" + encodeURIComponent(auditSeq) : ""), onAudit);
}

// ---- views and sign-in ----------------------------------------------------

function show(v, agent) {
	view = v;
	for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== v;
	const tab = v === "agent" ? "overview" : v;
	for (const b of document.querySelectorAll("#tabs button"))
		if (b.dataset.view === tab) b.setAttribute("aria-current", "page");
		else b.removeAttribute("aria-current");
	if (v === "audit") searchAudit();
	if (v === "approvals") refreshApprovals();
	if (v === "agent") {
		openAgent(agent || currentAgent(), lastStatus);
		$("#agent-name").focus();
	}
	if (location.hash !== "#" + v) history.replaceState(null, "", "#" + v + (v === "agent" ? "/" + (agent || currentAgent()) : ""));
}

function stopAll() {
	clearInterval(timer);
	timer = null;
	for (const a of aborts) a.ctl.abort();
	aborts = [];
}

function signOut(why) {
	stopAll();
	setToken(null);
	session.me = null;
	resetApprovals();
	resetOverview();
	resetFeed();
	delete document.body.dataset.role;
	$("#signin").hidden = false;
	$("#tabs").hidden = $("#who").hidden = true;
	for (const s of document.querySelectorAll(".view")) s.hidden = true;
	$("#signin-error").textContent = why || "";
	banner("");
	$("#token").focus();
}
session.lost = signOut;

async function signIn() {
	try {
		session.me = await api("GET", "/v1/whoami");
	} catch (e) {
		signOut(e.status === 401 ? "agentd does not know this token." : e.message);
		return;
	}
	$("#signin").hidden = true;
	$("#tabs").hidden = $("#who").hidden = false;
	$("#who-name").textContent = session.me.name;
	$("#who-role").textContent = session.me.role;
	document.body.dataset.role = session.me.role;
	const [v, agent] = location.hash.slice(1).split("/");
	await poll();
	show(["overview", "approvals", "feed", "audit", "agent"].includes(v) && (v !== "agent" || agent) ? v : "overview",
		agent ? decodeURIComponent(agent) : undefined);
	// What bench/console_bench.py reads: the agents drawn, then the
	// first page of the queue.
	performance.mark("console-overview");
	refreshApprovals().then(() => performance.mark("console-approvals"));
	timer = setInterval(() => {
		poll();
		if (view === "approvals") refreshApprovals();
	}, POLL_MS);
	startStreams();
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
$("#agent-back").addEventListener("click", () => show("overview"));
initApprovals();
initFeed();
initAgent();
initAudit();

if (token()) signIn();
else signOut("");
