// Draws the engagement chart from the figure JSON the server embedded in #chart-data.
// No inline script anywhere: the page's CSP allows scripts from 'self' only.
(function () {
  "use strict";

  function drawChart() {
    var holder = document.getElementById("chart");
    var source = document.getElementById("chart-data");
    if (!holder || !source || !window.Plotly) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    // Only the PNG export: nothing that could send the data anywhere (no cloud sharing,
    // no "edit in Chart Studio"), and few tab stops for keyboard users.
    window.Plotly.newPlot(holder, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      showSendToCloud: false,
      showEditInChartStudio: false,
      modeBarButtons: [["toImage"]],
      toImageButtonOptions: { format: "png", filename: "sendwell-engagement" },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawChart);
  } else {
    drawChart();
  }
})();
