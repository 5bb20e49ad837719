/* The game page: board, move list, controls, speculation overlay, clocks, timeline,
   and, while the game is played, live updates from the spectator websocket. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("game-data").textContent);
  var game = data.detail, timeline = data.timeline;
  var ply = game.plies;            // position shown: after `ply` moves
  var zoom = 1, playing = null, live = null, follow = true;
  var liveClock = null;            // {remaining: [a, b], toMove: seat, at: ms} while live
  var $ = function (id) { return document.getElementById(id); };
  var board = $("board"), movesList = $("moves"), overlay = $("overlay-body");

  function text(tag, content, cls) {
    var node = document.createElement(tag);
    if (content !== undefined && content !== null) node.textContent = content;
    if (cls) node.className = cls;
    return node;
  }

  function ms(v) {
    if (v === null || v === undefined) return "-";
    return (Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en")) + " ms";
  }

  function clock(v) {
    if (v === null || v === undefined) return "no clock";
    var s = Math.max(0, v) / 1000, m = Math.floor(s / 60);
    var rest = s - m * 60;
    return m + ":" + (rest < 10 ? "0" : "") + (s < 10 ? rest.toFixed(1) : Math.floor(rest));
  }

  function initialClocks() {
    var tc = game.time_control, m = /^(\d+(?:\.\d+)?)\+/.exec(tc) || /^(\d+(?:\.\d+)?)\/move$/.exec(tc);
    if (!m) return [null, null];
    var v = Math.round(parseFloat(m[1]) * 1000);
    return [v, v];
  }

  // ------------------------------------------------------------ move list

  function renderMoves() {
    movesList.textContent = "";
    game.moves.forEach(function (m, i) {
      var li = document.createElement("li");
      var b = text("button", m.display);
      b.type = "button";
      b.dataset.ply = String(i + 1);
      var acc = game.speculation.moves[i + 1];
      var mark = "";
      if (acc && acc.predictions) mark = acc.hit_rank ? " predicted" : " missed";
      b.className = "move seat-" + m.seat + mark;
      b.setAttribute("aria-label", "Move " + (i + 1) + ": " + m.display + " by " + game.players[m.seat] +
        (acc && acc.predictions ? (acc.hit_rank ? ", predicted at rank " + acc.hit_rank : ", not predicted") : ""));
      b.addEventListener("click", function () { stop(); go(i + 1); });
      li.appendChild(b);
      movesList.appendChild(li);
    });
  }

  // ------------------------------------------------------------ overlay

  function predictionList(acc, realMove) {
    if (!acc || !acc.predictions) return null;
    var ol = text("ol", null, "predictions");
    acc.predictions.forEach(function (mv, i) {
      var li = text("li", mv);
      if (acc.probs) li.appendChild(text("span", " " + Math.round(acc.probs[i] * 100) + "%", "prob"));
      if (mv === realMove) {
        li.className = "hit";
        li.appendChild(text("span", " ✓ hit", "hit-mark"));
      }
      ol.appendChild(li);
    });
    return ol;
  }

  function row(dl, label, value, cls) {
    var div = document.createElement("div");
    div.appendChild(text("dt", label));
    div.appendChild(text("dd", value, cls));
    dl.appendChild(div);
  }

  function renderOverlay() {
    overlay.textContent = "";
    if (ply === 0) {
      overlay.appendChild(text("p", "Start position. Step forward (→) to see the first move."));
      return;
    }
    var m = game.moves[ply - 1], acc = game.speculation.moves[ply - 1];
    var next = game.speculation.moves[ply];
    var mover = game.players[m.seat], other = game.players[1 - m.seat];
    overlay.appendChild(text("h3", "Move " + ply + ": " + m.display + " by " + mover));

    // the opponent's predictions of this move
    var sec = text("section", null, "predicted-by");
    sec.appendChild(text("h4", other + " predicted"));
    var list = next ? predictionList(next, m.move) : null;
    if (list) {
      sec.appendChild(list);
      sec.appendChild(text("p", next.hit_rank ? "Hit at rank " + next.hit_rank + "." : "Miss: " + m.move + " was not among them.",
        next.hit_rank ? "verdict hit" : "verdict miss"));
    } else if (!next && game.status !== "finished") {
      sec.appendChild(text("p", "Waiting for " + other + "'s reply to score its prediction."));
    } else {
      sec.appendChild(text("p", "No prediction arrived in time" +
        (next && next.late_predictions ? " (" + next.late_predictions + " too late)" : "") + "."));
    }
    overlay.appendChild(sec);

    // how the mover produced it
    var how = text("section", null, "how");
    how.appendChild(text("h4", "How " + mover + " produced it"));
    var dl = text("dl", null, "figures");
    row(dl, "Speculation", acc.speculation || "-", "spec " + (acc.speculation || ""));
    row(dl, "Actor", ms(acc.actor_ms));
    row(dl, "Response", ms(acc.response_ms));
    row(dl, "Saved", acc.saved_ms === null ? "-" : (acc.saved_ms > 0 ? "+" : "") + ms(acc.saved_ms),
      acc.saved_ms > 0 ? "saved pos" : "saved neg");
    row(dl, "Tokens", acc.actor_tokens + " actor · " + acc.spec_tokens + " spec · " + acc.wasted_tokens + " wasted");
    row(dl, "Branch calls", String(acc.spec_calls));
    var meta = m.meta || {};
    if (meta.speculator_ms !== undefined) row(dl, "Speculator", ms(meta.speculator_ms));
    if (meta.branches) {
      var counts = { kept: 0, cancelled: 0, discarded: 0 };
      meta.branches.forEach(function (b) { counts[b.outcome] = (counts[b.outcome] || 0) + 1; });
      row(dl, "Branches", counts.kept + " kept · " + counts.cancelled + " cancelled · " + counts.discarded + " discarded");
    }
    how.appendChild(dl);
    if (ply >= 2 && acc.predictions) {
      var prev = game.moves[ply - 2];
      how.appendChild(text("p", mover + "'s guesses for " + other + "'s previous move (" + prev.display + "):"));
      how.appendChild(predictionList(acc, prev.move));
    }
    overlay.appendChild(how);

    if (meta.comment) {
      var details = document.createElement("details");
      details.className = "raw-reply";
      details.appendChild(text("summary", "Raw reply of " + mover + "'s model"));
      details.appendChild(text("pre", meta.comment));
      overlay.appendChild(details);
    }
  }

  // ------------------------------------------------------------ clocks

  function renderClocks() {
    var values, running = null;
    if (liveClock && ply === game.plies) {
      values = liveClock.remaining.slice();
      running = liveClock.toMove;
      if (running !== null && values[running] !== null) values[running] -= Date.now() - liveClock.at;
    } else {
      values = ply === 0 ? initialClocks() : game.moves[ply - 1].clocks_ms;
    }
    [0, 1].forEach(function (seat) {
      var box = $("clock-" + seat);
      box.querySelector(".time").textContent = clock(values[seat]);
      box.classList.toggle("running", running === seat);
    });
  }

  // ------------------------------------------------------------ navigation

  function go(target) {
    ply = Math.max(0, Math.min(game.plies, target));
    follow = ply === game.plies;
    board.src = "/api/games/" + encodeURIComponent(game.id) + "/svg?ply=" + ply;
    var last = ply ? game.moves[ply - 1] : null;
    var where = ply === 0 ? "Start position" :
      "After move " + ply + " of " + game.plies + ": " + last.display + " by " + game.players[last.seat];
    board.alt = where;
    $("position").textContent = where;
    Array.prototype.forEach.call(movesList.querySelectorAll("button"), function (b) {
      var on = Number(b.dataset.ply) === ply;
      b.classList.toggle("current", on);
      if (on) { b.setAttribute("aria-current", "step"); } else { b.removeAttribute("aria-current"); }
    });
    var current = movesList.querySelector("button.current");
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
    $("btn-first").disabled = $("btn-prev").disabled = ply === 0;
    $("btn-next").disabled = $("btn-last").disabled = ply === game.plies;
    renderOverlay();
    renderClocks();
    drawTimeline();
    if (history.replaceState) history.replaceState(null, "", "?ply=" + ply);
  }

  function stop() {
    if (playing) { clearInterval(playing); playing = null; }
    var b = $("btn-play");
    b.textContent = "▶ Play"; b.setAttribute("aria-pressed", "false"); b.setAttribute("aria-label", "Play");
  }

  function play() {
    if (playing) { stop(); return; }
    if (ply === game.plies) go(0);
    var b = $("btn-play");
    b.textContent = "⏸ Pause"; b.setAttribute("aria-pressed", "true"); b.setAttribute("aria-label", "Pause");
    playing = setInterval(function () {
      if (ply >= game.plies) { stop(); return; }
      go(ply + 1);
    }, 900);
  }

  $("btn-first").addEventListener("click", function () { stop(); go(0); });
  $("btn-prev").addEventListener("click", function () { stop(); go(ply - 1); });
  $("btn-next").addEventListener("click", function () { stop(); go(ply + 1); });
  $("btn-last").addEventListener("click", function () { stop(); go(game.plies); });
  $("btn-play").addEventListener("click", play);
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.altKey || e.ctrlKey || e.metaKey) return;
    var keys = { ArrowLeft: ply - 1, ArrowRight: ply + 1, Home: 0, End: game.plies };
    if (!(e.key in keys)) return;
    e.preventDefault();
    stop();
    go(keys[e.key]);
  });

  // ------------------------------------------------------------ timeline

  function drawTimeline() {
    var box = $("timeline");
    window.ArenaTimeline.render(box, timeline, {
      zoom: zoom, selectedPly: ply - 1,
      onSelect: function (p) { stop(); go(p + 1); },
    });
    var summary = $("timeline-summary");
    summary.textContent = "";
    var table = document.createElement("table");
    table.appendChild(text("caption", "Time per player over the game"));
    var head = document.createElement("tr");
    ["Player", "Actor calls", "Own turns", "Waiting", "Run ahead (saved)", "Branches kept", "cancelled", "discarded"]
      .forEach(function (h) { var th = text("th", h); th.scope = "col"; head.appendChild(th); });
    var thead = document.createElement("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var tbody = document.createElement("tbody");
    window.ArenaTimeline.summary(timeline).forEach(function (p) {
      var tr = document.createElement("tr");
      var th = text("th", p.name); th.scope = "row"; tr.appendChild(th);
      [ms(p.actor), ms(p.turn), ms(p.wait), ms(p.saved), p.kept, p.cancelled, p.discarded].forEach(function (v) {
        tr.appendChild(text("td", String(v)));
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    var wrap = text("div", null, "scroll");
    wrap.appendChild(table);
    summary.appendChild(wrap);
  }

  $("tl-in").addEventListener("click", function () { zoom = Math.min(zoom * 2, 4096); drawTimeline(); });
  $("tl-out").addEventListener("click", function () { zoom = Math.max(zoom / 2, 1); drawTimeline(); });
  $("tl-fit").addEventListener("click", function () { zoom = 1; drawTimeline(); });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawTimeline, 150);
  });

  // ------------------------------------------------------------ live

  function setLiveStatus(message) {
    var box = $("live-status");
    box.hidden = false;
    box.textContent = message;
  }

  function refresh() {
    var id = encodeURIComponent(game.id);
    return Promise.all([
      fetch("/api/games/" + id).then(function (r) { return r.json(); }),
      fetch("/api/games/" + id + "/timeline").then(function (r) { return r.json(); }),
    ]).then(function (res) {
      var wasFollowing = follow;
      game = res[0]; timeline = res[1];
      renderMoves();
      if (game.status === "finished") {
        $("result").textContent = game.result + " (" + game.reason + ")";
      }
      go(wasFollowing ? game.plies : ply);
      document.body.dataset.plies = String(game.plies);
    });
  }

  function connect(attempt) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws/watch/" + encodeURIComponent(game.id));
    live = ws;
    ws.onopen = function () { setLiveStatus("Live: connected, waiting for moves."); attempt = 0; };
    ws.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (err) { return; }
      if (msg.type === "game_start" || msg.type === "state") {
        liveClock = { remaining: msg.clocks.remaining_ms.slice(), toMove: msg.to_move, at: Date.now() };
        var n = msg.type === "state" ? msg.ply : msg.moves.length;
        if (msg.to_move !== null && msg.to_move !== undefined) {
          setLiveStatus("Live: " + game.players[msg.to_move] + " to move (" + n + " moves played).");
        }
        if (n !== game.plies) refresh(); else renderClocks();
      } else if (msg.type === "game_over") {
        liveClock = null;
        setLiveStatus("Game over: " + msg.result + " (" + msg.reason + ").");
        refresh();
        ws.close();
        live = "done";
      } else if (msg.type === "error") {
        setLiveStatus("Live view: " + msg.message);
      }
    };
    ws.onclose = function () {
      if (live === "done") return;
      if (attempt >= 5) { setLiveStatus("Live view disconnected; reload the page to resume."); return; }
      setLiveStatus("Live view disconnected; reconnecting…");
      setTimeout(function () { connect(attempt + 1); }, 1000 * (attempt + 1));
    };
  }

  // ------------------------------------------------------------ start

  renderMoves();
  var asked = /[?&]ply=(\d+)/.exec(location.search);
  go(asked ? Number(asked[1]) : game.plies);
  document.body.dataset.plies = String(game.plies);
  if (game.status !== "finished") {
    connect(0);
    setInterval(function () { if (liveClock) renderClocks(); }, 250);
  }
})();
