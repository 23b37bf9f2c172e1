// The drawing page: Pointer Events on a canvas (mouse, touch and pen alike), read live by
// POST /api/classify. At most one request is in flight; strokes drawn meanwhile are sent
// when it returns, so the reading follows the pen without queueing stale requests.
"use strict";

(() => {
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const answer = document.getElementById("answer");
  const detail = document.getElementById("detail");
  const bars = document.getElementById("bars");
  const digits = document.getElementById("digits");
  const status = document.getElementById("status");
  const STROKE = 18; // canvas pixels; the server fits any size and width the MNIST way
  const LIVE_INTERVAL_MS = 120;

  let drawing = false;
  let last = null;
  let inked = false;
  let generation = 0; // bumped by Clear: answers to older drawings are dropped
  let inFlight = false;
  let dirty = false;
  let lastSent = 0;
  let timer = null;

  function blank() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#111";
    ctx.fillStyle = "#111";
    ctx.lineWidth = STROKE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function buildBars() {
    const names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "not a digit"];
    for (const name of names) {
      const row = document.createElement("div");
      row.className = "bar-row" + (name.length > 1 ? " other" : "");
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      row.querySelector(".name").textContent = name;
      row.dataset.digit = name.length > 1 ? "other" : name;
      bars.appendChild(row);
    }
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - rect.left) * (canvas.width / rect.width),
      y: (event.clientY - rect.top) * (canvas.height / rect.height),
    };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, STROKE / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function line(from, to) {
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    try {
      canvas.setPointerCapture(event.pointerId); // keep the stroke when the pen leaves the canvas
    } catch (_) {
      // not an active pointer (e.g. a synthetic event): the stroke simply ends at the edge
    }
    drawing = true;
    inked = true;
    last = point(event);
    dot(last);
    scheduleReading();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    event.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches them.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = point(e);
      line(last, p);
      last = p;
    }
    scheduleReading();
  });

  function endStroke() {
    if (!drawing) return;
    drawing = false;
    last = null;
    scheduleReading(true);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("lostpointercapture", endStroke);
  canvas.addEventListener("pointerleave", endStroke); // uncaptured pointers only: captured ones never leave

  function scheduleReading(now = false) {
    dirty = true;
    if (inFlight) return;
    const wait = now ? 0 : Math.max(0, LIVE_INTERVAL_MS - (performance.now() - lastSent));
    clearTimeout(timer);
    timer = setTimeout(sendReading, wait);
  }

  function sendReading() {
    if (inFlight || !dirty || !inked) return;
    dirty = false;
    inFlight = true;
    lastSent = performance.now();
    const sentFor = generation;
    canvas.toBlob(async (blob) => {
      try {
        const form = new FormData();
        form.append("file", blob, "drawing.png");
        const response = await fetch("/api/classify", { method: "POST", body: form });
        const body = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
        if (sentFor !== generation) return;
        if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
        show(body);
        status.textContent = "";
      } catch (error) {
        if (sentFor === generation) status.textContent = `Could not read the drawing: ${error.message}`;
      } finally {
        inFlight = false;
        if (dirty && inked) scheduleReading();
        else document.body.dataset.idle = "true";
      }
    }, "image/png");
    document.body.dataset.idle = "false";
  }

  const pct = (p) => `${Math.round(p * 100)}%`;

  function setBars(probabilities, notADigit) {
    bars.hidden = false;
    const values = probabilities ? probabilities.concat([notADigit]) : [];
    const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    bars.querySelectorAll(".bar-row").forEach((row, i) => {
      const p = values[i];
      const known = typeof p === "number";
      row.hidden = i === 10 && probabilities && notADigit === null;
      row.querySelector(".fill").style.width = known ? pct(p) : "0";
      row.querySelector(".pct").textContent = known ? pct(p) : "";
      row.classList.toggle("best", i === best);
    });
  }

  function show(result) {
    digits.hidden = true;
    digits.replaceChildren();
    if (result.label === null) {
      answer.textContent = "\u2013";
      answer.dataset.state = "empty";
      detail.textContent = result.message || "Nothing drawn.";
      setBars(null, null);
      return;
    }
    if (result.number) {
      answer.textContent = result.number;
      answer.dataset.state = "number";
      detail.textContent = `${result.digits.length} digits, read left to right`;
      for (const d of result.digits) {
        const chip = document.createElement("span");
        chip.className = "chip";
        chip.innerHTML = "<b></b><span></span>";
        chip.querySelector("b").textContent = d.label;
        chip.querySelector("span").textContent = pct(d.confidence);
        digits.appendChild(chip);
      }
      digits.hidden = false;
      bars.hidden = true;
      return;
    }
    answer.textContent = String(result.label);
    const unsure = result.not_a_digit !== null && result.not_a_digit > result.confidence;
    answer.dataset.state = unsure ? "unsure" : "digit";
    detail.textContent = unsure
      ? `Does not look like a digit (${pct(result.not_a_digit)}); closest: ${result.label}`
      : `Confidence ${pct(result.confidence)}`;
    setBars(result.probabilities, result.not_a_digit);
  }

  document.getElementById("clear").addEventListener("click", () => {
    generation += 1;
    inked = false;
    dirty = false;
    clearTimeout(timer);
    blank();
    show({ label: null, message: "Nothing drawn yet." });
    status.textContent = "";
  });

  blank();
  buildBars();
  setBars(null, null);
  document.body.dataset.idle = "true";
})();
