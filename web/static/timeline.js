/* The game timeline: one lane per player, drawn in SVG from /api/games/{id}/timeline.
   Plain JavaScript, no library. window.ArenaTimeline.render(container, data, options). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var GUTTER = 132, ROW0 = 20, BRANCH = 11, GAP = 14, AXIS = 24;

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(span, target) {
    var raw = span / Math.max(1, target);
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= raw) return steps[i] * pow;
    return 10 * pow;
  }

  function fmtTime(ms, step) {
    if (step >= 1000) return (ms / 1000).toFixed(step >= 10000 ? 0 : 1) + " s";
    return (step < 1 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
  }

  function laneLayout(data) {
    var y = AXIS, lanes = [];
    data.lanes.forEach(function (lane) {
      var rows = lane.branch_rows;
      var h = ROW0 + rows * BRANCH + (rows ? 4 : 0);
      lanes.push({ seat: lane.seat, name: lane.name, y: y, height: h });
      y += h + GAP;
    });
    return { lanes: lanes, height: y };
  }

  function render(container, data, options) {
    options = options || {};
    var zoom = options.zoom || 1;
    var selected = options.selectedPly;
    container.textContent = "";
    if (!data.segments.length) {
      var p = document.createElement("p");
      p.textContent = "No moves yet.";
      container.appendChild(p);
      return null;
    }
    var start = data.start, end = data.end;
    var span = Math.max(end - start, 1);
    var visible = Math.max(320, container.clientWidth - 4);
    var width = Math.max(visible, Math.round((visible - GUTTER - 10) * zoom) + GUTTER + 10);
    var plot = width - GUTTER - 10;
    var x = function (t) { return GUTTER + ((t - start) / span) * plot; };
    var layout = laneLayout(data);
    var svg = el("svg", {
      width: width, height: layout.height, viewBox: "0 0 " + width + " " + layout.height,
      role: "img", "class": "timeline-svg",
      "aria-label": "Timeline of " + data.moves.length + " moves, " + data.lanes.length + " lanes: " +
        data.lanes.map(function (l) { return l.name; }).join(" and "),
    });
    // axis
    var step = niceStep(span, Math.max(4, plot / 110));
    var first = Math.ceil(start / step) * step;
    for (var t = first; t <= end + 1e-9; t += step) {
      el("line", { x1: x(t), x2: x(t), y1: AXIS - 6, y2: layout.height - GAP + 4, "class": "grid" }, svg);
      var label = el("text", { x: x(t), y: AXIS - 10, "class": "tick", "text-anchor": "middle" }, svg);
      label.textContent = fmtTime(t, step);
    }
    // selected move: a band across both lanes
    var move = null;
    data.moves.forEach(function (m) { if (m.ply === selected) move = m; });
    if (move) {
      el("rect", {
        x: x(move.turn[0]) - 2, y: AXIS - 4, width: Math.max(4, x(move.turn[1]) - x(move.turn[0]) + 4),
        height: layout.height - AXIS - GAP + 8, "class": "selected-band",
      }, svg);
    }
    var laneBySeat = {};
    layout.lanes.forEach(function (lane) {
      laneBySeat[lane.seat] = lane;
      el("rect", { x: 0, y: lane.y - 3, width: width, height: lane.height + 6, "class": "lane-bg lane-" + lane.seat }, svg);
      var group = el("g", {}, svg);
      el("title", {}, group).textContent = lane.name;
      var name = el("text", { x: 6, y: lane.y + 14, "class": "lane-name" }, group);
      name.textContent = lane.name.length > 17 ? lane.name.slice(0, 16) + "…" : lane.name;
    });
    var order = { wait: 0, turn: 1, actor: 2, branch: 3 };
    var segs = data.segments.slice().sort(function (a, b) { return order[a.kind] - order[b.kind]; });
    segs.forEach(function (s) {
      var lane = laneBySeat[s.lane];
      var x0 = x(s.start), w = Math.max(1, x(s.end) - x0);
      var y, h, cls = "seg " + s.kind;
      if (s.kind === "branch") {
        y = lane.y + ROW0 + 2 + (s.row - 1) * BRANCH; h = BRANCH - 3; cls += " " + s.outcome;
      } else if (s.kind === "actor") {
        y = lane.y + 6; h = ROW0 - 12;
      } else {
        y = lane.y; h = ROW0 - 2;
      }
      var r = el("rect", { x: x0, y: y, width: w, height: h, "class": cls, "data-ply": s.ply }, svg);
      var tip = el("title", {}, r);
      tip.textContent = s.label + " · " + (s.end - s.start).toFixed(1) + " ms";
      if (s.kind === "turn") {
        r.addEventListener("click", function () { if (options.onSelect) options.onSelect(s.ply); });
      }
    });
    // the part of each actor call run ahead of its turn: saved time
    data.moves.forEach(function (m) {
      if (!m.actor || m.actor[0] >= m.turn[0]) return;
      var lane = laneBySeat[m.seat];
      var a = x(m.actor[0]), b = x(Math.min(m.turn[0], m.actor[1]));
      var r = el("rect", { x: a, y: lane.y + 6, width: Math.max(1, b - a), height: ROW0 - 12, "class": "seg saved" }, svg);
      el("title", {}, r).textContent = "ply " + m.ply + " " + m.display + ": actor ran " +
        (Math.min(m.turn[0], m.actor[1]) - m.actor[0]).toFixed(1) + " ms ahead of its turn";
    });
    container.appendChild(svg);
    if (move && options.scrollToSelected !== false) {
      var left = x(move.turn[0]) - container.clientWidth / 2;
      container.scrollLeft = Math.max(0, left);
    }
    return svg;
  }

  function summary(data) {
    var per = data.lanes.map(function (lane) {
      return { name: lane.name, actor: 0, turn: 0, wait: 0, saved: 0, kept: 0, cancelled: 0, discarded: 0 };
    });
    data.segments.forEach(function (s) {
      var p = per[s.lane];
      if (s.kind === "branch") p[s.outcome] += 1;
      else p[s.kind] += s.end - s.start;
    });
    data.moves.forEach(function (m) {
      if (m.actor && m.actor[0] < m.turn[0]) per[m.seat].saved += Math.min(m.turn[0], m.actor[1]) - m.actor[0];
    });
    return per;
  }

  window.ArenaTimeline = { render: render, summary: summary };
})();
