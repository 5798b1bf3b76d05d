// The live parts of a request's page (progressive: the page is whole without this script).
// A section with data-live follows its request's progress; a log table with data-live appends new lines.
// The streams open once the page as served has been painted: their requests would otherwise take the machine from the
// first paint (two frames: the first is the one that paints).
requestAnimationFrame(() => requestAnimationFrame(() => {
  "use strict";
  const MaxLines = 100000;

  for (const section of document.querySelectorAll("section.progress[data-live]")) {
    const events = new EventSource(section.dataset.live);
    const field = name => section.querySelector(`[data-field="${name}"]`);
    events.addEventListener("progress", e => {
      const p = JSON.parse(e.data);
      const state = field("state");
      state.textContent = p.state;
      state.className = `state ${p.state}`;
      field("progress").textContent = p.progress;
      if (p.fraction !== null) field("fraction").value = p.fraction;
      if (p.finished) {
        field("fraction").value = 1;
        events.close();
      }
    });
    events.addEventListener("gone", () => events.close());
    events.addEventListener("failed", () => events.close());
  }

  for (const table of document.querySelectorAll("table.log[data-live]")) {
    const body = table.tBodies[0];
    const events = new EventSource(table.dataset.live);
    events.addEventListener("log", e => {
      const r = JSON.parse(e.data);
      const row = body.insertRow();
      row.className = r.level;
      const time = document.createElement("time");
      time.dateTime = r.time;
      time.textContent = r.time.substring(11, 23);
      row.insertCell().append(time);
      row.insertCell().textContent = r.level;
      row.insertCell().textContent = r.service;
      const message = row.insertCell();
      message.className = "message";
      message.textContent = r.message;
      while (body.rows.length > MaxLines) body.deleteRow(0);
    });
    events.addEventListener("end", () => events.close());
    events.addEventListener("failed", () => events.close());
  }
}));
