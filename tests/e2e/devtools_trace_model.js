// Loads a Trace Event JSON document with the trace engine of Chromium's DevTools Performance panel
// (the parser behind "Load profile"), from the panel's own bundled page, and reports what it built:
// warnings, every process and thread track with its slices and whether each slice got a place in the
// track's drawn tree (a slice that overlaps a sibling without nesting gets none and is not drawn), and
// the counter events it kept. Evaluated in devtools://devtools/bundled/trace_app.html as
// `(SOURCE)(traceText)`.
async (traceText) => {
  const Trace = await import('./models/trace/trace.js');
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  const document = JSON.parse(traceText);
  await model.parse(document.traceEvents, {metadata: {}, isFreshRecording: false});
  const parsed = model.parsedTrace(0);
  const renderer = parsed.data.Renderer;
  const threads = [];
  for (const [pid, process] of renderer.processes) {
    for (const [tid, thread] of process.threads) {
      threads.push({
        pid,
        tid,
        name: thread.name || '',
        slices: thread.entries.map(entry => ({
          name: entry.name,
          ts: entry.ts,
          dur: entry.dur || 0,
          drawn: renderer.entryToNode.has(entry),
          depth: renderer.entryToNode.has(entry) ? renderer.entryToNode.get(entry).depth : -1,
          args: entry.args || {},
        })),
      });
    }
  }
  const counters = {};
  for (const event of parsed.traceEvents) {
    if (event.ph !== 'C') continue;
    (counters[event.name] = counters[event.name] || []).push([event.ts, event.args.value]);
  }
  const warnings = [];
  for (const [kind, events] of parsed.data.Warnings.perWarning) warnings.push(`${kind}: ${events.length}`);
  return {
    generic: parsed.data.Meta.traceIsGeneric,
    processNames: Object.fromEntries([...parsed.data.Meta.processNames].map(([pid, e]) => [pid, e.args.name])),
    bounds: {min: parsed.data.Meta.traceBounds.min, max: parsed.data.Meta.traceBounds.max},
    threads,
    counters,
    warnings,
  };
}
