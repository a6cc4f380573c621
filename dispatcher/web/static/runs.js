// The live runs table: runs kept by id, filtered and sorted, and only the rows in view are in
// the DOM (a fixed row height and two spacer rows), so 10,000 runs cost what 40 do. A refresh
// changes only the cells of runs that changed, in place; scroll, cursor, sort and marks stay.
import { parseFilter, unknownKeys } from "./filter.js";
import { el, formatNumber, progressBar, sparkline, statusBadge } from "./format.js";

const ROW_HEIGHT = 29;
const OVERSCAN = 10;
const METRIC_ORDER = ["val_loss", "val_accuracy", "train_loss", "train_accuracy", "loss", "accuracy"];
const MAX_METRIC_COLUMNS = 3;
export const SPARK_POINTS = 20;

function sortKey(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return [2, 0];
  if (typeof value === "boolean") return [0, Number(value)];
  if (typeof value === "number") return [0, value];
  return [1, String(value).toLowerCase()];
}

function compareKeys(a, b) {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] < b[1]) return -1;
  return a[1] > b[1] ? 1 : 0;
}

// Makes `nodes` the children of `parent`, in order, without detaching a node that stays: the
// browser drops a click whose pressed element was detached before the button came up.
function placeChildren(parent, nodes) {
  const wanted = new Set(nodes);
  for (const child of [...parent.children]) if (!wanted.has(child)) child.remove();
  let current = parent.firstElementChild;
  for (const node of nodes) {
    if (node === current) current = current.nextElementSibling;
    else parent.insertBefore(node, current);
  }
}

export function metricColumns(names) {
  const ordered = METRIC_ORDER.filter((n) => names.has(n));
  const rest = [...names].filter((n) => !METRIC_ORDER.includes(n)).sort();
  return [...ordered, ...rest].slice(0, MAX_METRIC_COLUMNS);
}

function same(a, b) {
  return a === b || (typeof a === "object" && typeof b === "object" && JSON.stringify(a) === JSON.stringify(b));
}

export function differingConfigKeys(runs) {
  const seen = new Map();
  const differing = new Set();
  let count = 0;
  for (const run of runs) {
    const config = run.flattened_config || {};
    if (count && differing.size < seen.size) for (const key of seen.keys()) if (!(key in config)) differing.add(key);
    for (const key in config) {
      if (!seen.has(key)) {
        seen.set(key, config[key]);
        if (count) differing.add(key);
      } else if (!differing.has(key) && !same(seen.get(key), config[key])) {
        differing.add(key);
      }
    }
    count += 1;
  }
  return [...differing].sort();
}

