// The one map: Guizhou's counties (our own GeoJSON) coloured by the chosen metric;
// a click on a county loads its drill-down panel through HTMX.
(function () {
  'use strict';
  var mapEl = document.getElementById('map');
  if (!mapEl || typeof echarts === 'undefined') { return; }
  var lang = mapEl.dataset.lang || 'zh';
  var year = mapEl.dataset.year;
  var metricSel = document.getElementById('metric');
  var yearSel = document.getElementById('year');
  var csvLink = document.getElementById('map-csv');
  var chart = echarts.init(mapEl);
  var features = {};
  // the county's name in the page language (English: pinyin, from the GeoJSON)
  function nameOf(f, code) { return (f && (lang === 'en' ? f.name_en || f.name : f.name)) || code; }

  function updateRanking(rows) {
    var body = document.querySelector('#ranking tbody');
    if (!body) { return; }
    body.textContent = '';
    rows.forEach(function (r, i) {
      var tr = document.createElement('tr');
      tr.dataset.code = r.region_code;
      if (r.pilot) { tr.className = 'pilot'; }
      var a = document.createElement('a');
      a.href = '#'; a.className = 'drill'; a.dataset.code = r.region_code; a.textContent = r.name;
      var cells = [String(i + 1), a, r.text];
      cells.forEach(function (c, k) {
        var td = document.createElement('td');
        if (k === 2) { td.className = 'num'; }
        if (typeof c === 'string') { td.textContent = c; } else { td.appendChild(c); }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function render(payload) {
    var rows = payload.rows;
    var byCode = {};
    rows.forEach(function (r) { byCode[r.region_code] = r; });
    var values = rows.map(function (r) { return r.value; });
    var u = rows.length ? rows[0].unit : '';
    var data = Object.keys(features).map(function (code) {
      var p = features[code];
      var r = byCode[code];
      var item = { name: code, value: r ? r.value : null };
      if (p.pilot) {
        item.itemStyle = { borderColor: '#c2410c', borderWidth: 2.5 };
        item.label = { show: true, fontWeight: 'bold', color: '#7c2d12', textBorderColor: '#fff', textBorderWidth: 2 };
      }
      return item;
    });
    chart.setOption({
      tooltip: { trigger: 'item', formatter: function (p) {
        var f = features[p.name];
        var r = byCode[p.name];
        return nameOf(f, p.name) + ' (' + p.name + ')' + (f && f.pilot ? ' · ' + mapEl.dataset.labelPilot : '') +
          '<br>' + (r ? r.text : '—');
      } },
      visualMap: { type: 'continuous', min: values.length ? Math.min.apply(null, values) : 0,
        max: values.length ? Math.max.apply(null, values) : 1, calculable: true, left: 8, bottom: 8,
        text: [u === 'ratio' ? 'GEP/GDP' : u, ''], precision: u === 'ratio' ? 3 : 0,
        formatter: function (v) { return Number(v).toLocaleString(undefined, { maximumFractionDigits: u === 'ratio' ? 3 : 0 }); },
        inRange: { color: ['#e7f2e4', '#9fcf98', '#4c9a5a', '#1f5e35'] } },
      series: [{ type: 'map', map: 'guizhou', nameProperty: 'code', roam: true, selectedMode: false,
        layoutCenter: ['50%', '50%'], layoutSize: '95%',
        label: { show: false, fontSize: 10, formatter: function (p) { return nameOf(features[p.name], p.name); } },
        emphasis: { label: { show: true } },
        itemStyle: { areaColor: '#eeeeee', borderColor: '#8a8a8a', borderWidth: 0.5 },
        data: data }]
    }, true);
    mapEl.dataset.ready = String(rows.length);
    updateRanking(rows);
  }

  function load() {
    if (!year) { render({ rows: [] }); return; }
    var metric = metricSel ? metricSel.value : 'gep';
    var q = '?year=' + encodeURIComponent(year) + '&metric=' + encodeURIComponent(metric);
    if (csvLink) { csvLink.href = '/web/api/map' + q + '&format=csv'; }
    var unitHead = document.getElementById('ranking-unit');
    if (unitHead && metricSel) { unitHead.textContent = metricSel.options[metricSel.selectedIndex].text; }
    fetch('/web/api/map' + q + '&lang=' + lang).then(function (r) { return r.json(); }).then(render);
  }

  function drill(code) {
    if (!year || !code) { return; }
    htmx.ajax('GET', '/web/county/' + encodeURIComponent(code) + '?year=' + encodeURIComponent(year),
              { target: '#drill', swap: 'innerHTML' });
  }

  chart.on('click', function (p) { if (p.value !== null && p.value !== undefined && !isNaN(p.value)) { drill(p.name); } });
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a.drill');
    if (a) { e.preventDefault(); drill(a.dataset.code); }
  });
  document.body.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'drill' && window.LiangshanCharts) {
      window.LiangshanCharts.renderDrill(e.detail.target);
      e.detail.target.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  });
  if (metricSel) { metricSel.addEventListener('change', load); }
  if (yearSel) {
    yearSel.addEventListener('change', function () { window.location.search = '?year=' + encodeURIComponent(yearSel.value); });
  }
  window.addEventListener('resize', function () { chart.resize(); });

  function loadIndicators() {
    var group = document.getElementById('indicator-options');
    if (!group || !year) { return; }
    fetch('/web/api/indicators?year=' + encodeURIComponent(year) + '&lang=' + lang)
      .then(function (r) { return r.json(); })
      .then(function (items) {
        items.forEach(function (it) {
          var o = document.createElement('option');
          o.value = it.metric; o.textContent = it.label;
          group.appendChild(o);
        });
        group.dataset.loaded = String(items.length);
      });
  }

  loadIndicators();
  fetch(mapEl.dataset.geo).then(function (r) { return r.json(); }).then(function (geo) {
    geo.features.forEach(function (f) { features[f.properties.code] = f.properties; });
    echarts.registerMap('guizhou', geo);
    load();
  });
  window.LiangshanMap = { chart: chart, drill: drill };
})();
