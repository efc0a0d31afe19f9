// The HTTP API (doc/http.md), with the token of this tab's session.
// Nothing else reaches the server: what the page does, a script can do.

const KEY = "agentd.token";

export function token() {
	return sessionStorage.getItem(KEY);
}

export function setToken(t) {
	if (t) sessionStorage.setItem(KEY, t);
	else sessionStorage.removeItem(KEY);
}

// An answer other than 2xx: its status and agentd's error object.
export class ApiError extends Error {
	constructor(status, body) {
		super(body && body.message ? body.message : "HTTP " + status);
		this.status = status;
		this.code = body && body.error ? body.error : "";
	}
}

// method path [body]: the answer's JSON, or throws ApiError (status 0:
// agentd did not answer).
export async function api(method, path, body) {
	const opts = { method, headers: { Authorization: "Bearer " + token() } };
	if (body !== undefined) {
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body);
	}
	let resp;
	try {
		resp = await fetch(path, opts);
	} catch (e) {
		throw new ApiError(0, { message: "agentd does not answer" });
	}
	let json = null;
	try {
		json = await resp.json();
	} catch (e) {
		json = null;
	}
	if (!resp.ok) throw new ApiError(resp.status, json);
	return json;
}

// Server-Sent Events read with fetch (EventSource sends no
// Authorization header): onEvent(type, data) per event; resolves when
// the stream ends, false at once when path has no stream.
export async function stream(path, onEvent, signal) {
	let resp;
	try {
		resp = await fetch(path, {
			headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" },
			signal,
		});
	} catch (e) {
		return false;
	}
	const ctype = resp.headers.get("Content-Type") || "";
	if (!resp.ok || !ctype.startsWith("text/event-stream") || !resp.body) {
		try { await resp.body?.cancel(); } catch (e) { /* gone */ }
		return false;
	}
	const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
	let buf = "";
	for (;;) {
		let chunk;
		try {
			chunk = await reader.read();
		} catch (e) {
			return true;
		}
		if (chunk.done) return true;
		buf += chunk.value;
		let end;
		while ((end = buf.indexOf("\n\n")) >= 0) {
			const block = buf.slice(0, end);
			buf = buf.slice(end + 2);
			let type = "message", data = "";
			for (const line of block.split("\n")) {
				if (line.startsWith("event:")) type = line.slice(6).trim();
				else if (line.startsWith("data:")) data += line.slice(5).trimStart();
			}
			if (data !== "" || type !== "message") onEvent(type, data);
		}
	}
}
