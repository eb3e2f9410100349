/* Nova web chat widget: talks to Rasa's socket.io channel (bot/socketio_channel.py).
 *
 * Reads its settings from #nova-chat's data attributes (rasa-url, token, identity). One conversation per
 * identity: the session id and session secret the channel minted (session_confirm) and the messages are kept in
 * localStorage, so a reload continues the same Rasa conversation (session_persistence: the channel lets a socket
 * rejoin only with the secret) and shows what was said. The customer token, if any, goes only in the
 * session_request; messages carry the session id. Bot messages with buttons or quick replies get a group of
 * buttons that send the payload and show the title. "Log out" (#chat-logout) forgets the conversation: its
 * session secret is the key to it, so neither it nor the messages stay in this browser.
 * Live hand-off: a message a staff member sent carries "agent" (their name) and "handoff" (taken, message,
 * closed; bot/socketio_channel.py): it is shown with their name, and while a person answers the widget does not
 * wait for Nova (no typing indicator, no "Nova has not answered" timeout) until "closed". */
(function () {
  "use strict";
  var root = document.getElementById("nova-chat");
  if (!root) { return; }
  var rasaUrl = root.dataset.rasaUrl;
  var token = root.dataset.token || null;
  var key = "nova-chat:" + (root.dataset.identity || "anonymous");
  var historyKey = key + ":messages";
  var secretKey = key + ":secret";
  var MAX_HISTORY = 200;
  var ANSWER_TIMEOUT_MS = 30000;

  // Shown when a conversation starts: who answers, what it can do, and starter replies (sent as typed text).
  var GREETING = {from: "bot", text: "Hi, I'm Nova, Atlantic Bank's assistant. I can show your balances and " +
    "transactions, make transfers, block a card, update your details and answer questions about our products.",
    choices: [{title: "What's my balance?", payload: "what is my balance?"},
              {title: "Make a transfer", payload: "I want to make a transfer"},
              {title: "Talk to a person", payload: "I want to talk to a person"}]};

  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var send = document.getElementById("chat-send");
  var typing = document.getElementById("chat-typing");
  var status = document.getElementById("chat-status");
  var restart = document.getElementById("chat-new");
  var logout = document.getElementById("chat-logout");

  var sessionId = null;
  var sessionSecret = null;
  var history = [];
  var waitTimer = null;
  var forgotten = false;  // logged out: nothing is stored any more
  var withAgent = null;  // the staff member's name while a person has the conversation (live hand-off)
  try {
    sessionId = window.localStorage.getItem(key);
    sessionSecret = window.localStorage.getItem(secretKey);
    history = JSON.parse(window.localStorage.getItem(historyKey) || "[]");
    if (!Array.isArray(history)) { history = []; }
  } catch (e) { history = []; }

  function save() {
    if (forgotten) { return; }
    try {
      window.localStorage.setItem(historyKey, JSON.stringify(history.slice(-MAX_HISTORY)));
      if (sessionId) { window.localStorage.setItem(key, sessionId); }
      if (sessionSecret) { window.localStorage.setItem(secretKey, sessionSecret); }
    } catch (e) { /* storage full or disabled: the conversation still works, a reload starts afresh */ }
  }

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function setReady(ready) {
    input.disabled = !ready;
    send.disabled = !ready;
  }

  function showTyping(on) {
    typing.hidden = !on;
    root.setAttribute("aria-busy", on ? "true" : "false");
    if (waitTimer) { window.clearTimeout(waitTimer); waitTimer = null; }
    if (on) {
      waitTimer = window.setTimeout(function () {
        typing.hidden = true;
        setStatus("Nova has not answered yet. Please try again in a moment.", true);
      }, ANSWER_TIMEOUT_MS);
    }
  }

  function disableChoices() {
    var groups = log.querySelectorAll(".choices button");
    for (var i = 0; i < groups.length; i++) { groups[i].disabled = true; }
  }

  function follow(entry) {  // the live hand-off state after this message
    if (entry.from !== "bot" || !entry.handoff) { return; }
    withAgent = entry.handoff === "closed" ? null : (entry.agent || "a colleague");
  }

  function render(entry, live) {
    var item = document.createElement("li");
    var byAgent = entry.from === "bot" && entry.agent && entry.handoff && entry.handoff !== "closed";
    item.className = "msg " + (entry.from === "user" ? "from-user" : "from-bot") + (byAgent ? " from-agent" : "");
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = entry.from === "user" ? "You said: " : (byAgent ? entry.agent + " said: " : "Nova said: ");
    item.appendChild(who);
    if (byAgent) {
      var name = document.createElement("p");
      name.className = "agent-name";
      name.setAttribute("aria-hidden", "true");
      name.textContent = entry.agent + " · Atlantic Bank";
      item.appendChild(name);
    }
    var text = document.createElement("p");
    text.className = "text";
    text.textContent = entry.text || "";
    item.appendChild(text);
    if (entry.choices && entry.choices.length) {
      var group = document.createElement("div");
      group.className = "choices";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Suggested replies");
      entry.choices.forEach(function (choice) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = choice.title;
        b.disabled = !live;
        b.addEventListener("click", function () { say(choice.payload, choice.title); });
        group.appendChild(b);
      });
      item.appendChild(group);
    }
    log.appendChild(item);
    item.scrollIntoView({block: "end"});
  }

  function add(entry) {
    if (entry.from === "user") { disableChoices(); }
    history.push(entry);
    save();
    render(entry, true);
  }

  function say(payload, shown) {
    if (!sessionId || !socket.connected) {
      setStatus("Not connected: your message was not sent.", true);
      return;
    }
    add({from: "user", text: shown});
    socket.emit("user_uttered", {message: payload, session_id: sessionId});
    if (withAgent) {  // a person answers when they can: no typing indicator, no timeout
      setStatus("You're talking to " + withAgent + ", Atlantic Bank. They will answer here.");
    } else {
      showTyping(true);
    }
  }

  // Earlier messages of this conversation (buttons only on the last one, if it is Nova's).
  history.forEach(function (entry, i) { follow(entry); render(entry, i === history.length - 1); });

  var socket = window.io(rasaUrl, {transports: ["websocket", "polling"], reconnectionDelayMax: 5000});

  socket.on("connect", function () {
    setStatus("Connecting to Nova…");
    socket.emit("session_request", {session_id: sessionId, session_secret: sessionSecret, token: token});
  });
  socket.on("session_confirm", function (session) {
    var id = session && session.session_id;
    if (!id) { return; }
    if (sessionId && id !== sessionId) {  // the server started a different conversation
      history = [];
      log.textContent = "";
    }
    sessionId = id;
    sessionSecret = session.session_secret || null;
    root.dataset.sessionId = id;
    save();
    setReady(true);
    setStatus("Connected. Ask Nova anything about your accounts, cards or our products.");
    if (!history.length) { add(GREETING); }  // a new conversation opens with Nova's greeting (not sent to Rasa)
  });
  socket.on("bot_uttered", function (message) {
    showTyping(false);
    var choices = (message.quick_replies || message.buttons || []).map(function (b) {
      return {title: String(b.title), payload: String(b.payload)};
    });
    var entry = {from: "bot", text: message.text || "", choices: choices};
    if (typeof message.agent === "string" && message.agent) { entry.agent = message.agent.slice(0, 40); }
    if (message.handoff === "taken" || message.handoff === "message" || message.handoff === "closed") {
      entry.handoff = message.handoff;
    }
    follow(entry);
    if (message.text || choices.length) { add(entry); }
  });
  socket.on("error", function (body) {
    showTyping(false);
    setStatus("The chat server refused that: " + ((body && body.error) || "unknown error"), true);
  });
  socket.on("connect_error", function () {
    setReady(false);
    setStatus("Cannot reach Nova right now; retrying…", true);
  });
  socket.on("disconnect", function () {
    setReady(false);
    showTyping(false);
    setStatus("Connection lost; reconnecting…", true);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    say(text, text);
    input.focus();
  });

  function forget() {
    history = [];
    sessionId = null;
    sessionSecret = null;
    log.textContent = "";
    try {
      window.localStorage.removeItem(key);
      window.localStorage.removeItem(secretKey);
      window.localStorage.removeItem(historyKey);
    } catch (e) { /* nothing stored */ }
  }

  if (logout) {
    logout.addEventListener("click", function () {  // the link then loads the logged-out page
      forget();
      forgotten = true;
      socket.disconnect();
    });
  }

  restart.addEventListener("click", function () {
    forget();
    setReady(false);
    if (socket.connected) { socket.emit("session_request", {session_id: null, session_secret: null, token: token}); }
    input.focus();
  });
})();
