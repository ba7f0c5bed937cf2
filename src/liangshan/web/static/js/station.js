// Water-quality class per month of one station (GB 3838-2002 classes I–V, 6 = worse than V),
// drawn with ECharts from the JSON the page embeds (<script type="application/json"
// id="station-data">). Class I is best, so the axis runs downwards; the target is a line.
(function () {
  'use strict';
  var ROMAN = ['', 'I', 'II', 'III', 'IV', 'V', '劣V'];

  function draw() {
    var holder = document.getElementById('station-chart');
    var source = document.getElementById('station-data');
    if (!holder || !source || typeof echarts === 'undefined') { return; }
    var data = JSON.parse(source.textContent);
    if (!data.periods.length) { holder.style.display = 'none'; return; }
    var series = [{ type: 'line', step: 'middle', data: data.classes,
                    name: data.lang === 'en' ? 'class' : '水质类别' }];
    if (data.target) {
      series[0].markLine = { symbol: 'none', data: [{ yAxis: data.target,
        name: data.lang === 'en' ? 'target' : '目标' }] };
    }
    echarts.init(holder).setOption({
      grid: { left: 50, right: 30, top: 20, bottom: 50 },
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return ROMAN[v] || v; } },
      xAxis: { type: 'category', data: data.periods },
      yAxis: { type: 'value', min: 1, max: 6, interval: 1, inverse: true,
               axisLabel: { formatter: function (v) { return ROMAN[v] || v; } } },
      series: series
    });
  }

  document.addEventListener('DOMContentLoaded', draw);
})();
