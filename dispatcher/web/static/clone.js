// The clone form: a JSON editor seeded with the run's config, a live diff against it, JSON and
// JSON-Schema errors before submitting, and a warm-start box. The edited config is the
// clone's whole config (sent as `config`). With several runs marked, the same edit (the keys
// changed, added or removed) is applied to each run's own config.
import { post } from "./api.js";
import { el } from "./format.js";
import { validate } from "./schema.js";

function flatten(value, prefix = "", out = {}) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

export function configDiff(before, after) {
  const a = flatten(before);
  const b = flatten(after);
  const changes = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const was = JSON.stringify(a[key]);
    const now = JSON.stringify(b[key]);
    if (!(key in b)) changes.push({ key, kind: "removed", was });
    else if (!(key in a)) changes.push({ key, kind: "added", now });
    else if (was !== now) changes.push({ key, kind: "changed", was, now });
  }
  return changes.sort((x, y) => (x.key < y.key ? -1 : 1));
}

function setPath(target, dotted, value) {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object" || Array.isArray(node[part])) node[part] = {};
    node = node[part];
  }
  if (value === undefined) delete node[parts.at(-1)];
  else node[parts.at(-1)] = value;
}

export function applyDiff(config, changes, edited) {
  const copy = structuredClone(config);
  const flat = flatten(edited);
  for (const change of changes) setPath(copy, change.key, change.kind === "removed" ? undefined : flat[change.key]);
  return copy;
}

// JSON.parse's message, with the line and column of its position when it gives one.
function jsonError(text, error) {
  const match = /position (\d+)/.exec(error.message);
  if (!match) return `The config is not valid JSON: ${error.message}.`;
  const before = text.slice(0, Number(match[1]));
  const line = before.split("\n").length;
  const column = Number(match[1]) - before.lastIndexOf("\n");
  return `The config is not valid JSON at line ${line}, column ${column}: ${error.message.replace(/ in JSON at.*$/, "")}.`;
}

export class CloneForm {
  constructor({ getSchema, runs, report }) {
    Object.assign(this, { getSchema, runs, report });
    this.dialog = document.getElementById("clone-dialog");
    this.area = document.getElementById("clone-config");
    this.errors = document.getElementById("clone-errors");
    this.diff = document.getElementById("clone-diff");
    this.warm = document.getElementById("clone-warm");
    this.submit = document.getElementById("clone-submit");
    this.area.addEventListener("input", () => this.check());
    document.getElementById("clone-cancel").addEventListener("click", () => this.dialog.close());
    document.getElementById("clone-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  open(ids) {
    this.ids = ids;
    this.parent = this.runs.get(ids[0]);
    if (!this.parent) return;
    document.getElementById("clone-title").textContent = ids.length > 1
      ? `Clone runs ${ids.join(", ")} (editing run ${ids[0]}'s config; the same changes go to each)`
      : `Clone run ${this.parent.run_id} (${this.parent.run_name})`;
    this.area.value = JSON.stringify(this.parent.config ?? {}, null, 2);
    this.warm.checked = false;
    this.check();
    this.dialog.showModal();
    this.area.focus();
  }

  // Parses and checks the editor's text; returns the config, or null after showing why not.
  check() {
    let edited;
    try {
      edited = JSON.parse(this.area.value);
    } catch (error) {
      return this.show([jsonError(this.area.value, error)], []);
    }
    if (!edited || typeof edited !== "object" || Array.isArray(edited)) {
      return this.show(["The config must be a JSON object ({...})."], []);
    }
    const changes = configDiff(this.parent.config ?? {}, edited);
    const problems = validate(edited, this.getSchema()).map((p) => `Config schema: ${p}.`);
    this.show(problems, changes);
    return problems.length ? null : edited;
  }

  show(problems, changes) {
    this.errors.replaceChildren(...problems.map((p) => el("div", "", p)));
    this.area.setAttribute("aria-invalid", String(problems.length > 0));
    this.submit.disabled = problems.length > 0;
    const items = changes.map((c) => {
      const text = c.kind === "changed" ? `${c.key}: ${c.was} → ${c.now}`
        : c.kind === "added" ? `${c.key}: + ${c.now}` : `${c.key}: − ${c.was} (removed)`;
      return el("li", c.kind, text);
    });
    this.diff.replaceChildren(...(items.length ? items : [el("li", "muted", "No change yet: the clone would repeat the run.")]));
    return null;
  }

  async send() {
    const edited = this.check();
    if (!edited) return;
    const changes = configDiff(this.parent.config ?? {}, edited);
    const warm = this.warm.checked;
    const outcomes = await Promise.all(this.ids.map((id) => {
      const run = this.runs.get(id);
      const config = id === this.parent.run_id ? edited : applyDiff(run?.config ?? {}, changes, edited);
      return post("clone-modify-run", { run_id: id, config, warm_start: warm })
        .then((answer) => ({ id, ok: true, answer }))
        .catch((error) => ({ id, ok: false, error }));
    }));
    if (outcomes.length === 1 && !outcomes[0].ok && outcomes[0].error.status === 400) {
      this.errors.replaceChildren(el("div", "", outcomes[0].error.message)); // keep the editor open
      return;
    }
    this.dialog.close();
    this.report("Clone", outcomes);
  }
}
