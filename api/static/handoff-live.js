/* Live hand-off page: poll the transcript store for new messages of this conversation (GET
 * /staff/handoffs/{id}/turns?after=N, the sign-in cookie) and append them; say when the hand-off changes state.
 * Texts are set with textContent (never HTML). Without JavaScript the page still works: reload it. */
(function () {
  "use strict";
  var list = document.getElementById("live-transcript");
  if (!list || !window.fetch) { return; }
  var state = document.getElementById("live-state");
  var id = list.dataset.handoff;
  var after = list.dataset.after || "0";
  var every = Math.max(1, parseInt(list.dataset.poll || "3", 10)) * 1000;
  var status = document.getElementById("status");
  var seen = {};
  Array.prototype.forEach.call(list.querySelectorAll("li[data-event]"), function (li) { seen[li.dataset.event] = true; });

  function label(turn) {
    if (turn.who === "customer") { return "Customer"; }
    if (turn.who === "agent") { return turn.agent + " (staff)"; }
    return "Nova";
  }

  function add(turn) {
    if (seen[turn.event_id]) { return; }
    seen[turn.event_id] = true;
    var li = document.createElement("li");
    li.className = "turn " + (turn.who === "customer" ? "user" : "bot") + (turn.who === "agent" ? " agent" : "");
    li.dataset.event = String(turn.event_id);
    var meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = label(turn) + " · " + turn.at.replace("T", " ").slice(0, 16) + " UTC";
    var bubble = document.createElement("p");
    bubble.className = "bubble";
    bubble.textContent = turn.text;
    li.appendChild(meta);
    li.appendChild(bubble);
    list.appendChild(li);
    li.scrollIntoView({block: "end"});
  }

  function poll() {
    window.fetch("/staff/handoffs/" + encodeURIComponent(id) + "/turns?after=" + encodeURIComponent(after),
                 {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { state.textContent = "Your sign-in has ended: reload the page to sign in again."; return null; }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (body) {
        if (!body) { return; }
        body.turns.forEach(add);
        after = String(body.last_event_id);
        if (status && body.status !== status.dataset.status) {
          status.dataset.status = body.status;
          status.textContent = body.status === "closed" ? "closed: Nova answers (reload for details)" :
            body.status === "taken" ? "with " + body.taken_by + ": the bot is paused" : "waiting";
        }
        state.textContent = "Up to date (" + new Date().toLocaleTimeString() + ").";
        window.setTimeout(poll, every);
      })
      .catch(function () {
        state.textContent = "Cannot reach the server; retrying…";
        window.setTimeout(poll, every * 2);
      });
  }
  window.setTimeout(poll, every);
})();
