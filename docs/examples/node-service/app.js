// A small Express service in the same traces as the Python suite: GET /coach/:sessionId
// asks the gateway for the session (fetch carries `traceparent`), inside a manual span
// written exactly as in the original guide.
const express = require('express');
const { context, trace, SpanStatusCode } = require('@opentelemetry/api');

const gateway = process.env.GATEWAY_URL || 'http://localhost:8000';
const port = Number(process.env.PORT || 8090);
const app = express();

app.get('/healthz', (req, res) => res.json({ status: 'ok', service: 'node-example' }));

app.get('/coach/:sessionId', async (req, res) => {
  const span = trace.getTracer('node-example').startSpan('process-data');
  try {
    span.setAttribute('haptitalk.session.id', req.params.sessionId);
    const response = await fetchSession(req.params.sessionId, span);
    span.setAttribute('process.status', 'success');
    res.json({ tip: response.tip, segments: response.segment_count });
  } catch (error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.setAttribute('process.status', 'error');
    res.status(502).json({ error: { code: 'upstream_error', message: error.message } });
  } finally {
    span.end();
  }
});

async function fetchSession(sessionId, parent) {
  // Make the manual span the parent of the outgoing call.
  return context.with(trace.setSpan(context.active(), parent), async () => {
    const response = await fetch(`${gateway}/api/sessions/${sessionId}`,
      { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new Error(`gateway answered ${response.status}`);
    return response.json();
  });
}

app.listen(port, '127.0.0.1', () => console.log(`node-example on ${port}`));
