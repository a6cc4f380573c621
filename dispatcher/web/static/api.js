// Calls to the dispatcher API: same origin, relative URLs, the token as a Bearer header.
const TOKEN_KEY = "rfconsole.token";

export class ApiError extends Error {
  constructor(status, sentence) {
    super(sentence);
    this.status = status;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const token = getToken();
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

async function sentenceOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // not JSON: fall through to a sentence of our own
  }
  return `The dispatcher answered ${response.status} ${response.statusText}.`;
}

async function call(path, init) {
  const used = getToken();
  let response;
  try {
    response = await fetch(`dispatcher/${path}`, { cache: "no-store", credentials: "omit", ...init });
  } catch {
    throw new ApiError(0, "The dispatcher cannot be reached; is it still running?");
  }
  if (response.status === 401 && used === getToken()) onUnauthorized(); // not a stale answer to an old token
  if (!response.ok) throw new ApiError(response.status, await sentenceOf(response));
  return response.json();
}

export function get(path) {
  return call(path, { headers: headers() });
}

export function post(path, body = {}) {
  return call(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
