// Order-book depth of one instrument, drawn with ECharts from the JSON the market page embeds
// (<script type="application/json" id="depth-data">): cumulative open quantity against price,
// bids (best first, walking down in price) and asks (best first, walking up). Prices arrive
// in 元 per unit for plotting only; the exact fen figures are in the depth table beside it.
// Each side holds a level's total until the next level's price (step 'end'): at any price
// the line reads what could trade there at once.
(function () {
  'use strict';

  function draw() {
    var holder = document.getElementById('depth-chart');
    var source = document.getElementById('depth-data');
    if (!holder || !source || typeof echarts === 'undefined') { return; }
    var data = JSON.parse(source.textContent);
    var en = data.lang === 'en';
    var money = en ? 'CNY' : '元';
    var step = function (name, color, points) {
      return { name: name, type: 'line', step: 'end', symbol: 'circle', symbolSize: 5,
               data: points, lineStyle: { color: color }, itemStyle: { color: color },
               areaStyle: { color: color, opacity: 0.2 } };
    };
    echarts.init(holder).setOption({
      animation: false,
      grid: { left: 70, right: 40, top: 36, bottom: 50 },
      legend: { top: 0 },
      tooltip: { trigger: 'item', formatter: function (p) {
        return p.seriesName + ' ' + p.value[0].toFixed(2) + ' ' + money + '/' + data.unit +
          ': ' + p.value[1].toLocaleString() + ' ' + data.unit;
      } },
      xAxis: { type: 'value', scale: true, name: money + '/' + data.unit, nameLocation: 'middle', nameGap: 30 },
      yAxis: { type: 'value', name: (en ? 'cumulative ' : '累计 ') + data.unit },
      series: [step(en ? 'Bids' : '买盘', '#2f7d4f', data.bids),
               step(en ? 'Asks' : '卖盘', '#b6463b', data.asks)]
    });
    holder.setAttribute('data-ready', String(data.bids.length + data.asks.length));
  }

  document.addEventListener('DOMContentLoaded', draw);
})();
