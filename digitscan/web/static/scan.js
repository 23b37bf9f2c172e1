// The photo page: choose or drop a photo, POST it to /api/scan?annotate=true, and show the
// annotated image and the numbers read, in reading order.
"use strict";

(() => {
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const result = document.getElementById("result");
  const image = document.getElementById("annotated");
  const caption = document.getElementById("caption");
  const numbers = document.getElementById("numbers");
  const json = document.getElementById("json");
  let current = 0; // the latest upload wins if several are under way

  async function scan(file) {
    const mine = ++current;
    error.hidden = true;
    status.textContent = `Reading ${file.name}\u2026`;
    document.body.dataset.busy = "true";
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const response = await fetch("/api/scan?annotate=true", { method: "POST", body: form });
      const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
      if (mine !== current) return;
      if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
      show(body);
      status.textContent = "";
    } catch (e) {
      if (mine !== current) return;
      status.textContent = "";
      result.hidden = true;
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      if (mine === current) document.body.dataset.busy = "false";
    }
  }

  function show(body) {
    image.src = body.annotated;
    const count = body.digits.length;
    caption.textContent = `${body.source}: ${body.width} \u00d7 ${body.height} pixels, ${count} digit${count === 1 ? "" : "s"} found`;
    numbers.replaceChildren();
    for (const n of body.numbers) {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = n.text;
      li.appendChild(text);
      const small = document.createElement("small");
      small.textContent = `${Math.round(n.confidence * 100)}%`;
      li.appendChild(small);
      numbers.appendChild(li);
    }
    if (!body.numbers.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = "No handwritten numbers found.";
      numbers.appendChild(li);
    }
    const { annotated, ...plain } = body;
    json.textContent = JSON.stringify(plain, null, 2);
    result.hidden = false;
  }

  input.addEventListener("change", () => {
    if (input.files.length) scan(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) scan(file);
  });
  // A photo dropped beside the drop zone must not make the browser leave the page to show it.
  for (const name of ["dragover", "drop"]) {
    window.addEventListener(name, (e) => e.preventDefault());
  }
  document.body.dataset.busy = "false";
})();
