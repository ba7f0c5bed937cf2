// The parcel outline on a small ECharts plot: rings as [lon, lat] in WGS84 degrees from the
// JSON the page embeds (<script type="application/json" id="parcel-outline">). No base map:
// the page stays offline; the shape and position are shown, not the surroundings.
(function () {
  'use strict';

  function draw() {
    var holder = document.getElementById('parcel-map');
    var source = document.getElementById('parcel-outline');
    if (!holder || !source || typeof echarts === 'undefined') { return; }
    var rings = JSON.parse(source.textContent).rings;
    if (!rings.length) { holder.style.display = 'none'; return; }
    echarts.init(holder).setOption({
      grid: { left: 70, right: 20, top: 10, bottom: 30 },
      tooltip: { trigger: 'item', valueFormatter: function (v) { return v; } },
      xAxis: { type: 'value', scale: true, name: '°E', axisLabel: { hideOverlap: true } },
      yAxis: { type: 'value', scale: true, name: '°N' },
      series: rings.map(function (ring) {
        return { type: 'line', data: ring, symbol: 'none', lineStyle: { color: '#2f7d4f' },
                 areaStyle: { opacity: 0 } };
      })
    });
  }

  document.addEventListener('DOMContentLoaded', draw);
})();
