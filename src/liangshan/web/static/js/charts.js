// Drill-down charts of one county, drawn with ECharts from the JSON the page embeds
// (<script type="application/json" id="drill-data">). Amounts arrive as 万元 (10^4 yuan)
// for plotting; the exact integer-fen values are in the CSV downloads.
(function () {
  'use strict';
  var COLORS = { provisioning: '#c9a227', regulating: '#2f7d4f', cultural: '#3b6fb6' };

  function unit(lang) { return lang === 'en' ? '10⁴ CNY' : '万元'; }
  function fmt(v) { return Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 }); }

  function barOption(rows, lang, opts) {
    var u = unit(lang);
    return {
      grid: { left: opts.horizontal ? 10 : 60, right: 30, top: 40, bottom: opts.horizontal ? 24 : 70, containLabel: !!opts.horizontal },
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return fmt(v) + ' ' + u; } },
      xAxis: opts.horizontal ? { type: 'value', name: u, splitNumber: 3, axisLabel: { hideOverlap: true } } :
        { type: 'category', data: rows.map(function (r) { return r.label || r.name; }),
          axisLabel: { rotate: rows.length > 6 ? 40 : 0, interval: 0 } },
      yAxis: opts.horizontal ? { type: 'category', inverse: true, data: rows.map(function (r) { return r.label; }),
                                 axisLabel: { width: 170, overflow: 'truncate' } } :
        { type: 'value', name: u },
      series: [{ type: 'bar', data: rows.map(function (r) {
        var item = { value: r.value_wan };
        if (opts.color) { item.itemStyle = { color: opts.color(r) }; }
        return item;
      }) }]
    };
  }

  var builders = {
    composition: function (rows, lang) {
      var u = unit(lang);
      return {
        tooltip: { trigger: 'item', formatter: function (p) { return p.name + ': ' + fmt(p.value) + ' ' + u + ' (' + p.percent + '%)'; } },
        legend: { bottom: 0 },
        series: [{ type: 'pie', radius: ['35%', '65%'], label: { formatter: '{b}\n{d}%' },
          data: rows.map(function (r) {
            return { name: r.label, value: r.value_wan, itemStyle: { color: COLORS[r.service_class] } };
          }) }]
      };
    },
    top: function (rows, lang) {
      return barOption(rows, lang, { horizontal: true, color: function (r) { return COLORS[r.service_class] || '#888'; } });
    },
    ecosystem: function (rows, lang) { return barOption(rows, lang, { color: function () { return '#4c9a5a'; } }); },
    comparison: function (rows, lang) {
      return barOption(rows, lang, { color: function (r) { return r.selected ? '#c2410c' : (r.pilot ? '#2f7d4f' : '#9bb8a5'); } });
    },
    trend: function (rows, lang, labels) {
      var u = unit(lang);
      var classes = ['provisioning', 'regulating', 'cultural'];
      return {
        tooltip: { trigger: 'axis', valueFormatter: function (v) { return fmt(v) + ' ' + u; } },
        legend: { bottom: 0 },
        grid: { left: 60, right: 24, top: 40, bottom: 50 },
        xAxis: { type: 'category', data: rows.map(function (r) { return String(r.year); }) },
        yAxis: { type: 'value', name: u },
        series: classes.map(function (c) {
          return { name: labels[c] || c, type: 'bar', stack: 'gep', itemStyle: { color: COLORS[c] },
                   data: rows.map(function (r) { return r[c + '_wan']; }) };
        })
      };
    }
  };

  function renderDrill(root) {
    var holder = root.querySelector('#drill-data');
    if (!holder || typeof echarts === 'undefined') { return; }
    var data = JSON.parse(holder.textContent);
    var lang = document.body.dataset.lang || 'zh';
    var labels = {};
    (data.composition.rows || []).forEach(function (r) { labels[r.service_class] = r.label; });
    root.querySelectorAll('[data-chart]').forEach(function (el) {
      var name = el.dataset.chart;
      var chart = data[name];
      if (!chart || !builders[name]) { return; }
      var old = echarts.getInstanceByDom(el);
      if (old) { old.dispose(); }
      echarts.init(el).setOption(builders[name](chart.rows, lang, labels));
      el.dataset.rendered = String(chart.rows.length);
    });
  }

  window.LiangshanCharts = { renderDrill: renderDrill };
  window.addEventListener('resize', function () {
    document.querySelectorAll('[data-chart]').forEach(function (el) {
      var c = typeof echarts !== 'undefined' && echarts.getInstanceByDom(el);
      if (c) { c.resize(); }
    });
  });
})();
