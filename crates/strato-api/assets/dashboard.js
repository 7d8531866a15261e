// Strato's dashboard: the live tail of a run's log (server-sent events that
// resume where they stopped: EventSource sends Last-Event-ID on reconnect),
// and uploads into a bucket (the file is the request body, streamed).
(function () {
  function csrf() {
    var h = document.body.getAttribute('hx-headers');
    try { return JSON.parse(h)['X-CSRF-Token']; } catch (e) { return ''; }
  }

  function tail(pre) {
    var source = new EventSource(pre.getAttribute('data-tail'));
    var status = document.getElementById('tail-status');
    source.onopen = function () { if (status) status.textContent = 'live'; };
    source.onerror = function () { if (status) status.textContent = 'reconnecting…'; };
    source.addEventListener('line', function (e) {
      var line = JSON.parse(e.data);
      var span = document.createElement('span');
      span.className = line.stream;
      span.textContent = line.text + '\n';
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(span);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    source.addEventListener('end', function (e) {
      if (status) status.textContent = 'ended: ' + e.data;
      source.close();
    });
  }

  function upload(form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var input = form.querySelector('input[type=file]');
      var prefix = form.querySelector('input[name=prefix]');
      var file = input.files[0];
      if (!file) return;
      var key = (prefix ? prefix.value : '') + file.name;
      var result = document.getElementById('upload-result');
      fetch(form.getAttribute('action') + '?key=' + encodeURIComponent(key), {
        method: 'PUT',
        headers: { 'X-CSRF-Token': csrf(), 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
        credentials: 'same-origin',
      }).then(function (r) {
        return r.text().then(function (text) {
          if (r.ok) { window.location.reload(); } else if (result) { result.textContent = text; }
        });
      });
    });
  }

  function chart(div) {
    if (typeof uPlot === 'undefined') return;
    var data = JSON.parse(div.getAttribute('data-series'));
    var labels = div.getAttribute('data-labels').split(',');
    var colors = ['#2f6fed', '#c9372c', '#17845a'];
    var series = [{}].concat(labels.map(function (label, i) {
      return { label: label, stroke: colors[i % colors.length], width: 2 };
    }));
    new uPlot({ width: div.clientWidth || 600, height: 220, series: series }, data, div);
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('div.chart[data-series]').forEach(chart);
    document.querySelectorAll('pre[data-tail]').forEach(tail);
    document.querySelectorAll('form[data-upload]').forEach(upload);
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
      });
    });
  });
})();
