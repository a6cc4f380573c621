// IC ops: asking for them (stop, resume, delete; clone is in clone.js), confirming, and the
// ops pane (every op of the experiment, newest first: PENDING, then its outcome and reason).
import { get, post, query } from "./api.js";
import { el, shortTime, statusBadge } from "./format.js";

const NAMES = { stop: "Stop", resume: "Resume", delete: "Delete", clone: "Clone" };

export function notify(text, kind = "info") {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = kind;
  notice.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { notice.hidden = true; }, kind === "error" ? 15000 : 6000);
}

// A <dialog> whose confirming button is named after the op; resolves true when confirmed.
export function confirmOp(title, text, action) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = action;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

function describe(ids, runs) {
  if (ids.length === 1) {
    const run = runs.get(ids[0]);
    return `run ${ids[0]}${run ? ` (${run.run_name}, ${run.status})` : ""}`;
  }
  return `${ids.length} runs (${ids.join(", ")})`;
}

export class Ops {
  constructor({ body, getExperiment, runs, onDone, controllerAlive = () => undefined }) {
    Object.assign(this, { body, getExperiment, runs, onDone, controllerAlive });
    this.refused = []; // refusals never reach the database; the pane keeps them for a while
    this.last = [];
    this.loading = false;
    this.lastLoad = 0;
  }

  // Stop, resume or delete `ids`; delete and every bulk op ask first.
  async request(kind, ids) {
    if (!ids.length) {
      notify("Pick a run first (click it, or move to it with the arrow keys).", "error");
      return;
    }
    const name = NAMES[kind];
    if (kind === "delete" || ids.length > 1) {
      const extra = kind === "delete" ? " Its checkpoints are removed; this cannot be undone." : "";
      const confirmed = await confirmOp(`${name} ${ids.length > 1 ? "runs" : "run"}?`,
        `${name} ${describe(ids, this.runs.runs)}?${extra}`, name);
      if (!confirmed) return;
    }
    const outcomes = await Promise.all(ids.map((id) => post(`${kind}-run`, { run_id: id })
      .then((answer) => ({ id, ok: true, answer }))
      .catch((error) => ({ id, ok: false, error }))));
    this.report(name, outcomes);
  }

  report(name, outcomes) {
    const refused = outcomes.filter((o) => !o.ok);
    for (const outcome of refused) {
      this.refused.unshift({ run_id: outcome.id, operation: name.toUpperCase(), reason: outcome.error.message,
        at: new Date().toISOString() });
    }
    this.refused = this.refused.slice(0, 20);
    if (outcomes.length === 1) {
      const [only] = outcomes;
      if (only.ok) {
        const extra = only.answer.new_run_id !== undefined ? ` -> new run ${only.answer.new_run_id}` : "";
        notify(`${name} of run ${only.id} requested (op ${only.answer.ic_id})${extra}.`);
      } else {
        notify(only.error.message, "error");
      }
    } else {
      const accepted = outcomes.length - refused.length;
      const reasons = refused.map((o) => `run ${o.id}: ${o.error.message}`).join(" ");
      notify(`${name}: ${accepted} of ${outcomes.length} requested.${reasons ? ` Refused: ${reasons}` : ""}`,
        refused.length ? "error" : "info");
    }
    this.load(true);
    this.onDone();
  }

  // The ops pane; `force` reloads now, else at most every few seconds unless an op is pending.
  async load(force = false) {
    const pending = this.last.some((op) => op.status === "PENDING");
    if (this.loading || (!force && !pending && Date.now() - this.lastLoad < 5000)) return;
    this.loading = true;
    try {
      this.last = await get(`get-ic-ops${query({ experiment: this.getExperiment(), limit: 100 })}`);
      this.lastLoad = Date.now();
      this.render();
    } catch {
      // the runs poll reports an unreachable server
    } finally {
      this.loading = false;
    }
  }

  render() {
    const rows = [];
    for (const refusal of this.refused) {
      rows.push(this.row("–", refusal.operation, refusal.run_id, "REFUSED", refusal.reason, "this page", refusal.at));
    }
    for (const op of this.last) {
      let outcome = op.error || "";
      if (op.new_run_id !== null && op.new_run_id !== undefined) outcome = `new run ${op.new_run_id}${outcome ? `; ${outcome}` : ""}`;
      if (op.warm_start && op.operation === "CLONE_MODIFY") outcome += outcome ? " (warm)" : "warm start";
      if (!outcome && op.status === "COMPLETED") outcome = "applied";
      if (op.status === "PENDING" && this.controllerAlive() === false) {
        outcome = `${outcome ? `${outcome}; ` : ""}no controller is alive to apply it`;
      }
      rows.push(this.row(op.ic_id, op.operation, op.run_id, op.status, outcome, op.origin,
        op.processed_at || op.created_at));
    }
    this.body.replaceChildren(...rows);
  }

  row(id, operation, runId, status, outcome, origin, at) {
    const tr = el("tr");
    const statusCell = el("td");
    statusCell.append(statusBadge(status));
    tr.append(el("td", "num", String(id)), el("td", "", operation), el("td", "num", String(runId)), statusCell,
      el("td", "outcome", outcome), el("td", "muted", origin || ""), el("td", "muted", shortTime(at)));
    return tr;
  }
}
