/* contactcenter live chat widget. Embed with one tag:
 *   <script src="https://support.example.com/static/chat-widget.js" data-lang="fa" async></script>
 * Optional: window.ccChatIdentity = {user_id, email, name, expires, signature} (signed by your server,
 * see docs/chat.md) before the tag. Text is only ever inserted with textContent, never as HTML; http(s)
 * addresses in a message become links (new tab, no referrer), nothing else does.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__ccChat) { return; }
  window.__ccChat = true;
  var server = new URL(script.src).origin;
  var lang = (script.getAttribute("data-lang") || document.documentElement.lang || "en").slice(0, 2);
  var fa = lang === "fa";
  var T = fa ? {
    open: "گفتگو با پشتیبانی", title: "پشتیبانی", name: "نام شما", email: "ایمیل (اختیاری)", topic: "موضوع",
    start: "شروع گفتگو", send: "ارسال", placeholder: "پیام خود را بنویسید…", typing: "پشتیبان در حال نوشتن…",
    offline: "اتصال قطع شد؛ دوباره وصل می‌شویم…", close: "بستن", you: "شما", agent: "پشتیبان"
  } : {
    open: "Chat with us", title: "Support", name: "Your name", email: "E-mail (optional)", topic: "Topic",
    start: "Start chat", send: "Send", placeholder: "Write a message…", typing: "An agent is typing…",
    offline: "Connection lost; reconnecting…", close: "Close", you: "You", agent: "Agent"
  };
  var store = {
    get: function (k, d) { try { var v = localStorage.getItem("ccchat." + k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } },
    set: function (k, v) { try { localStorage.setItem("ccchat." + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  };
  var state = { ws: null, shown: {}, pending: store.get("pending", []), lastSeen: store.get("last_seen", 0),
                prechat: store.get("prechat", null), retry: 0, typingSent: 0, typingTimer: null };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    return e;
  }
  var css = el("link"); css.rel = "stylesheet"; css.href = server + "/static/chat-widget.css";
  document.head.appendChild(css);
  var root = el("div", "ccchat"); root.dir = fa ? "rtl" : "ltr"; root.lang = lang;
  var button = el("button", "ccchat-open", T.open); button.type = "button";
  var panel = el("div", "ccchat-panel"); panel.hidden = true;
  var head = el("div", "ccchat-head", T.title);
  var closeBtn = el("button", "ccchat-close", "×"); closeBtn.type = "button"; closeBtn.title = T.close;
  head.appendChild(closeBtn);
  var notice = el("div", "ccchat-notice"); notice.hidden = true;
  var log = el("div", "ccchat-log"); log.setAttribute("aria-live", "polite");
  var typing = el("div", "ccchat-typing", T.typing); typing.hidden = true;
  var form = el("form", "ccchat-form");
  var input = el("textarea"); input.placeholder = T.placeholder; input.rows = 2; input.maxLength = 5000;
  var send = el("button", "ccchat-send", T.send); send.type = "submit";
  form.appendChild(input); form.appendChild(send);
  var pre = el("form", "ccchat-prechat");
  var nameIn = el("input"); nameIn.placeholder = T.name; nameIn.required = true; nameIn.maxLength = 200;
  var emailIn = el("input"); emailIn.type = "email"; emailIn.placeholder = T.email; emailIn.maxLength = 320;
  var topicIn = el("select"); topicIn.setAttribute("aria-label", T.topic);
  var startBtn = el("button", "ccchat-send", T.start); startBtn.type = "submit";
  [nameIn, emailIn, topicIn, startBtn].forEach(function (x) { pre.appendChild(x); });
  [head, notice, log, typing, pre, form].forEach(function (x) { panel.appendChild(x); });
  root.appendChild(button); root.appendChild(panel);
  document.body.appendChild(root);

  fetch(server + "/chat/config").then(function (r) { return r.json(); }).then(function (cfg) {
    topicIn.appendChild(el("option", null, T.topic)).value = "";
    (cfg.topics || []).forEach(function (t) {
      var o = el("option", null, fa && t.label_fa ? t.label_fa : t.label); o.value = t.id; topicIn.appendChild(o);
    });
  }).catch(function () { topicIn.hidden = true; });

  // ``box`` filled with ``text``, its http(s) addresses as links; trailing punctuation stays text ("see https://x.")
  function withLinks(box, text) {
    var at = 0, found, re = /https?:\/\/[^\s<>"']+/g;
    text = text || "";
    while ((found = re.exec(text)) !== null) {
      var address = found[0].replace(/[.,;:!?)\]»،؛]+$/, ""), url = null;
      try { url = new URL(address); } catch (e) { url = null; }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) { continue; }
      box.appendChild(document.createTextNode(text.slice(at, found.index)));
      var a = el("a", null, address); a.href = url.href; a.target = "_blank"; a.rel = "noopener noreferrer nofollow";
      box.appendChild(a);
      at = found.index + address.length;
      re.lastIndex = at;
    }
    box.appendChild(document.createTextNode(text.slice(at)));
    return box;
  }

  function showForms(needPrechat) { pre.hidden = !needPrechat; form.hidden = needPrechat; }
  function showNotice(text) { notice.replaceChildren(); withLinks(notice, text); notice.hidden = !text; }
  function scroll() { log.scrollTop = log.scrollHeight; }

  function render(m) {
    var key = m.id ? "id:" + m.id : "c:" + m.client_id;
    var existing = (m.client_id && state.shown["c:" + m.client_id]) || state.shown[key];
    if (existing) { existing.classList.remove("ccchat-pending"); state.shown[key] = existing; return; }
    var mine = m.author === "you";
    var row = el("div", "ccchat-msg " + (mine ? "ccchat-mine" : "ccchat-theirs") + (m.id ? "" : " ccchat-pending"));
    row.appendChild(el("div", "ccchat-who", mine ? T.you : (m.author_name || T.agent)));
    row.appendChild(withLinks(el("div", "ccchat-text"), m.text));
    log.appendChild(row);
    state.shown[key] = row;
    if (m.client_id) { state.shown["c:" + m.client_id] = row; }
    scroll();
  }
  function seen(id) {
    if (id > state.lastSeen) { state.lastSeen = id; store.set("last_seen", id); }
  }
  function emit(frame) {
    if (state.ws && state.ws.readyState === 1) { state.ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function flushPending() { state.pending.forEach(function (p) { emit({ type: "message", client_id: p.client_id, text: p.text }); }); }

  function connect() {
    var ws = new WebSocket(server.replace(/^http/, "ws") + "/chat/ws");
    state.ws = ws;
    ws.onopen = function () {
      state.retry = 0;
      ws.send(JSON.stringify({ type: "hello", token: store.get("token", null), last_seen: state.lastSeen,
                               prechat: state.prechat, identity: window.ccChatIdentity || null, language: lang }));
    };
    ws.onmessage = function (event) {
      var f; try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === "welcome") {
        store.set("token", f.token); showNotice(f.notice); showForms(!!f.prechat_required); flushPending();
      } else if (f.type === "message") {
        render(f); seen(f.id); if (f.author !== "you") { typing.hidden = true; }
      } else if (f.type === "ack") {
        state.pending = state.pending.filter(function (p) { return p.client_id !== f.client_id; });
        store.set("pending", state.pending);
        var row = state.shown["c:" + f.client_id];
        if (row) { row.classList.remove("ccchat-pending"); state.shown["id:" + f.id] = row; }
        seen(f.id);
      } else if (f.type === "typing") {
        typing.hidden = !f.typing;
      } else if (f.type === "notice") {
        showNotice(f.text);
      } else if (f.type === "error") {
        if (f.code === "prechat_required") { showForms(true); }
        else if (f.retry_after && f.client_id) { setTimeout(flushPending, f.retry_after * 1000); }
        else { showNotice(f.message); }
      }
    };
    ws.onclose = function (event) {
      state.ws = null;
      if (event.code === 4403) { store.set("token", null); }
      showNotice(T.offline);
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, state.retry));
    };
  }

  pre.addEventListener("submit", function (e) {
    e.preventDefault();
    state.prechat = { name: nameIn.value.trim(), email: emailIn.value.trim(), topic: topicIn.value || null };
    store.set("prechat", state.prechat);
    if (state.ws) { state.ws.close(); } else { connect(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    var id = "m" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    state.pending.push({ client_id: id, text: text }); store.set("pending", state.pending);
    render({ client_id: id, author: "you", text: text });
    emit({ type: "message", client_id: id, text: text });
    emit({ type: "typing", typing: false }); state.typingSent = 0;
    input.value = "";
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - state.typingSent > 2000) { emit({ type: "typing", typing: true }); state.typingSent = now; }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { emit({ type: "typing", typing: false }); state.typingSent = 0; }, 3000);
  });
  button.addEventListener("click", function () {
    panel.hidden = false; button.hidden = true;
    if (!state.ws) { connect(); }
  });
  closeBtn.addEventListener("click", function () { panel.hidden = true; button.hidden = false; });
}());
