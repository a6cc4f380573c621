// The run detail: summary, op buttons, lineage, metric charts (uPlot, every metric
// selectable), the config as pretty JSON and the run's ops. It follows the run live.
import { get, query } from "./api.js";
import { el, formatNumber, progressBar, shortTime, statusBadge } from "./format.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
let uplotLoading = null;

function loadUplot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!uplotLoading) {
    uplotLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "web/vendor/uPlot.iife.js";
      script.onload = () => resolve(window.uPlot);
      script.onerror = () => reject(new Error("The chart library did not load; is uplot-python installed?"));
      document.head.append(script);
    });
  }
  return uplotLoading;
}

// {name: [{step, value}]} -> x (chunk number 1..n over the union of steps) and one series each.
export function alignSeries(history, names) {
  const steps = [...new Set(names.flatMap((n) => (history[n] || []).map((p) => p.step)))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const series = names.map((name) => {
    const values = new Array(steps.length).fill(null);
    for (const point of history[name] || []) values[index.get(point.step)] = point.value;
    return values;
  });
  return [steps.map((_, i) => i + 1), ...series];
}

export class Detail {
  constructor({ aside, runs, readonly, onOp, onClose }) {
    Object.assign(this, { aside, runs, readonly, onOp, onClose });
    this.runId = null;
    this.version = null;
    this.selected = new Set();
    this.charts = [];
    this.history = {};
    this.fetching = false;
  }

  show(runId) {
    const run = this.runs.get(runId);
    if (!run) return;
    if (runId !== this.runId) {
      this.runId = runId;
      this.version = null;
      this.history = {};
      this.selected = new Set();
      this.build(run);
    }
    this.aside.hidden = false;
    this.update();
  }

  close() {
    this.runId = null;
    this.aside.hidden = true;
    this.destroyCharts();
    this.onClose();
  }

  build(run) {
    this.destroyCharts();
    const header = el("div", "detail-head");
    this.title = el("h2", "", "");
    const close = el("button", "close", "×");
    close.setAttribute("aria-label", "Close detail");
    close.addEventListener("click", () => this.close());
    header.append(this.title, close);
    const parts = [header];
    if (!this.readonly) {
      const actions = el("div", "actions");
      for (const [kind, name, key] of [["stop", "Stop", "s"], ["resume", "Resume", "r"], ["clone", "Clone", "c"],
        ["delete", "Delete", "d"]]) {
        const button = el("button", kind === "delete" ? "danger" : "", name);
        button.setAttribute("aria-keyshortcuts", key);
        button.addEventListener("click", () => this.onOp(kind, [this.runId]));
        actions.append(button);
      }
      parts.push(actions);
    }
    this.summary = el("dl", "summary");
    this.lineage = el("div", "lineage");
    this.metricPicker = el("fieldset", "metric-picker");
    this.chartBox = el("div", "charts");
    this.config = el("pre", "config");
    this.config.tabIndex = 0;
    this.opsBody = el("tbody");
    const opsTable = el("table", "run-ops");
    const head = el("thead");
    const headRow = el("tr");
    for (const label of ["Op", "Operation", "Status", "Outcome", "Time"]) headRow.append(el("th", "", label));
    head.append(headRow);
    opsTable.append(head, this.opsBody);
    parts.push(this.summary, el("h3", "", "Lineage"), this.lineage, el("h3", "", "Metrics"), this.metricPicker,
      this.chartBox, el("h3", "", "Config"), this.config, el("h3", "", "Ops"), opsTable);
    this.aside.replaceChildren(...parts);
    this.metricPicker.addEventListener("change", (event) => {
      const box = event.target.closest("input[data-metric]");
      if (!box) return;
      if (box.checked) this.selected.add(box.dataset.metric);
      else this.selected.delete(box.dataset.metric);
      this.drawCharts(true);
    });
  }

  update() {
    const run = this.runs.get(this.runId);
    if (!run) {
      this.title.textContent = `Run ${this.runId} is gone (deleted)`;
      return;
    }
    this.title.textContent = `Run ${run.run_id} · ${run.run_name}`;
    const pairs = [
      ["Status", statusBadge(run.status)],
      ["Progress", progressBar(run.progress)],
      ["Epoch", `${run.current_epoch}/${run.num_epochs}`],
      ["Chunk", `${run.current_chunk}/${run.num_chunks}`],
      ["Source", run.source],
      ["Warm start", run.warm_start ? "yes" : "no"],
      ...Object.entries(run.m).map(([name, value]) => [name, formatNumber(value)]),
    ];
    if (run.ended_by) pairs.push(["Ended by", run.ended_by]);
    if (run.error) pairs.push(["Error", run.error]);
    pairs.push(["Updated", shortTime(run.updated_at)]);
    this.summary.replaceChildren(...pairs.flatMap(([label, value]) => {
      const dd = el("dd");
      if (typeof value === "string") dd.textContent = value; else dd.append(value);
      return [el("dt", "", label), dd];
    }));
    this.renderLineage(run);
    const configText = JSON.stringify(run.config ?? {}, null, 2);
    if (this.config.textContent !== configText) this.config.textContent = configText;
    if (this.version !== run.updated_at) {
      this.version = run.updated_at;
      this.fetchLive(run.run_id);
    }
  }

  renderLineage(run) {
    const link = (id, text) => {
      const button = el("button", "link", text);
      button.addEventListener("click", () => this.onOpen?.(id));
      return button;
    };
    const items = [];
    items.push(el("span", "", "Parent: "));
    items.push(run.parent_run_id === null || run.parent_run_id === undefined
      ? el("span", "muted", "none (an original run)")
      : link(run.parent_run_id, `run ${run.parent_run_id}${run.warm_start ? " (warm start)" : " (cold start)"}`));
    const clones = [...this.runs.values()].filter((r) => r.parent_run_id === run.run_id);
    items.push(el("br"), el("span", "", "Clones: "));
    if (!clones.length) items.push(el("span", "muted", "none"));
    for (const clone of clones) items.push(link(clone.run_id, `run ${clone.run_id}${clone.warm_start ? " (warm)" : ""}`), " ");
    this.lineage.replaceChildren(...items);
  }

  async fetchLive(runId) {
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = true;
    try {
      const [metrics, ops] = await Promise.all([
        get(`get-run-metrics${query({ run_id: runId, max_points: 400 })}`),
        get(`get-ic-ops${query({ run_id: runId, limit: 50 })}`),
      ]);
      if (runId !== this.runId) return;
      this.history = metrics.metrics || {};
      this.renderOps(ops);
      this.renderPicker();
      this.drawCharts(false);
    } catch (error) {
      if (runId === this.runId) this.chartBox.replaceChildren(el("p", "error", error.message));
    } finally {
      this.fetching = false;
      if (this.again) {
        this.again = false;
        if (this.runId !== null) this.fetchLive(this.runId);
      }
    }
  }

  renderOps(ops) {
    if (!ops.length) {
      const tr = el("tr");
      const td = el("td", "muted", "No op on this run yet.");
      td.colSpan = 5;
      tr.append(td);
      this.opsBody.replaceChildren(tr);
      return;
    }
    this.opsBody.replaceChildren(...ops.map((op) => {
      const tr = el("tr");
      const status = el("td");
      status.append(statusBadge(op.status));
      let outcome = op.error || "";
      if (op.new_run_id !== null && op.new_run_id !== undefined && op.new_run_id !== this.runId) outcome = `new run ${op.new_run_id}${outcome ? `; ${outcome}` : ""}`;
      tr.append(el("td", "num", String(op.ic_id)), el("td", "", op.operation), status, el("td", "", outcome),
        el("td", "muted", shortTime(op.processed_at || op.created_at)));
      return tr;
    }));
  }

  renderPicker() {
    const names = Object.keys(this.history).sort();
    if (!this.selected.size) {
      const wanted = names.filter((n) => /loss|acc/i.test(n));
      for (const name of wanted.length ? wanted : names.slice(0, 2)) this.selected.add(name);
    }
    const signature = names.join("|");
    if (this.metricPicker.dataset.names === signature) return;
    this.metricPicker.dataset.names = signature;
    const legend = el("legend", "", names.length ? "Show" : "No metric reported yet");
    this.metricPicker.replaceChildren(legend, ...names.map((name) => {
      const label = el("label");
      const box = el("input");
      box.type = "checkbox";
      box.dataset.metric = name;
      box.checked = this.selected.has(name);
      label.append(box, ` ${name}`);
      return label;
    }));
  }

  destroyCharts() {
    for (const chart of this.charts) chart.plot.destroy();
    this.charts = [];
  }

  async drawCharts(rebuild) {
    const names = [...this.selected].filter((n) => n in this.history).sort();
    const groups = [names.filter((n) => /loss/i.test(n)), names.filter((n) => !/loss/i.test(n))].filter((g) => g.length);
    const signature = JSON.stringify(groups);
    let uPlot;
    try {
      uPlot = await loadUplot();
    } catch (error) {
      this.chartBox.replaceChildren(el("p", "error", error.message));
      return;
    }
    if (rebuild || signature !== this.chartSignature || this.charts.length !== groups.length) {
      this.destroyCharts();
      this.chartBox.replaceChildren();
      this.chartSignature = signature;
      const width = Math.max(280, (this.aside.clientWidth || 480) - 40);
      for (const group of groups) {
        const box = el("div", "chart");
        box.setAttribute("role", "img");
        box.setAttribute("aria-label", `${group.join(", ")} over chunks`);
        this.chartBox.append(box);
        const options = {
          width, height: 180,
          scales: { x: { time: false } },
          axes: [{ label: "chunk", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }, {}],
          series: [{ label: "chunk" }, ...group.map((name) => ({
            label: name, stroke: COLORS[names.indexOf(name) % COLORS.length], width: 2, spanGaps: true,
          }))],
          legend: { live: false },
        };
        this.charts.push({ group, plot: new uPlot(options, alignSeries(this.history, group), box) });
      }
      return;
    }
    for (const chart of this.charts) chart.plot.setData(alignSeries(this.history, chart.group));
  }
}
