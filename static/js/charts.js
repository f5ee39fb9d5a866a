// Draws every Plotly figure the server prepared: <div data-chart="ID"> + json_script ID.
// Runs on load and after htmx swaps a fragment in.
(function () {
  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var data = document.getElementById(el.dataset.chart);
      if (!data || !window.Plotly) return;
      var fig = JSON.parse(data.textContent);
      var config = Object.assign({ displayModeBar: false, responsive: true }, fig.config || {});
      Plotly.react(el, fig.data, fig.layout || {}, config);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();
