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

// An answer other than 2xx: its status and agentd's error object
// (status 0: agentd did not answer at all).
export class ApiError extends Error {
	constructor(status, body) {
		super(body && body.message ? body.message : "HTTP " + status);
		this.status = status;
		this.code = body && body.error ? body.error : "";
	}
}

async function errorOf(resp) {
	let json = null;
	try {
		json = await resp.json();
	} catch (e) {
		json = null;
	}
	return new ApiError(resp.status, json);
}

// method path [body]: the answer's JSON, or throws ApiError.
export async function api(method, path, body) {
	const opts = { method, headers: { Authorization: "Bearer " + token() }, cache: "no-store" };
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
	if (!resp.ok) throw await errorOf(resp);
	try {
		return await resp.json();
	} catch (e) {
		throw new ApiError(0, { message: "agentd's answer was cut short" });
	}
}

// Server-Sent Events read with fetch (EventSource cannot send an
// Authorization header): onOpen() once connected, then onEvent(type,
// data, id) per event.  Resolves when the stream ends (agentd stopped,
// or dropped a slow reader: the caller reconnects); throws ApiError when
// agentd refuses it or does not answer.
export async function stream(path, onEvent, signal, onOpen) {
	let resp;
	try {
		resp = await fetch(path, {
			headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" },
			cache: "no-store",
			signal,
		});
	} catch (e) {
		throw new ApiError(0, { message: "agentd does not answer" });
	}
	if (!resp.ok) throw await errorOf(resp);
	const ctype = resp.headers.get("Content-Type") || "";
	if (!ctype.startsWith("text/event-stream") || !resp.body)
		throw new ApiError(resp.status, { message: path + " is not a stream" });
	if (onOpen) onOpen();
	const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
	let buf = "";
	for (;;) {
		let chunk;
		try {
			chunk = await reader.read();
		} catch (e) {
			return;
		}
		if (chunk.done) return;
		buf += chunk.value;
		let end;
		while ((end = buf.indexOf("\n\n")) >= 0) {
			const block = buf.slice(0, end);
			buf = buf.slice(end + 2);
			let type = "message", data = "", id = null;
			for (const line of block.split("\n")) {
				if (line.startsWith("event:")) type = line.slice(6).trim();
				else if (line.startsWith("data:")) data += line.slice(5).trimStart();
				else if (line.startsWith("id:")) id = line.slice(3).trim();
			}
			if (data !== "") onEvent(type, data, id);
		}
	}
}
