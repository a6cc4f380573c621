// The dashboard's start: server settings, the token, the experiment, the runs poll (a worker),
// the views, and the console's keys.
import { ApiError, get, getToken, query, setToken, whenUnauthorized } from "./api.js";
import { CloneForm } from "./clone.js";
import { Detail } from "./detail.js";
import { FilterError } from "./filter.js";
import { Logs } from "./logs.js";
import { Ops, notify } from "./ops.js";
import { RunsTable, SPARK_POINTS } from "./runs.js";

const $ = (id) => document.getElementById(id);
const state = { info: null, experiment: "", experimentInfo: null, worker: null, loaded: false };

// --- token ----------------------------------------------------------------------

function askToken(message = "") {
  const dialog = $("token-dialog");
  if (dialog.open) {
    if (message) $("token-error").textContent = message;
    return;
  }
  $("token-error").textContent = message;
  $("token-input").value = "";
  dialog.showModal();
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (!token) return;
  setToken(token);
  $("token-dialog").close();
  connect();
});
$("token-dialog").addEventListener("cancel", (event) => event.preventDefault());

whenUnauthorized(() => {
  const had = getToken();
  state.connected = false;
  setToken("");
  askToken(had ? "The token was not accepted; enter it again." : "");
});

// --- views ----------------------------------------------------------------------

const table = new RunsTable({
  table: $("runs"), head: $("runs-head"), body: $("runs-body"), scroll: $("table-scroll"), empty: $("empty"),
  count: $("count"), filterError: $("filter-error"), readonly: true,
  onOpen: (id) => detail.show(id),
  onChange: () => changed(),
});
const ops = new Ops({
  body: $("ops-body"), getExperiment: () => state.experiment, runs: table, onDone: () => pollNow(),
  controllerAlive: () => state.experimentInfo?.controller_alive,
});
const detail = new Detail({
  aside: $("detail"), runs: table.runs, readonly: true,
  onOp: (kind, ids) => operate(kind, ids),
  onClose: () => {
    table.opened = null;
    table.render();
  },
});
detail.onOpen = (id) => {
  if (table.runs.has(id)) table.open(id);
};
const clone = new CloneForm({
  getSchema: () => state.experimentInfo?.config_schema ?? true, runs: table.runs, report: (n, o) => ops.report(n, o),
});
const logs = new Logs({ getExperiment: () => state.experiment });

function operate(kind, ids) {
  if (state.info?.readonly) return;
  if (kind === "clone") {
    if (!ids.length) notify("Pick a run first (click it, or move to it with the arrow keys).", "error");
    else clone.open(ids);
  } else {
    ops.request(kind, ids);
  }
}

function changed() {
  const marks = table.marks.size;
  $("bulk").hidden = !marks || state.info?.readonly;
  $("marked-count").textContent = `${marks} marked`;
}

for (const button of document.querySelectorAll("button[data-bulk]")) {
  button.addEventListener("click", () => operate(button.dataset.bulk, table.targets()));
}
$("unmark").addEventListener("click", () => table.unmarkAll());

function showView(name) {
  const logsShown = name === "logs";
  $("runs-view").hidden = logsShown;
  $("logs-view").hidden = !logsShown;
  $("tab-runs").setAttribute("aria-selected", String(!logsShown));
  $("tab-logs").setAttribute("aria-selected", String(logsShown));
  if (logsShown) logs.start(); else logs.stop();
  if (!logsShown) table.queueRender();
}
$("tab-runs").addEventListener("click", () => showView("runs"));
$("tab-logs").addEventListener("click", () => showView("logs"));
$("help-button").addEventListener("click", () => $("help").showModal());

const filterInput = $("filter");
filterInput.addEventListener("input", () => {
  try {
    table.setFilter(filterInput.value);
    filterInput.setAttribute("aria-invalid", "false");
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    $("filter-error").textContent = error.message;
    filterInput.setAttribute("aria-invalid", "true");
  }
});

// --- the runs poll ----------------------------------------------------------------

function startWorker() {
  const worker = new Worker("web/poller.js");
  worker.onmessage = (event) => received(event.data);
  state.worker = worker;
}

function pollNow() {
  state.worker?.postMessage({ type: "poll-now" });
}

function settings() {
  state.worker?.postMessage({ type: "settings", experiment: state.experiment, token: getToken(), interval: 1000 });
}

let lastChange = 0;
function received(message) {
  if (message.type === "error") {
    if (message.status === 401 && message.token !== getToken()) return; // an answer to an old token
    if (message.status === 401) {
      const had = getToken();
      state.connected = false;
      setToken("");
      askToken(had ? "The token was not accepted; enter it again." : "");
    }
    $("live").textContent = message.message;
    $("live").className = "error";
    return;
  }
  $("live").className = "muted";
  $("live").textContent = `live · ${new Date().toLocaleTimeString()}`;
  if (message.type !== "runs") return;
  // A listing of the experiment shown before a switch, still on its way: not this one's.
  if (state.experiment && message.listed && message.listed !== state.experiment) return;
  const started = performance.now();
  if (!state.listed && message.changed.length) state.listed = message.changed[0].experiment_name;
  table.apply(message.changed, message.removed);
  if (message.done || !table.view.length) table.refresh(); // the first rows show before the rest arrive
  // How long each update holds the main thread (benchmarks/bench_web.py reads these).
  performance.measure("rfconsole-update", { start: started, end: performance.now() });
  if (performance.getEntriesByName("rfconsole-update").length > 500) performance.clearMeasures("rfconsole-update");
  if (table.view.length && !performance.getEntriesByName("rfconsole-first-rows").length) {
    performance.mark("rfconsole-first-rows");
  }
  if (!message.done) return;
  if (!state.loaded) {
    state.loaded = true;
    document.body.dataset.loaded = "true";
  }
  if (detail.runId !== null) detail.update();
  lastChange = Date.now();
  ops.load(message.changed.length > 0);
}
setInterval(() => {
  if (state.connected && Date.now() - lastChange > 900) ops.load(false);
}, 1000);

