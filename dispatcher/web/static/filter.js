// The console's filter language: a status, some text, or `key op value` joined by "and" or commas.
//   STOPPED · bert · lr > 0.01 · val_accuracy >= 0.8 · status = STOPPED · source = CLONE · parent = 3
export const STATUSES = ["NEW", "ONGOING", "COMPLETED", "STOPPED", "FAILED", "KILLED"];
const CONDITION = /^\s*([A-Za-z_][\w.-]*)\s*(==|!=|>=|<=|=|>|<|~)\s*([^=<>!~\s].*?)\s*$/;
const AND = /(?:^|\s+)and(?:\s+|$)|\s*,\s*/i;

export function runField(run, name) {
  const fields = {
    id: run.run_id, run_id: run.run_id, name: run.run_name, status: run.status, source: run.source,
    parent: run.parent_run_id, progress: run.progress, epoch: run.current_epoch, chunk: run.current_chunk,
    warm_start: run.warm_start,
  };
  if (name in fields) return [true, fields[name]];
  if (run.m && name in run.m) return [true, run.m[name]];
  const config = run.flattened_config || {};
  if (name in config) return [true, config[name]];
  const matches = Object.keys(config).filter((key) => key.endsWith(`.${name}`));
  if (matches.length === 1) return [true, config[matches[0]]];
  return [false, undefined];
}

function coerce(text) {
  const lowered = text.toLowerCase();
  if (lowered === "true" || lowered === "false") return lowered === "true";
  if (lowered === "none" || lowered === "null") return null;
  const number = Number(text);
  if (text.trim() !== "" && !Number.isNaN(number)) return number;
  return text.replace(/^['"]|['"]$/g, "");
}

const OPS = {
  "=": (a, b) => a === b, "==": (a, b) => a === b, "!=": (a, b) => a !== b,
  ">": (a, b) => a > b, "<": (a, b) => a < b, ">=": (a, b) => a >= b, "<=": (a, b) => a <= b,
};

function compare(have, op, want) {
  if (op === "~") return String(have).toLowerCase().includes(String(want).toLowerCase());
  if (typeof have === "boolean" || typeof want === "boolean" || have == null || want == null) {
    if (op === "=" || op === "==") return have === want || (have == null && want == null);
    if (op === "!=") return !(have === want || (have == null && want == null));
    return false;
  }
  if (typeof have === "number" && typeof want === "number") return OPS[op](have, want);
  const wantText = typeof want === "number" && Number.isInteger(want) ? String(want) : String(want);
  return OPS[op](String(have).toLowerCase(), wantText.toLowerCase());
}

export class FilterError extends Error {}

// Returns {text, test(run), keys}; throws FilterError with one sentence.
export function parseFilter(input) {
  const text = input.trim();
  const parts = [];
  const keys = [];
  if (!text) return { text, keys, test: () => true };
  for (const piece of text.split(AND)) {
    if (!piece || !piece.trim()) throw new FilterError(`The filter '${text}' has an empty condition around 'and'.`);
    const condition = CONDITION.exec(piece);
    if (condition) {
      const [, key, op, value] = condition;
      const want = coerce(value);
      keys.push(key);
      parts.push((run) => {
        const [found, have] = runField(run, key);
        return found && compare(have, op, want);
      });
    } else if (/[=<>~!]/.test(piece)) {
      throw new FilterError(`'${piece.trim()}' is not a condition; write it as key op value, e.g. lr > 0.01.`);
    } else {
      const word = piece.trim();
      if (STATUSES.includes(word.toUpperCase())) {
        const status = word.toUpperCase();
        parts.push((run) => run.status === status);
      } else {
        const needle = word.toLowerCase();
        parts.push((run) => run.hay.includes(needle));
      }
    }
  }
  return { text, keys, test: (run) => parts.every((part) => part(run)) };
}

export function unknownKeys(filter, runs) {
  return filter.keys.filter((key) => {
    for (const run of runs) if (runField(run, key)[0]) return false;
    return true;
  });
}
