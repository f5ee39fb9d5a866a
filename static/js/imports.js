// The imports page: drop files anywhere on the page, see what is chosen, and catch files
// that are empty or over the limit before they are sent (the server checks again). Past
// Django's DATA_UPLOAD_MAX_NUMBER_FILES the server only answers 400, so that is caught here.
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("id_uploads");
  const list = document.getElementById("chosen-files");
  const problem = document.getElementById("upload-problem");
  const button = document.getElementById("upload-button");
  if (!zone || !input) return;
  const maxBytes = Number(zone.dataset.maxBytes);
  const maxFiles = Number(zone.dataset.maxFiles);

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit ? value.toFixed(1) : value) + " " + units[unit];
  }

  function show() {
    const files = Array.from(input.files);
    const problems = [];
    list.replaceChildren(...files.map((file) => {
      const item = document.createElement("li");
      item.textContent = file.name + " · " + size(file.size);
      const before = problems.length;
      if (file.size === 0) problems.push(file.name + " is empty.");
      else if (file.size > maxBytes) problems.push(file.name + " is " + size(file.size) + "; the limit is " + size(maxBytes) + " per file.");
      if (problems.length > before) item.className = "error";
      return item;
    }));
    if (files.length > maxFiles) problems.push(files.length + " files chosen; at most " + maxFiles + " go in one upload.");
    problem.replaceChildren(...problems.map((text) => {
      const line = document.createElement("div");
      line.textContent = text;
      return line;
    }));
    problem.hidden = problems.length === 0;
    button.disabled = problems.length > 0;
  }

  input.addEventListener("change", show);
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("imp-dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) zone.classList.remove("imp-dragging");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("imp-dragging");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
      zone.scrollIntoView({ block: "nearest" });
    }
  });
  input.form.addEventListener("submit", () => {
    button.disabled = true;
    button.textContent = "Uploading…";
  });
  show();
})();
