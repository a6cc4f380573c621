// A worker that polls get-all-runs with If-None-Match, so that neither the download nor the
// JSON parsing of a large listing (10,000 runs are ~10 MB) blocks the page. It posts only the
// runs whose updated_at changed since its last answer, in batches, plus the ids that went away.
const BATCH = 400;
let settings = { experiment: "", token: "", interval: 1000 };
let etag = null;
let known = new Map(); // run_id -> updated_at
let listed = ""; // the experiment of the runs last listed ("" asks for the current one)
let generation = 0;
let timer = null;
let busy = false;
let again = false;
let paused = false; // after a 401: until the page sends settings with a new token

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "settings") {
    const same = message.experiment === settings.experiment
      || (settings.experiment === "" && listed !== "" && message.experiment === listed);
    if (!same) {
      etag = null;
      known = new Map();
      listed = "";
      generation += 1;
    }
    if (message.token !== settings.token) etag = null;
    settings = { ...settings, ...message };
    paused = false;
    schedule(0);
  } else if (message.type === "poll-now" && !paused) {
    schedule(0);
  }
};

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(poll, delay);
}

function prepare(run) {
  // Work the page would otherwise do on its main thread: parse the metrics, and the text
  // that the filter searches.
  let metrics = {};
  try {
    metrics = typeof run.metrics === "string" ? JSON.parse(run.metrics) : run.metrics || {};
  } catch {
    metrics = {};
  }
  run.m = metrics && typeof metrics === "object" ? metrics : {};
  run.hay = `${run.run_id} ${run.run_name} ${run.status} ${run.source} ${JSON.stringify(run.config ?? {})}`.toLowerCase();
  return run;
}

async function poll() {
  if (busy) { // settings changed during a request: poll again as soon as it ends
    again = true;
    return;
  }
  busy = true;
  try {
    await pollOnce(generation);
  } finally {
    busy = false;
    if (again) {
      again = false;
      schedule(0);
    } else if (!paused) {
      schedule(settings.interval);
    }
  }
}

async function pollOnce(mine) {
  const token = settings.token;
  const headers = { Accept: "application/json" };
  if (etag) headers["If-None-Match"] = etag;
  if (token) headers.Authorization = `Bearer ${token}`;
  const search = settings.experiment ? `?experiment=${encodeURIComponent(settings.experiment)}` : "";
  let response;
  try {
    response = await fetch(new URL(`../dispatcher/get-all-runs${search}`, self.location.href), {
      headers, cache: "no-store", credentials: "omit",
    });
  } catch {
    self.postMessage({ type: "error", status: 0, message: "The dispatcher cannot be reached; is it still running?" });
    return;
  }
  if (mine !== generation) return;
  if (response.status === 304) {
    self.postMessage({ type: "unchanged" });
    return;
  }
  if (!response.ok) {
    let message = `The dispatcher answered ${response.status}.`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // keep the status sentence
    }
    if (response.status === 401 && token === settings.token) paused = true;
    self.postMessage({ type: "error", status: response.status, message, token });
    return;
  }
  const runs = JSON.parse(await response.text());
  if (mine !== generation) return;
  etag = response.headers.get("ETag");
  const seen = new Set();
  const changed = [];
  for (const run of runs) {
    seen.add(run.run_id);
    if (known.get(run.run_id) !== run.updated_at) {
      known.set(run.run_id, run.updated_at);
      changed.push(prepare(run));
    }
  }
  const removed = [];
  for (const id of known.keys()) if (!seen.has(id)) removed.push(id);
  for (const id of removed) known.delete(id);
  const total = runs.length;
  listed = runs.length ? runs[0].experiment_name : listed;
  if (!changed.length) {
    self.postMessage({ type: "runs", changed, removed, done: true, total, listed });
    return;
  }
  for (let start = 0; start < changed.length; start += BATCH) {
    self.postMessage({
      type: "runs", changed: changed.slice(start, start + BATCH), removed: start === 0 ? removed : [],
      done: start + BATCH >= changed.length, total, listed,
    });
  }
}
