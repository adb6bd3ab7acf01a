// Contact form self-service: while the customer types the subject (or message), ask the knowledge base for
// an article; the server answers only above the web form's confidence threshold ([kb] thresholds.webform).
// "Did this help?" is recorded as a deflection (POST /api/v1/kb/feedback). No inline script: the CSP allows
// only files from this server.
(function () {
  "use strict";
  var box = document.getElementById("kb-suggestion");
  var subject = document.getElementById("subject");
  var message = document.getElementById("message");
  if (!box || !subject || !window.fetch) { return; }
  var timer = null, lastQuery = "", shownId = null, dismissed = {};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  function feedback(helpful) {
    if (shownId === null) { return; }
    fetch("/api/v1/kb/feedback", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({article_id: shownId, channel: "webform", helpful: helpful})
    }).catch(function () {});
  }

  function show(hit) {
    shownId = hit.id;
    box.textContent = "";
    box.appendChild(el("p", "kb-lead", "This article may answer your question — این مطلب شاید پاسخ شما باشد:"));
    box.appendChild(el("p", "kb-title", hit.title));
    if (hit.snippet) { box.appendChild(el("p", "kb-snippet", hit.snippet)); }
    var full = el("div", "kb-body");
    var more = el("button", "kb-more", "Read the answer · خواندن پاسخ");
    more.type = "button";
    more.addEventListener("click", function () {
      fetch("/api/v1/kb/articles/" + hit.id).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (article) {
          if (article) { full.innerHTML = article.html; }  // sanitized by the server (nh3)
          more.hidden = true;
        }).catch(function () {});
    });
    box.appendChild(more);
    box.appendChild(full);
    var ask = el("p", "kb-ask", "Did this help? · مفید بود؟ ");
    var yes = el("button", "kb-yes", "Yes, thanks · بله");
    var no = el("button", "kb-no", "No · خیر");
    yes.type = no.type = "button";
    yes.addEventListener("click", function () {
      feedback(true);
      box.textContent = "";
      box.appendChild(el("p", "kb-thanks", "Glad it helped. You do not need to send the form. · خوشحالیم که کمک کرد."));
    });
    no.addEventListener("click", function () {
      feedback(false);
      dismissed[hit.id] = true;
      box.hidden = true;
    });
    ask.appendChild(yes);
    ask.appendChild(no);
    box.appendChild(ask);
    box.hidden = false;
  }

  function lookup() {
    var query = (subject.value + " " + (message ? message.value.slice(0, 500) : "")).trim();
    if (query.length < 4 || query === lastQuery) { return; }
    lastQuery = query;
    fetch("/api/v1/kb/suggest?channel=webform&q=" + encodeURIComponent(query))
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (data) {
        var hit = (data.items || []).filter(function (h) { return !dismissed[h.id]; })[0];
        if (hit) { if (hit.id !== shownId || box.hidden) { show(hit); } } else { box.hidden = true; shownId = null; }
      }).catch(function () {});
  }

  function later() { clearTimeout(timer); timer = setTimeout(lookup, 400); }
  subject.addEventListener("input", later);
  if (message) { message.addEventListener("input", later); }
})();
