// Ferry's dashboard: the live parts only. Everything works without it except the live trace.
"use strict";

// Dates in the viewer's time zone.
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) { el.title = el.textContent; el.textContent = d.toLocaleString(); }
  }
}

// One trace event as the page renders it: folded, with its summary line; text only, never HTML.
function eventItem(type, data) {
  const li = document.createElement("li");
  let kind = "event", what = type;
  try {
    const line = JSON.parse(data), d = line.data || {};
    if (type === "model.reply") {
      kind = "model";
      const u = d.usage || {};
      const calls = (d.tool_calls || []).map(c => c.name).join(", ");
      what = "model call " + d.step + ": " + (u.input_tokens || 0) + " in / " + (u.output_tokens || 0) + " out tokens, $" +
        (d.cost_usd || 0).toFixed(4) + (calls ? " → " + calls : "");
    } else if (type === "tool.result") {
      kind = d.is_error ? "tool error" : "tool";
      what = d.tool + " " + (d.brief || "") + " (" + (d.duration_seconds || 0).toFixed(2) + " s)";
    } else if (type === "tests.baseline") {
      kind = "tests"; what = "tests before the change: " + (d.passed ? "passed" : "failed") + (d.summary ? " — " + d.summary : "");
    } else if (type === "verify.result") {
      kind = "tests"; what = "verification: " + d.outcome;
    } else if (type === "run.finished") {
      kind = "end"; what = "run finished: " + d.status + " — " + d.reason;
    }
  } catch (e) { /* show the raw line */ }
  li.className = "event fresh " + kind;
  const details = document.createElement("details"), summary = document.createElement("summary");
  const t = document.createElement("span"); t.className = "type"; t.textContent = type;
  const w = document.createElement("span"); w.className = "what"; w.textContent = " " + what;
  summary.append(t, w);
  const pre = document.createElement("pre"); pre.textContent = data;
  details.append(summary, pre); li.append(details);
  return li;
}

function liveTrace() {
  const list = document.getElementById("trace");
  if (!list || list.dataset.live !== "true" || !window.EventSource) return;
  const after = list.dataset.after;
  const source = new EventSource("/tasks/" + encodeURIComponent(list.dataset.task) + "/events" + (after ? "?after=" + encodeURIComponent(after) : ""));
  source.onmessage = null;
  const add = (e) => {
    const empty = document.getElementById("no-trace"); if (empty) empty.remove();
    list.append(eventItem(e.type, e.data));
  };
  const types = ["run.started", "config.warning", "tests.baseline.started", "tests.baseline", "tests.unusable", "attempt.started",
    "attempt.reproduction", "attempt.applied", "attempt.finished", "model.reply", "model.retry", "model.error", "reply.rejected",
    "tool.result", "verify.started", "verify.result", "context.compacted", "index.ready", "index.failed", "change.guarded",
    "run.halted", "run.error", "run.finished"];
  for (const t of types) source.addEventListener(t, add);
  source.addEventListener("end", () => { source.close(); location.reload(); });
}

// A chosen report.json fills the import form's text area.
function fileFills() {
  for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
    input.addEventListener("change", () => {
      const file = input.files[0], target = document.getElementById(input.dataset.fills);
      if (file && target) file.text().then(text => { target.value = text; });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { localTimes(document); liveTrace(); fileFills(); });