export class RunsTable {
  constructor({ table, head, body, scroll, empty, count, filterError, readonly, onOpen, onChange }) {
    Object.assign(this, { table, head, body, scroll, empty, count, filterError, readonly, onOpen, onChange });
    this.runs = new Map();
    this.view = [];
    this.sort = { key: "id", dir: 1 };
    this.filter = parseFilter("");
    this.marks = new Set();
    this.cursor = null;
    this.opened = null;
    this.sparks = new Map(); // run id -> recent values of the main metric
    this.columns = [];
    this.configKeys = [];
    this.mainMetric = null;
    this.shapeDirty = true;
    this.orderDirty = true; // the filter or the sort order may have changed
    this.metricNames = new Set();
    this.columnsSignature = "";
    this.rowCache = new Map(); // run id -> <tr> currently in the DOM
    this.spacers = [this.spacer(), this.spacer()]; // stand in for the rows above and below the view
    this.scrollQueued = false;
    this.wantSparks = () => {};
    scroll.addEventListener("scroll", () => this.queueRender(), { passive: true });
    new ResizeObserver(() => this.queueRender()).observe(scroll);
    body.addEventListener("click", (event) => this.clicked(event));
    body.addEventListener("change", (event) => {
      const box = event.target.closest("input[data-mark]");
      if (box) this.toggleMark(Number(box.dataset.mark), box.checked);
    });
    head.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-sort]");
      if (button) this.sortBy(button.dataset.sort);
    });
  }

  reset() {
    this.runs.clear();
    this.marks.clear();
    this.sparks.clear();
    this.cursor = null;
    this.opened = null;
    this.shapeDirty = true;
    this.metricNames = new Set();
    this.refresh();
  }

  apply(changed, removed) {
    const column = this.sortColumn();
    for (const id of removed) {
      this.runs.delete(id);
      this.marks.delete(id);
      this.sparks.delete(id);
      this.shapeDirty = true;
    }
    if (removed.length) this.metricNames = new Set();
    for (const run of changed) {
      const before = this.runs.get(run.run_id);
      if (!before) this.shapeDirty = true;
      for (const name in run.m) this.metricNames.add(name);
      // Only a run that enters or leaves the filter, or moves in the sort, reorders the view.
      if (before && !this.orderDirty && column && (this.filter.test(before) !== this.filter.test(run)
        || compareKeys(sortKey(column.value(before)), sortKey(column.value(run))) !== 0)) {
        this.orderDirty = true;
      }
      const spark = this.sparks.get(run.run_id);
      const value = this.mainMetric ? run.m[this.mainMetric] : undefined;
      if (spark && Number.isFinite(value) && (!before || before.m[this.mainMetric] !== value)) {
        spark.push(value);
        if (spark.length > SPARK_POINTS) spark.shift();
      }
      this.runs.set(run.run_id, run);
    }
  }

  sortColumn() {
    return this.columns.find((c) => c.key === this.sort.key) || this.columns[0];
  }

  setSpark(runId, values) {
    this.sparks.set(runId, values.slice(-SPARK_POINTS));
    const row = this.rowCache.get(runId);
    if (row) row.dataset.version = "";
  }

  setFilter(text) {
    this.filter = parseFilter(text); // throws FilterError
    this.orderDirty = true;
    this.refresh();
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: 1 };
    this.orderDirty = true;
    this.renderHead();
    this.refresh();
  }

  // --- columns ---------------------------------------------------------------

  computeColumns() {
    if (!this.metricNames.size) for (const run of this.runs.values()) for (const name in run.m) this.metricNames.add(name);
    const names = this.metricNames;
    const metrics = metricColumns(names);
    this.mainMetric = names.has("val_loss") ? "val_loss" : metrics[0] || null;
    if (this.shapeDirty) this.configKeys = differingConfigKeys(this.runs.values());
    const signature = JSON.stringify([metrics, this.configKeys, this.mainMetric, this.readonly]);
    if (signature === this.columnsSignature) return;
    this.columnsSignature = signature;
    const columns = [{ key: "id", label: "ID", value: (r) => r.run_id, cell: (r) => String(r.run_id) }];
    if (!this.readonly) columns.push({ key: "mark", label: "Mark", cell: (r) => this.markBox(r) });
    columns.push(
      { key: "name", label: "Name", value: (r) => r.run_name, cell: (r) => r.run_name },
      { key: "status", label: "Status", value: (r) => r.status, cell: (r) => statusBadge(r.status) },
      { key: "progress", label: "Progress", value: (r) => r.progress, cell: (r) => progressBar(r.progress) },
      { key: "epoch", label: "Epoch", value: (r) => r.current_epoch, cell: (r) => `${r.current_epoch}/${r.num_epochs}` },
      { key: "chunk", label: "Chunk", value: (r) => r.current_chunk, cell: (r) => `${r.current_chunk}/${r.num_chunks}` },
    );
    for (const name of metrics) {
      columns.push({ key: `m:${name}`, label: name, num: true, value: (r) => r.m[name], cell: (r) => formatNumber(r.m[name]) });
    }
    const main = this.mainMetric;
    columns.push(
      { key: "trend", label: main ? `${main} trend` : "trend", value: (r) => (main ? r.m[main] : null),
        cell: (r) => sparkline(this.sparks.get(r.run_id) || []) },
      { key: "source", label: "Source", value: (r) => r.source, cell: (r) => r.source },
      { key: "parent", label: "Parent", value: (r) => r.parent_run_id, cell: (r) => formatNumber(r.parent_run_id) },
    );
    for (const key of this.configKeys) {
      columns.push({ key: `c:${key}`, label: key, num: true, value: (r) => (r.flattened_config || {})[key],
        cell: (r) => formatNumber((r.flattened_config || {})[key]) });
    }
    this.columns = columns;
    this.orderDirty = true;
    if (!columns.some((c) => c.key === this.sort.key)) this.sort = { key: "id", dir: 1 };
    this.renderHead();
    this.clearRows();
  }

  renderHead() {
    const cells = this.columns.map((column) => {
      const th = el("th");
      th.scope = "col";
      if (column.num) th.className = "num";
      if (!column.value) {
        th.textContent = column.label;
        return th;
      }
      const sorted = this.sort.key === column.key;
      th.setAttribute("aria-sort", sorted ? (this.sort.dir > 0 ? "ascending" : "descending") : "none");
      const button = el("button", "sort", column.label + (sorted ? (this.sort.dir > 0 ? " ▲" : " ▼") : ""));
      button.dataset.sort = column.key;
      button.tabIndex = -1;
      th.append(button);
      return th;
    });
    this.head.replaceChildren(...cells);
  }

  markBox(run) {
    const box = el("input");
    box.type = "checkbox";
    box.dataset.mark = run.run_id;
    box.checked = this.marks.has(run.run_id);
    box.tabIndex = -1;
    box.setAttribute("aria-label", `Mark run ${run.run_id}`);
    return box;
  }

  // --- view ------------------------------------------------------------------

  refresh() {
    this.computeColumns();
    if (this.shapeDirty) this.orderDirty = true;
    this.shapeDirty = false;
    if (this.orderDirty) {
      this.orderDirty = false;
      const column = this.sortColumn();
      const keyed = [];
      for (const run of this.runs.values()) {
        if (this.filter.test(run)) keyed.push([sortKey(column.value(run)), run.run_id]);
      }
      const dir = this.sort.dir;
      keyed.sort((a, b) => dir * compareKeys(a[0], b[0]) || a[1] - b[1]);
      this.view = keyed.map((pair) => pair[1]);
    }
    const unknown = this.filter.keys.length ? unknownKeys(this.filter, this.runs.values()) : [];
    this.filterError.textContent = unknown.length
      ? `No run has ${unknown.map((k) => `'${k}'`).join(", ")} (yet); check the spelling.` : "";
    if (this.cursor === null || !this.runs.has(this.cursor)) this.cursor = this.view[0] ?? null;
    const total = `${this.runs.size} run${this.runs.size === 1 ? "" : "s"}`;
    this.count.textContent = this.filter.text ? `${this.view.length} of ${total}` : total;
    this.table.setAttribute("aria-rowcount", String(this.view.length + 1));
    this.empty.hidden = this.runs.size > 0;
    this.render();
    this.onChange();
  }

  queueRender() {
    if (this.scrollQueued) return;
    this.scrollQueued = true;
    requestAnimationFrame(() => {
      this.scrollQueued = false;
      this.render();
    });
  }

  clearRows() {
    this.rowCache.clear();
    this.body.replaceChildren();
  }

  render() {
    const height = this.scroll.clientHeight || 600;
    const headHeight = this.head.offsetHeight || ROW_HEIGHT;
    const top = Math.max(0, this.scroll.scrollTop - headHeight);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.view.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const [before, after] = this.spacers;
    for (const [spacer, height] of [[before, first * ROW_HEIGHT], [after, (this.view.length - last) * ROW_HEIGHT]]) {
      spacer.style.height = `${height}px`;
      spacer.firstElementChild.colSpan = Math.max(1, this.columns.length);
    }
    const rows = [];
    const keep = new Map();
    const missingSparks = [];
    for (let index = first; index < last; index += 1) {
      const id = this.view[index];
      const row = this.row(this.runs.get(id), index);
      keep.set(id, row);
      rows.push(row);
      if (!this.sparks.has(id)) missingSparks.push(id);
    }
    this.rowCache = keep;
    placeChildren(this.body, [before, ...rows, after]);
    if (missingSparks.length && this.mainMetric) this.wantSparks(missingSparks, this.mainMetric);
  }

  spacer() {
    const tr = el("tr", "spacer");
    tr.setAttribute("aria-hidden", "true");
    tr.append(el("td"));
    return tr;
  }

  row(run, index) {
    const version = `${run.updated_at}|${(this.sparks.get(run.run_id) || []).length}|${this.sparks.get(run.run_id)?.at(-1)}`
      + `|${this.marks.has(run.run_id)}|${this.cursor === run.run_id}|${this.opened === run.run_id}`;
    let tr = this.rowCache.get(run.run_id);
    if (tr && tr.dataset.version === version) {
      tr.setAttribute("aria-rowindex", String(index + 2));
      return tr;
    }
    // A changed run keeps its <tr> and <td>s, and only what changed inside them is new: the
    // browser drops a click whose pressed element was removed before the button came up.
    const focused = tr && tr.contains(document.activeElement);
    tr ??= el("tr");
    tr.dataset.id = run.run_id;
    tr.dataset.version = version;
    tr.tabIndex = this.cursor === run.run_id ? 0 : -1;
    tr.setAttribute("aria-rowindex", String(index + 2));
    tr.setAttribute("aria-selected", String(this.opened === run.run_id));
    tr.classList.toggle("cursor", this.cursor === run.run_id);
    tr.classList.toggle("marked", this.marks.has(run.run_id));
    const cells = tr.children;
    this.columns.forEach((column, i) => {
      const td = cells[i] ?? tr.appendChild(el("td"));
      td.className = column.num ? "num" : "";
      const content = column.cell(run);
      if (typeof content === "string") {
        if (td.firstElementChild || td.textContent !== content) td.textContent = content;
        if (content.length > 18) td.title = content;
        else td.removeAttribute("title");
      } else if (td.childNodes.length !== 1 || td.firstChild.outerHTML !== content.outerHTML) {
        td.replaceChildren(content);
      } else if (content instanceof HTMLInputElement) {
        td.firstChild.checked = content.checked; // a property, which outerHTML does not show
      }
    });
    while (cells.length > this.columns.length) tr.lastElementChild.remove();
    if (focused) queueMicrotask(() => tr.focus({ preventScroll: true }));
    return tr;
  }

  // --- cursor, marks, selection ---------------------------------------------

  clicked(event) {
    if (event.target.closest("input[data-mark]")) return;
    const tr = event.target.closest("tr[data-id]");
    if (!tr) return;
    this.moveTo(Number(tr.dataset.id));
    this.open(Number(tr.dataset.id));
  }

  open(runId) {
    if (runId === null || !this.runs.has(runId)) return;
    this.opened = runId;
    this.cursor = runId;
    this.render();
    this.onOpen(runId);
  }

  moveTo(runId, focus = true) {
    this.cursor = runId;
    const index = this.view.indexOf(runId);
    if (index >= 0) this.scrollToIndex(index);
    this.render();
    if (focus) this.rowCache.get(runId)?.focus({ preventScroll: true });
  }

  move(delta) {
    if (!this.view.length) return;
    const index = Math.max(0, this.view.indexOf(this.cursor));
    const next = Math.min(this.view.length - 1, Math.max(0, index + delta));
    this.moveTo(this.view[next]);
  }

  scrollToIndex(index) {
    const headHeight = this.head.offsetHeight || ROW_HEIGHT;
    const top = index * ROW_HEIGHT;
    const view = this.scroll.clientHeight - headHeight;
    if (top < this.scroll.scrollTop) this.scroll.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroll.scrollTop + view) this.scroll.scrollTop = top + ROW_HEIGHT - view;
  }

  toggleMark(runId, on = !this.marks.has(runId)) {
    if (on) this.marks.add(runId);
    else this.marks.delete(runId);
    this.render();
    this.onChange();
  }

  markAllShown() {
    const all = this.view.every((id) => this.marks.has(id));
    for (const id of this.view) if (all) this.marks.delete(id); else this.marks.add(id);
    this.render();
    this.onChange();
  }

  unmarkAll() {
    this.marks.clear();
    this.render();
    this.onChange();
  }

  // The runs an op applies to: the marked ones, else the one under the cursor.
  targets() {
    if (this.marks.size) return [...this.marks].filter((id) => this.runs.has(id)).sort((a, b) => a - b);
    return this.cursor === null ? [] : [this.cursor];
  }
}
