// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function grow(area) {
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight + 2, window.innerHeight * 0.5) + "px";
  }

  function enhanceQueryBox(area) {
    grow(area);
    area.addEventListener("input", function () { grow(area); });
    area.addEventListener("keydown", function (event) {
      // Enter submits; Shift+Enter adds a line; Enter that confirms an IME conversion does nothing.
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) {
        return;
      }
      event.preventDefault();
      if (area.value.trim() && area.form) {
        area.form.requestSubmit ? area.form.requestSubmit() : area.form.submit();
      }
    });
    area.addEventListener("paste", function () { window.setTimeout(function () { grow(area); }, 0); });
  }

  // The search form posts without JavaScript. Short one-line queries go by GET so that their URL
  // can be shared (the form token stays out of it); long texts, several lines (a pasted log or
  // e-mail) and anything that looks like customer data go by POST and are linked by their search
  // token, so they never reach browser history or access logs (the server applies the same rule,
  // webui.params.keep_out_of_urls, to every link it writes).
  var PRIVATE = [
    /[^\s@]+@[^\s@]+\.[A-Za-z]{2,}/,                         // e-mail addresses
    /(?:\+\d{1,3}[\s-]?)?\(?\d{2,4}\)?[\s-]\d{2,4}[\s-]\d{3,4}/,  // phone numbers
    /\b(?:\d{1,3}\.){3}\d{1,3}\b/,                              // IPv4 addresses
    /(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|authorization)\s*[=:]/i,
    /\bAKIA[0-9A-Z]{16}\b/, /\beyJ[\w-]{8,}\.[\w-]{8,}\./        // AWS keys, JWTs
  ];
  function keepOutOfUrls(text, limit) {
    if (text.length > limit || encodeURIComponent(text).length > limit) { return true; }
    if (text.trim().indexOf("\n") >= 0) { return true; }
    return PRIVATE.some(function (pattern) { return pattern.test(text); });
  }

  function enhanceSearchForm(form) {
    var limit = parseInt(form.getAttribute("data-post-over") || "2000", 10);
    form.addEventListener("submit", function () {
      var area = form.querySelector("textarea.query");
      var token = form.querySelector("input[name=csrf_token]");
      var text = area ? area.value : "";
      var long = keepOutOfUrls(text, limit);
      form.method = long ? "post" : "get";
      if (token) { token.disabled = !long; }
    });
  }

  // Click-through statistics: a result's link is a plain link to the case; opening it (a click, a
  // middle click, Enter) is reported by a beacon, which survives the navigation, never by a GET.
  function reportClicks(list) {
    var url = list.getAttribute("data-click-url");
    function report(link) {
      var data = new FormData();
      data.append("csrf_token", list.getAttribute("data-csrf") || "");
      data.append("search_id", list.getAttribute("data-search-id") || "");
      data.append("case_id", link.getAttribute("data-case-id") || "");
      data.append("rank", link.getAttribute("data-rank") || "");
      if (navigator.sendBeacon && navigator.sendBeacon(url, data)) { return; }
      fetch(url, {method: "POST", body: data, credentials: "same-origin", keepalive: true}).catch(function () {});
    }
    function opened(event) {
      var link = event.target.closest ? event.target.closest("a.hit-link") : null;
      if (link && (event.type === "click" || event.button === 1)) { report(link); }
    }
    list.addEventListener("click", opened);
    list.addEventListener("auxclick", opened);
  }

  function enhanceFilters(form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.type === "checkbox") {
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    });
    form.addEventListener("submit", function () {
      // an empty date field says nothing: leave it out of the URL (no "&from=&to=")
      form.querySelectorAll("input[type=date]").forEach(function (input) {
        if (!input.value) { input.disabled = true; }
      });
    });
    window.addEventListener("pageshow", function () {  // back to this page: the fields work again
      form.querySelectorAll("input[type=date]").forEach(function (input) { input.disabled = false; });
    });
    form.classList.add("js-autosubmit");
  }

  // -- the case editor: live checks, preview and similar cases (the form works without this) --------
  var CHECK_DELAY_MS = 400;

  function splitList(text) {
    return text.split(/[,、，\n]/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function enhanceEditor(form) {
    var timer = null;
    var sequence = 0;
    var msg = function (name) { return form.getAttribute("data-msg-" + name) || ""; };

    function draft() {
      var fields = {};
      var sections = {};
      form.querySelectorAll("[data-field]").forEach(function (el) { fields[el.name] = el.value; });
      form.querySelectorAll("textarea[data-section]").forEach(function (el) { sections[el.getAttribute("data-section")] = el.value; });
      var lang = form.querySelector("input[name=heading_lang]:checked");
      var extra = form.elements.namedItem("extra_sections");
      return {
        fields: fields, sections: sections, heading_lang: lang ? lang.value : "ja",
        extra: extra ? extra.value : "", content_lang: form.elements.namedItem("content_lang").value,
        original_id: form.getAttribute("data-original-id") || null
      };
    }

    function post(url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify(body)
      }).then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
    }

    function showProblems(problems) {
      form.querySelectorAll(".field-problems").forEach(function (list) { list.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
      Object.keys(problems).forEach(function (key) {
        var list = document.getElementById("problems-" + key) || document.getElementById("problems-general");
        problems[key].forEach(function (problem) {
          list.appendChild(element("li", "problem problem-" + problem.severity, problem.message));
          if (problem.severity === "error") {
            var control = form.querySelector("[aria-describedby='problems-" + key + "']");
            if (control) { control.setAttribute("aria-invalid", "true"); }
          }
        });
      });
    }

    function showProblemIndex(problems) {
      var index = document.getElementById("problem-index");
      index.textContent = "";
      Object.keys(problems).forEach(function (key) {
        if (key === "general") { return; }
        var items = problems[key];
        var worst = items.some(function (p) { return p.severity === "error"; }) ? "error" : "warning";
        var entry = element("li", "problem problem-" + worst);
        var link = element("a", "", controlLabel(key));
        link.href = "#field-" + key;
        entry.appendChild(link);
        entry.appendChild(document.createTextNode(": " + items[0].message));
        if (items.length > 1) {  // every problem the summary counts is said, if not in full here
          entry.appendChild(element("span", "muted small", " " + msg("more").replace("{n}", items.length - 1)));
        }
        index.appendChild(entry);
      });
    }

    function showSummary(counts) {
      var summary = document.getElementById("check-summary");
      summary.classList.toggle("has-errors", counts.errors > 0);
      summary.classList.toggle("is-ok", counts.errors === 0 && counts.warnings === 0);
      summary.textContent = counts.errors || counts.warnings
        ? msg("count").replace("{errors}", counts.errors).replace("{warnings}", counts.warnings) : msg("ok");
    }

    function controlLabel(key) {
      var target = key === "extra" ? "extra_sections" : (form.elements.namedItem("section_" + key) ? "section_" + key : "f-" + key);
      var label = form.querySelector("label[for='" + target + "']");
      return label ? label.childNodes[0].textContent.trim() : key;
    }

    function showFindings(findings) {
      var box = document.getElementById("findings");
      var list = document.getElementById("finding-list");
      list.textContent = "";
      findings.forEach(function (f) {
        var item = element("li", "finding" + (f.secret ? " finding-secret" : ""));
        item.appendChild(element("span", "finding-kind", f.label));
        item.appendChild(element("code", "finding-text", f.text));
        item.appendChild(document.createTextNode(" → "));
        item.appendChild(element("code", "", f.placeholder));
        item.appendChild(element("span", "muted small", " · " + controlLabel(f.key) + (f.at ? ", " + f.at : "")));
        list.appendChild(item);
      });
      box.hidden = findings.length === 0;
    }

    function relatedIds() { return splitList(form.elements.namedItem("related").value); }

    function relatedChip() { return element("span", "chip chip-related", "✓ " + msg("related")); }

    function showSimilar(hits) {
      var list = document.getElementById("similar-list");
      list.textContent = "";
      if (!hits.length) { list.appendChild(element("li", "muted small similar-none", msg("none"))); }
      var related = relatedIds();
      hits.forEach(function (hit) {
        var item = element("li", "similar-item");
        item.setAttribute("data-id", hit.id);
        var link = element("a", "similar-title", hit.title);
        link.href = hit.url;
        link.title = hit.title;
        link.target = "_blank";
        link.rel = "noopener";
        item.appendChild(link);
        var meta = element("div", "similar-meta");
        meta.appendChild(element("span", "mono", hit.id));
        meta.appendChild(element("span", "badge status-" + hit.status, hit.status_label));
        meta.appendChild(element("span", "", hit.product + " / " + hit.component));
        item.appendChild(meta);
        if (related.indexOf(hit.id) >= 0) {
          item.appendChild(relatedChip());
        } else {
          var button = element("button", "btn btn-small btn-relate", "＋ " + msg("mark"));
          button.type = "submit";
          button.name = "relate";
          button.value = hit.id;
          item.appendChild(button);
        }
        list.appendChild(item);
      });
    }

    function showPreview(sections) {
      document.getElementById("preview-case-title").textContent = form.elements.namedItem("title").value;
      var body = document.getElementById("preview-body");
      body.textContent = "";
      if (!sections.length) { body.appendChild(element("p", "muted small preview-empty", msg("empty"))); }
      sections.forEach(function (section) {
        var block = element("section", "case-section section-" + section.name);
        block.appendChild(element("h2", "", section.heading));
        var md = element("div", "md");
        md.innerHTML = section.html;  // rendered by the case page's renderer: raw HTML escaped, links checked
        block.appendChild(md);
        body.appendChild(block);
      });
    }

    function check() {
      var mine = ++sequence;
      form.classList.add("checking");
      post(form.getAttribute("data-check-url"), draft()).then(function (data) {
        if (mine !== sequence) { return; }  // a newer check is on its way
        showProblems(data.problems);
        showProblemIndex(data.problems);
        showSummary(data.counts);
        showFindings(data.findings);
        showSimilar(data.similar);
        showPreview(data.sections);
      }).catch(function () { /* the Check button still works */ }).then(function () {
        if (mine === sequence) { form.classList.remove("checking"); }
      });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(check, CHECK_DELAY_MS);
    }

    function markRelated(button) {
      var ids = relatedIds();
      if (ids.indexOf(button.value) < 0) { ids.push(button.value); }
      form.elements.namedItem("related").value = ids.join(", ");
      button.replaceWith(relatedChip());
      schedule();
    }

    function redact() {
      post(form.getAttribute("data-redact-url"), draft()).then(function (data) {
        form.elements.namedItem("title").value = data.fields.title;
        Object.keys(data.sections).forEach(function (name) {
          var area = form.elements.namedItem("section_" + name);
          if (area) { area.value = data.sections[name]; grow(area); }
        });
        var extra = form.elements.namedItem("extra_sections");
        if (extra) { extra.value = data.extra; }
        check();
      });
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    form.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button") : null;
      if (!button) { return; }
      if (button.name === "relate") {
        event.preventDefault();
        markRelated(button);
      } else if (button.name === "action" && button.value === "redact") {
        event.preventDefault();
        redact();
      } else if (button.name === "action" && button.value === "check") {
        event.preventDefault();
        window.clearTimeout(timer);
        check();
      }
    });
    form.querySelectorAll("textarea.section-text").forEach(function (area) {
      grow(area);
      area.addEventListener("input", function () { grow(area); });
    });
    form.classList.add("js-live");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea.query").forEach(enhanceQueryBox);
    document.querySelectorAll("form.searchbox").forEach(enhanceSearchForm);
    document.querySelectorAll("form#case-editor").forEach(enhanceEditor);
    document.querySelectorAll("form[data-autosubmit]").forEach(enhanceFilters);
    document.querySelectorAll("ol.hits[data-click-url]").forEach(reportClicks);
    document.querySelectorAll("form.feedback").forEach(function (form) {
      form.addEventListener("submit", function () {
        // After the form data is built (disabling now would drop the clicked verdict): no double posts.
        window.setTimeout(function () {
          form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }, 0);
      });
    });
  });
})();
