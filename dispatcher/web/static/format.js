// How values look: numbers, status badges, progress bars, sparklines (inline SVG).
const SVG = "http://www.w3.org/2000/svg";

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "nan";
    if (Number.isInteger(value)) return String(value);
    const size = Math.abs(value);
    if (size === 0 || (size >= 1e-3 && size < 1e5)) return String(Number(value.toPrecision(4)));
    return value.toExponential(2);
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function statusBadge(status) {
  return el("span", `status s-${String(status).toLowerCase()}`, status);
}

export function progressBar(fraction) {
  const value = Math.min(1, Math.max(0, Number(fraction) || 0));
  const wrap = el("span", "progress");
  const bar = el("span", "progress-bar");
  const fill = el("span", value >= 1 ? "progress-fill done" : "progress-fill");
  fill.style.width = `${(value * 100).toFixed(1)}%`; // CSSOM, which the CSP allows
  bar.append(fill);
  wrap.append(bar, el("span", "progress-text", `${Math.round(value * 100)}%`));
  return wrap;
}

export function sparkline(values, width = 80, height = 18) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2) return svg;
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const span = high - low || 1;
  const step = width / (finite.length - 1);
  const points = finite.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v - low) / span) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

export function shortTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : when.toLocaleTimeString();
}
