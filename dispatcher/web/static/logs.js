// The logs view: the experiment log or its IC lines, following new lines, with search.
import { post } from "./api.js";

const LIMIT = 5000;

export class Logs {
  constructor({ getExperiment }) {
    this.getExperiment = getExperiment;
    this.pre = document.getElementById("log-lines");
    this.follow = document.getElementById("log-follow");
    this.search = document.getElementById("log-search");
    this.count = document.getElementById("log-count");
    this.kind = "experiment";
    this.lines = [];
    this.shown = null;
    this.active = false;
    this.timer = null;
    for (const radio of document.querySelectorAll("input[name=log-kind]")) {
      radio.addEventListener("change", () => {
        this.kind = radio.value;
        this.load();
      });
    }
    this.search.addEventListener("input", () => this.render());
    this.follow.addEventListener("change", () => this.render());
    this.pre.addEventListener("scroll", () => {
      const atEnd = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
      if (!atEnd && this.follow.checked && this.pre.dataset.auto !== "1") this.follow.checked = false;
      this.pre.dataset.auto = "";
    }, { passive: true });
  }

  start() {
    this.active = true;
    this.load();
  }

  stop() {
    this.active = false;
    clearTimeout(this.timer);
  }

  async load() {
    clearTimeout(this.timer);
    const route = this.kind === "ic" ? "get-ic-logs" : "get-experiment-logs";
    const body = { limit: LIMIT };
    const experiment = this.getExperiment();
    if (experiment) body.experiment_name = experiment;
    try {
      this.lines = await post(route, body);
      this.error = "";
    } catch (error) {
      this.error = error.message;
    }
    this.render();
    if (this.active) this.timer = setTimeout(() => this.load(), 1000);
  }

  render() {
    const needle = this.search.value.trim().toLowerCase();
    const lines = needle ? this.lines.filter((line) => line.toLowerCase().includes(needle)) : this.lines;
    const text = this.error ? this.error : lines.join("\n");
    const total = `${this.lines.length} line${this.lines.length === 1 ? "" : "s"}`;
    this.count.textContent = needle ? `${lines.length} of ${total}` : total;
    if (text !== this.shown) {
      this.shown = text;
      this.pre.textContent = text || (needle ? "No line matches." : "No log line yet.");
    }
    if (this.follow.checked) {
      this.pre.dataset.auto = "1";
      this.pre.scrollTop = this.pre.scrollHeight;
    }
  }
}
