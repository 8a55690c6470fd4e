// airlock web UI: the little that needs a script. Everything works without it except the live
// list. Loaded with the page's CSP nonce; no inline handlers, no eval, and the only HTML sinks are
// the live list's rows and the split view's flow pane, which the server rendered (and escaped)
// with the same components as the pages themselves, passed through a Trusted Types policy.
'use strict';
(function () {
  var tt = window.trustedTypes && window.trustedTypes.createPolicy
    ? window.trustedTypes.createPolicy('airlock', { createHTML: function (s) { return s; } })
    : { createHTML: function (s) { return s; } };

  // Filters: leave empty fields out of the URL.
  document.querySelectorAll('form.filters').forEach(function (form) {
    form.addEventListener('submit', function () {
      form.querySelectorAll('input, select').forEach(function (el) {
        if ((el.type === 'checkbox' && !el.checked) || (el.type !== 'checkbox' && el.value === '')) el.disabled = true;
      });
    });
  });

  // Split view: on a wide screen a row opens its flow beside the list (the server renders the
  // pane; ?flow=ID keeps it on reload). Elsewhere, and without this script, rows open the flow page.
  var pane = document.getElementById('flow-pane');
  var wide = window.matchMedia ? window.matchMedia('(min-width: 1100px)') : { matches: false };
  function openPane(tr) {
    var id = tr.getAttribute('data-id');
    var href = tr.getAttribute('data-href');
    fetch('/flows/' + encodeURIComponent(id) + '/pane', { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        pane.innerHTML = tt.createHTML(html);
        pane.hidden = false;
        pane.parentElement.classList.add('open');
        document.querySelectorAll('table.flows tr.selected').forEach(function (s) { s.classList.remove('selected'); s.removeAttribute('aria-selected'); });
        tr.classList.add('selected');
        tr.setAttribute('aria-selected', 'true');
        var u = new URL(window.location.href);
        u.searchParams.set('flow', id);
        window.history.replaceState(null, '', u.pathname + u.search);
        localTitle(pane);
      })
      .catch(function () { if (href && href.charAt(0) === '/') window.location.assign(href); });
  }
  function closePane() {
    if (!pane || pane.hidden) return;
    pane.hidden = true;
    pane.parentElement.classList.remove('open');
    document.querySelectorAll('table.flows tr.selected').forEach(function (s) { s.classList.remove('selected'); s.removeAttribute('aria-selected'); });
    var u = new URL(window.location.href);
    u.searchParams.delete('flow');
    window.history.replaceState(null, '', u.pathname + u.search);
  }

  // Rows open their flow on click (the row's first link is the keyboard's way in).
  function wireRow(tr) {
    tr.addEventListener('click', function (e) {
      if (e.target.closest('a, button, input, summary')) return;
      if (window.getSelection && String(window.getSelection())) return;
      var href = tr.getAttribute('data-href');
      if (pane && wide.matches) return openPane(tr);
      if (href && href.charAt(0) === '/') window.location.assign(href);
    });
  }
  document.querySelectorAll('tr[data-href]').forEach(wireRow);

  // Times: the stored UTC time is shown; the reader's local time is in the tooltip.
  function localTitle(root) {
    root.querySelectorAll('time[datetime]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.title = d.toLocaleString();
    });
  }
  localTitle(document);

  // Live list over server-sent events.
  var table = document.querySelector('table[data-live]');
  var status = document.getElementById('live-status');
  var toggle = document.getElementById('live-toggle');
  var source = null;
  var paused = false;
  var MAX_ROWS = 500;
  function setState(state, text) {
    if (!status) return;
    status.setAttribute('data-state', state);
    status.querySelector('.text').textContent = text;
  }
  function connect() {
    if (!table || paused) return;
    var tbody = table.tBodies[0];
    var first = tbody.querySelector('tr[data-id]');
    var url = table.getAttribute('data-live');
    var after = first ? first.getAttribute('data-id') : table.getAttribute('data-after') || '0';
    source = new EventSource(url + (url.indexOf('?') < 0 ? '?' : '&') + 'after=' + encodeURIComponent(after));
    source.addEventListener('open', function () { setState('on', 'live'); });
    source.addEventListener('rows', function (e) {
      var tpl = document.createElement('template');
      tpl.innerHTML = tt.createHTML('<table><tbody>' + e.data + '</tbody></table>');
      var rows = tpl.content.querySelectorAll('tr[data-id]');
      var empty = tbody.querySelector('tr.empty');
      if (empty && rows.length) empty.remove();
      for (var i = 0; i < rows.length; i++) {
        var tr = document.importNode(rows[i], true);
        if (tbody.querySelector('tr[data-id="' + tr.getAttribute('data-id') + '"]')) continue;
        tr.classList.add('new');
        wireRow(tr);
        localTitle(tr);
        tbody.insertBefore(tr, tbody.firstChild);
      }
      while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
      var count = document.getElementById('live-count');
      if (count) count.textContent = String(Number(count.textContent || '0') + rows.length);
    });
    source.addEventListener('expired', function () {
      source.close();
      setState('error', 'session ended: reload the page to log in');
    });
    source.addEventListener('error', function () {
      if (source.readyState === EventSource.CLOSED) setState('error', 'disconnected');
      else setState('error', 'reconnecting…');
    });
  }
  if (toggle) {
    toggle.addEventListener('click', function () {
      paused = !paused;
      toggle.textContent = paused ? 'Resume' : 'Pause';
      toggle.setAttribute('aria-pressed', paused ? 'true' : 'false');
      if (paused) {
        if (source) source.close();
        setState('off', 'paused');
      } else connect();
    });
  }
  connect();

  // Keyboard: "/" finds, j/k walk the rows of a table, Enter opens (a row link has the focus).
  function rowLinks() {
    return Array.prototype.slice.call(document.querySelectorAll('table.flows tbody tr a.open'));
  }
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var typing = t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
    if (typing) {
      if (e.key === 'Escape') t.blur();
      return;
    }
    if (e.key === 'Escape') closePane();
    if (e.key === '/') {
      var q = document.querySelector('input[name="text"]');
      if (q) { e.preventDefault(); q.focus(); }
    } else if (e.key === 'j' || e.key === 'k') {
      var links = rowLinks();
      if (!links.length) return;
      var i = links.indexOf(document.activeElement);
      i = i < 0 ? 0 : Math.max(0, Math.min(links.length - 1, i + (e.key === 'j' ? 1 : -1)));
      links[i].focus();
      e.preventDefault();
    } else if (e.key === '[' || e.key === ']') {
      var nav = document.querySelector(e.key === '[' ? 'a[rel="prev"]' : 'a[rel="next"]');
      if (nav) nav.click();
    }
  });
})();
