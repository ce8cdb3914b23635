// Segment builder: draws the rule tree as nested, labelled form controls; keeps the JSON
// textarea (what the form saves) in sync; asks the server for a live count, an English
// summary and breakdowns as the rule changes. No inline script or handlers (strict CSP).
(function () {
  "use strict";

  const root = document.getElementById("rule-builder");
  const form = document.getElementById("segment-form");
  if (!root || !form) return;

  const options = JSON.parse(root.dataset.options || "{}");
  const fields = Object.fromEntries((options.fields || []).map((f) => [f.name, f]));
  const words = options.op_words || {};
  const jsonBox = document.getElementById("rule-json");
  const summary = document.getElementById("rule-summary");
  const errorBox = document.getElementById("rule-error");
  const countBox = document.getElementById("live-count");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const EMPTY_OPS = ["is_empty", "is_not_empty"];
  const LIST_OPS = ["in", "not_in"];
  const RELATIVE_OPS = ["within_last", "more_than_ago"];
  const EVENT_WORDS = { count_at_least: "at least", count_at_most: "at most",
                        not_performed: "did not perform" };
  const EVENT_NAMES = ["Appointment Booked", "Appointment Missed", "Prescription Filled",
                       "Prescription Unfilled", "Portal Login", "Form Submitted"];
  let serial = 0;
  let tree = null;
  let paths = {};
  let timer = null;
  let inflight = null;

  // --- the model: rule JSON <-> editable nodes -------------------------------------------

  function fromRule(rule) {
    const id = "n" + (++serial);
    if (rule && rule.all) return { id, type: "group", mode: "all", children: rule.all.map(fromRule) };
    if (rule && rule.any) return { id, type: "group", mode: "any", children: rule.any.map(fromRule) };
    if (rule && rule.not) {
      const inner = rule.not.any ? rule.not.any : [rule.not];
      return { id, type: "group", mode: "none", children: inner.map(fromRule) };
    }
    if (rule && "segment" in rule) return { id, type: "segment", segment: rule.segment };
    if (rule && "event" in rule) return Object.assign({ id, type: "event" }, rule);
    if (rule && "trait" in rule) return Object.assign({ id, type: "trait" }, rule);
    if (rule && "field" in rule) return Object.assign({ id, type: "field" }, rule);
    return newLeaf();
  }

  function newLeaf() {
    return { id: "n" + (++serial), type: "field", field: "condition_group", op: "includes",
             value: firstValue("condition_group") };
  }

  function firstValue(name) {
    const f = fields[name];
    return f && f.values && f.values.length ? f.values[0] : "";
  }

  function toRule(node, path) {
    paths[path] = node.id;
    if (node.type === "group") {
      const key = node.mode === "all" ? "all" : "any";
      const inner = node.mode === "none" ? path + ".not.any" : path + "." + key;
      if (node.mode === "none") paths[path + ".not"] = node.id;
      const children = node.children.map((c, i) => toRule(c, inner + "[" + i + "]"));
      const group = {};
      group[key] = children;
      return node.mode === "none" ? { not: group } : group;
    }
    const out = {};
    Object.keys(node).forEach((k) => {
      if (k !== "id" && k !== "type" && node[k] !== undefined) out[k] = node[k];
    });
    return out;
  }

  function currentRule() {
    paths = {};
    return toRule(tree, "$");
  }

  // --- drawing -----------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  }

  function labelled(id, text, control) {
    control.id = id;
    return el("label", { for: id }, [document.createTextNode(text), control]);
  }

  function select(choices, value, multiple) {
    const box = el("select", { multiple: multiple ? "multiple" : null });
    choices.forEach(([v, text]) => {
      const opt = el("option", { value: v, text: text });
      if (multiple ? (value || []).map(String).includes(String(v)) : String(v) === String(value)) {
        opt.selected = true;
      }
      box.appendChild(opt);
    });
    return box;
  }

  function button(text, label, action) {
    const b = el("button", { type: "button", text: text, "aria-label": label });
    b.addEventListener("click", action);
    return b;
  }

  function draw(focusId) {
    root.replaceChildren(drawGroup(tree, null, 0));
    changed();
    const target = focusId && document.getElementById(focusId);
    if (target) target.focus();
  }

  function drawGroup(node, parent, depth) {
    const mode = select([["all", "ALL of these are true"], ["any", "ANY of these is true"],
                         ["none", "NONE of these is true"]], node.mode);
    mode.addEventListener("change", () => { node.mode = mode.value; draw(mode.id); });
    const legend = el("legend", {}, [labelled(node.id + "-mode", depth ? "Nested group: match" : "Match", mode)]);
    const list = el("ol", { class: "rb-list" });
    node.children.forEach((child, i) => {
      if (i > 0) list.appendChild(el("li", { class: "rb-join", "aria-hidden": "true",
        text: node.mode === "all" ? "and" : node.mode === "any" ? "or" : "nor" }));
      list.appendChild(el("li", {}, [child.type === "group" ? drawGroup(child, node, depth + 1)
                                                            : drawLeaf(child, node)]));
    });
    const actions = el("div", { class: "rb-actions" }, [
      button("+ Condition", "Add a condition to this group", () => add(node, newLeaf())),
      button("+ Group", "Add a nested group to this group", () => add(node, {
        id: "n" + (++serial), type: "group", mode: "any", children: [newLeaf()] })),
      parent ? removeButton(node, parent, "group") : null,
    ]);
    const open = depth ? el("span", { class: "rb-paren", "aria-hidden": "true", text: "(" }) : null;
    const close = depth ? el("span", { class: "rb-paren", "aria-hidden": "true", text: ")" }) : null;
    return el("fieldset", { class: "rb-group", id: node.id }, [legend, open, list, close, actions]);
  }

  function add(group, child) {
    group.children.push(child);
    draw(child.type === "group" ? child.id + "-mode" : child.id + "-kind");
  }

  function removeButton(node, parent, what) {
    return button("Remove", "Remove this " + what, () => {
      const at = parent.children.indexOf(node);
      parent.children.splice(at, 1);
      if (!parent.children.length) parent.children.push(newLeaf());
      const next = parent.children[Math.min(at, parent.children.length - 1)];
      draw(next.type === "group" ? next.id + "-mode" : next.id + "-kind");
    });
  }

  function drawLeaf(node, parent) {
    const kinds = [["field", "Patient field"], ["trait", "Custom attribute"],
                   ["event", "Behaviour (event)"], ["segment", "Member of segment"]];
    const kind = select(kinds, node.type);
    kind.addEventListener("change", () => { switchKind(node, kind.value); draw(kind.id); });
    const parts = [labelled(node.id + "-kind", "Condition on", kind)];
    if (node.type === "field") parts.push(...fieldControls(node));
    if (node.type === "trait") parts.push(...traitControls(node));
    if (node.type === "event") parts.push(...eventControls(node));
    if (node.type === "segment") parts.push(segmentControl(node));
    parts.push(removeButton(node, parent, "condition"));
    return el("div", { class: "rb-leaf", id: node.id, role: "group",
                       "aria-label": "Condition" }, parts);
  }

  function switchKind(node, type) {
    Object.keys(node).forEach((k) => { if (k !== "id") delete node[k]; });
    node.type = type;
    if (type === "field") Object.assign(node, newLeaf(), { id: node.id });
    if (type === "trait") Object.assign(node, { trait: "", op: "eq", value: "" });
    if (type === "event") Object.assign(node, { event: EVENT_NAMES[1], op: "count_at_least",
                                                value: 1, within_days: 30 });
    if (type === "segment") node.segment = (options.segments || [])[0] || "";
  }

  function opChoices(ops) {
    return ops.map((op) => [op, words[op] || op.replace(/_/g, " ")]);
  }

  function fieldControls(node) {
    const meta = fields[node.field] || fields.condition_group;
    const pick = select(Object.values(fields).map((f) => [f.name, f.label]), node.field);
    pick.addEventListener("change", () => {
      const next = fields[pick.value];
      node.field = next.name;
      node.op = next.ops[0];
      node.value = defaultValue(next, node.op);
      draw(pick.id);
    });
    const op = select(opChoices(meta.ops), node.op);
    op.addEventListener("change", () => {
      node.op = op.value;
      node.value = defaultValue(meta, node.op);
      draw(op.id);
    });
    return [labelled(node.id + "-field", "Field", pick), labelled(node.id + "-op", "Operator", op),
            ...valueControls(node, meta.kind, meta.values, node.field)];
  }

  function defaultValue(meta, op) {
    if (EMPTY_OPS.includes(op)) return undefined;
    if (RELATIVE_OPS.includes(op)) return { days: 30 };
    if (meta.kind === "bool" || (meta.name === "marketing_authorized" && ["eq", "neq"].includes(op))) return true;
    if (op === "between") return meta.kind === "date" ? ["2023-01-01", "2023-12-31"] : [18, 65];
    if (meta.kind === "number") return LIST_OPS.includes(op) ? [40] : 40;
    if (meta.kind === "date") return "2023-01-01";
    const first = meta.values && meta.values.length ? meta.values[0] : "";
    return LIST_OPS.includes(op) ? [first] : first;
  }

  function valueControls(node, kind, values, field) {
    const id = node.id + "-value";
    const op = node.op;
    const set = (v) => { node.value = v; changed(); };
    if (EMPTY_OPS.includes(op)) return [];
    if (kind === "bool" || (field === "marketing_authorized" && typeof node.value === "boolean")) {
      const box = select([["true", "yes"], ["false", "no"]], String(node.value));
      box.addEventListener("change", () => set(box.value === "true"));
      return [labelled(id, "Value", box)];
    }
    if (RELATIVE_OPS.includes(op) || (kind === "date" && node.value && typeof node.value === "object" && !Array.isArray(node.value))) {
      return relativeControls(node, id);
    }
    if (op === "between") return betweenControls(node, id, kind === "date" ? "date" : "number");
    if (values && values.length) {
      const multiple = LIST_OPS.includes(op);
      const box = select(values.map((v) => [v, v]), node.value, multiple);
      if (multiple) box.size = Math.min(6, values.length);
      box.addEventListener("change", () => set(multiple
        ? Array.from(box.selectedOptions).map((o) => o.value) : box.value));
      return [labelled(id, multiple ? "Values (choose one or more)" : "Value", box)];
    }
    return [textValue(node, id, kind, op)];
  }

  function textValue(node, id, kind, op) {
    const list = LIST_OPS.includes(op);
    const type = kind === "date" ? "date" : kind === "number" && !list ? "number" : "text";
    const shown = Array.isArray(node.value) ? node.value.join(", ") : (node.value ?? "");
    const box = el("input", { type: type, value: shown });
    const numeric = kind === "number" || ["gt", "gte", "lt", "lte"].includes(op);
    box.addEventListener("input", () => {
      const parse = (t) => (numeric && t.trim() !== "" && !isNaN(Number(t)) ? Number(t) : t.trim());
      node.value = list ? box.value.split(",").map(parse).filter((v) => v !== "") : parse(box.value);
      changed();
    });
    return labelled(id, list ? "Values (comma-separated)" : "Value", box);
  }

  function betweenControls(node, id, type) {
    const bounds = Array.isArray(node.value) ? node.value : ["", ""];
    return [0, 1].map((i) => {
      const box = el("input", { type: type, value: bounds[i] });
      box.addEventListener("input", () => {
        bounds[i] = type === "number" ? Number(box.value) : box.value;
        node.value = bounds;
        changed();
      });
      return labelled(id + "-" + i, i ? "and (inclusive)" : "Between", box);
    });
  }

  function relativeControls(node, id) {
    const unit = Object.keys(node.value || { days: 30 })[0];
    const amount = el("input", { type: "number", min: "0", value: (node.value || {})[unit] ?? 30 });
    const units = select([["days", "days"], ["weeks", "weeks"], ["months", "months"]], unit);
    const update = () => {
      const v = {};
      v[units.value] = Number(amount.value);
      node.value = v;
      changed();
    };
    amount.addEventListener("input", update);
    units.addEventListener("change", update);
    return [labelled(id, "Amount", amount), labelled(id + "-unit", "Unit", units)];
  }

  function traitControls(node) {
    const name = el("input", { type: "text", value: node.trait || "", autocomplete: "off" });
    name.addEventListener("input", () => { node.trait = name.value; changed(); });
    const op = select(opChoices(options.trait_ops || ["eq"]), node.op);
    op.addEventListener("change", () => {
      node.op = op.value;
      node.value = EMPTY_OPS.includes(op.value) ? undefined
        : op.value === "between" ? [0, 10] : LIST_OPS.includes(op.value) ? [] : "";
      draw(op.id);
    });
    return [labelled(node.id + "-trait", "Attribute name", name),
            labelled(node.id + "-op", "Operator", op),
            ...valueControls(node, "any", null, null)];
  }

  function eventControls(node) {
    const name = el("input", { type: "text", value: node.event || "", list: "rb-event-names",
                               autocomplete: "off" });
    name.addEventListener("input", () => { node.event = name.value; changed(); });
    const op = select((options.event_ops || []).map((o) => [o, EVENT_WORDS[o] || o]), node.op);
    op.addEventListener("change", () => {
      node.op = op.value;
      if (op.value === "not_performed") delete node.value; else node.value = node.value || 1;
      draw(op.id);
    });
    const parts = [labelled(node.id + "-event", "Event name", name),
                   labelled(node.id + "-op", "How often", op)];
    if (node.op !== "not_performed") {
      const times = el("input", { type: "number", min: "0", value: node.value ?? 1 });
      times.addEventListener("input", () => { node.value = Number(times.value); changed(); });
      parts.push(labelled(node.id + "-count", "Times", times));
    }
    const days = el("input", { type: "number", min: "1", value: node.within_days ?? "",
                               placeholder: "any time" });
    days.addEventListener("input", () => {
      node.within_days = days.value === "" ? undefined : Number(days.value);
      changed();
    });
    parts.push(labelled(node.id + "-days", "In the last (days)", days));
    if (node.where && node.where.length) {
      parts.push(el("span", { class: "muted", text: node.where.length +
        " property filter(s) kept — edit them in the JSON below" }));
    }
    return parts;
  }

  function segmentControl(node) {
    const names = options.segments || [];
    const box = select(names.map((n) => [n, n]), node.segment);
    box.addEventListener("change", () => { node.segment = box.value; changed(); });
    return labelled(node.id + "-segment", "Segment", box);
  }

  // --- syncing, live count, errors -----------------------------------------------------

  function changed() {
    jsonBox.value = JSON.stringify(currentRule(), null, 2);
    clearTimeout(timer);
    timer = setTimeout(count, 350);
  }

  function count() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    countBox.textContent = "Counting…";
    fetch(root.dataset.countUrl, {
      method: "POST", signal: inflight.signal, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrf },
      body: JSON.stringify({ rule: currentRule() }),
    }).then((r) => r.json().then((data) => ({ ok: r.ok, data })))
      .then(({ ok, data }) => (ok ? showCount(data) : showError(data)))
      .catch((err) => {
        if (err.name !== "AbortError") showError({ error: "The count could not be fetched; try again." });
      });
  }

  function showCount(data) {
    clearError();
    summary.textContent = data.summary;
    countBox.textContent = data.count + " patients match · " + data.reachable +
      " reachable by email";
    fillTable("breakdown-stage", data.breakdown.lifecycle_stage, (k) => k.replace(/_/g, " "));
    fillTable("breakdown-age", data.breakdown.age_band, (k) => k);
  }

  function fillTable(id, counts, label) {
    const table = document.getElementById(id);
    const body = table.querySelector("tbody");
    body.replaceChildren(...Object.entries(counts).map(([k, v]) => el("tr", {}, [
      el("th", { scope: "row", text: label(k) }), el("td", { class: "num", text: String(v) })])));
    table.hidden = false;
  }

  function showError(data) {
    clearError();
    countBox.textContent = "No count: the rule needs fixing.";
    errorBox.textContent = "This rule cannot be counted: " + (data.error || "unknown error");
    errorBox.hidden = false;
    const target = nodeFor(data.path);
    if (target) {
      target.classList.add("rb-invalid");
      target.setAttribute("aria-invalid", "true");
      const jump = button("Go to the problem", "Move focus to the condition with the problem", () => {
        const first = target.querySelector("select, input, button");
        (first || target).focus();
      });
      errorBox.appendChild(document.createTextNode(" "));
      errorBox.appendChild(jump);
    }
  }

  function nodeFor(path) {
    if (!path) return null;
    let probe = path;
    while (probe) {
      if (paths[probe]) return document.getElementById(paths[probe]);
      const cut = Math.max(probe.lastIndexOf("."), probe.lastIndexOf("["));
      probe = cut > 0 ? probe.slice(0, cut) : "";
    }
    return null;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
    root.querySelectorAll(".rb-invalid").forEach((n) => {
      n.classList.remove("rb-invalid");
      n.removeAttribute("aria-invalid");
    });
  }

  function load(text) {
    try {
      tree = fromRule(JSON.parse(text));
    } catch (e) {
      showError({ error: "the JSON could not be read (" + e.message + ")" });
      return false;
    }
    if (tree.type !== "group") tree = { id: "n" + (++serial), type: "group", mode: "all", children: [tree] };
    draw();
    return true;
  }

  const names = el("datalist", { id: "rb-event-names" }, EVENT_NAMES.map((n) => el("option", { value: n })));
  document.body.appendChild(names);
  document.getElementById("rule-json-load").addEventListener("click", () => load(jsonBox.value));
  if (!load(jsonBox.value || "{}")) {
    tree = { id: "n" + (++serial), type: "group", mode: "all", children: [newLeaf()] };
    draw();
  }
})();