// Sparklines: the recent values of the main metric, read for the rows in view, a few at a time.
const sparkQueue = [];
let sparkBusy = 0;
table.wantSparks = (ids, metric) => {
  for (const id of ids) {
    if (!table.sparks.has(id) && !sparkQueue.some((q) => q.id === id)) sparkQueue.push({ id, metric });
  }
  drainSparks();
};
function drainSparks() {
  while (sparkBusy < 3 && sparkQueue.length) {
    const { id, metric } = sparkQueue.shift();
    if (table.sparks.has(id) || !table.runs.has(id)) continue;
    sparkBusy += 1;
    table.sparks.set(id, []);
    get(`get-run-metrics${query({ run_id: id, names: metric, max_points: SPARK_POINTS * 4 })}`)
      .then((answer) => {
        const points = (answer.metrics[metric] || []).map((p) => p.value).filter(Number.isFinite);
        table.setSpark(id, points);
        table.queueRender();
      })
      .catch(() => {})
      .finally(() => {
        sparkBusy -= 1;
        drainSparks();
      });
  }
}

// --- experiments ------------------------------------------------------------------

async function loadExperiments() {
  try {
    const names = await get("get-all-experiment-names");
    const select = $("experiment");
    const current = select.value;
    const signature = names.join("\n");
    if (select.dataset.names !== signature) {
      select.dataset.names = signature;
      select.replaceChildren(...names.map((name) => new Option(name, name)));
    }
    if (!state.experiment && names.length) {
      // The runs poll lists the current experiment until one is picked; name it once known.
      state.experiment = state.listed || (await currentExperimentName()) || names.at(-1);
      settings();
    }
    select.value = state.experiment || current;
    await loadExperimentInfo();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) $("experiment-status").textContent = error.message;
  }
}

async function currentExperimentName() {
  try {
    return (await get("get-running-experiment")).experiment_name;
  } catch {
    return null;
  }
}

async function loadExperimentInfo() {
  if (!state.experiment) return;
  const info = await get(`get-experiment-by-name/${encodeURIComponent(state.experiment)}`);
  state.experimentInfo = info;
  $("experiment-status").textContent = info.status;
  $("experiment-status").className = `exp-${info.status}`;
  const alive = info.controller_alive;
  $("controller-status").textContent = alive === undefined || alive === null ? ""
    : alive ? "controller alive" : "no controller";
  $("controller-status").className = alive ? "alive" : alive === false ? "dead" : "muted";
}

$("experiment").addEventListener("change", () => {
  state.experiment = $("experiment").value;
  detail.close();
  table.reset();
  ops.refused = [];
  ops.last = [];
  ops.render();
  settings();
  loadExperimentInfo().catch(() => {});
  ops.load(true);
  if (!$("logs-view").hidden) logs.load();
});

// --- keys (the console's) -----------------------------------------------------------

function closeOrClear() {
  if (detail.runId !== null) {
    detail.close();
  } else if (filterInput.value) {
    filterInput.value = "";
    filterInput.dispatchEvent(new Event("input"));
  }
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable]") && !target.matches("input[type=checkbox]");
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  if (event.target === filterInput && event.key === "Escape") {
    if (!filterInput.value || document.activeElement !== filterInput) return;
    filterInput.blur();
    table.moveTo(table.cursor);
    return;
  }
  if (typing(event.target)) return;
  const logsShown = !$("logs-view").hidden;
  const keys = {
    "?": () => $("help").showModal(),
    l: () => showView(logsShown ? "runs" : "logs"),
    e: () => $("experiment").focus(),
  };
  if (!logsShown) {
    Object.assign(keys, {
      ArrowDown: () => table.move(1), j: () => table.move(1),
      ArrowUp: () => table.move(-1), k: () => table.move(-1),
      PageDown: () => table.move(20), PageUp: () => table.move(-20),
      Home: () => table.move(-Infinity), End: () => table.move(Infinity),
      Enter: () => table.open(table.cursor),
      "/": () => filterInput.focus(),
      Escape: () => closeOrClear(),
    });
    if (!state.info?.readonly) {
      Object.assign(keys, {
        s: () => operate("stop", table.targets()), r: () => operate("resume", table.targets()),
        d: () => operate("delete", table.targets()), c: () => operate("clone", table.targets()),
        " ": () => table.cursor !== null && table.toggleMark(table.cursor), a: () => table.markAllShown(),
      });
    }
  }
  const action = keys[event.key];
  if (!action) return;
  if (event.key === "Enter" && event.target.closest("button, a")) return;
  event.preventDefault();
  action();
});

// --- start ----------------------------------------------------------------------------

async function connect() {
  state.connected = true;
  settings(); // the current experiment's runs, at once
  await loadExperiments();
  ops.load(true);
}

async function start() {
  try {
    state.info = await get("get-server-info");
  } catch (error) {
    notify(error.message, "error");
    state.info = { readonly: false, token_required: false };
  }
  const readonly = Boolean(state.info.readonly);
  table.readonly = readonly;
  detail.readonly = readonly;
  $("readonly-badge").hidden = !readonly;
  document.body.classList.toggle("readonly", readonly);
  startWorker();
  if (state.info.token_required && !getToken()) {
    askToken();
    return;
  }
  connect();
}

setInterval(() => {
  if (state.connected) loadExperiments();
}, 5000);
start();
