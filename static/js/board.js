// The board's filters apply on change. The listener sits on the document, not on the form: htmx
// swaps the form with the board, and a change made before htmx had set the new form up was lost.
// requestSubmit() fires a real submit: htmx takes it once the form is set up, and before that the
// browser loads the same URL itself, so no change is ever dropped.
document.addEventListener("change", (event) => {
  const form = event.target.closest && event.target.closest("form.lb-filters");
  if (form) form.requestSubmit();
});
