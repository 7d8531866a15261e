// Strato's runtime interface client for Node.js, written into the nodejs
// runtime image as /var/runtime/strato-ric.mjs. npm's aws-lambda-ric
// compiles curl and C++ at install; this is the same contract in plain
// Node: ask the Lambda Runtime API for the next invocation, call the
// handler as AWS's Node runtimes call it (async or callback style, with
// the same context), post its result or its error, forever.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [apiHost, apiPort] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const taskRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
let requestId = undefined;

function runtimeApi(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const extra = body === undefined ? {} : {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    const req = http.request({
      host: apiHost,
      port: apiPort,
      method,
      path: '/2018-06-01/runtime' + route,
      agent,
      headers: { ...headers, ...extra },
    }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// console.* as on AWS: timestamp, request id, level, message.
for (const [method, level] of [['log', 'INFO'], ['info', 'INFO'], ['warn', 'WARN'],
  ['error', 'ERROR'], ['debug', 'DEBUG'], ['trace', 'TRACE']]) {
  const stream = level === 'ERROR' || level === 'WARN' ? process.stderr : process.stdout;
  console[method] = (...args) => {
    stream.write(`${new Date().toISOString()}\t${requestId ?? 'undefined'}\t${level}\t${util.format(...args)}\n`);
  };
}

function errorDocument(error) {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: String(error.stack || '').split('\n'),
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

class RuntimeError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

// `_HANDLER` is MODULE.FUNCTION, the module a path under the task root
// (`src/app.handler`), the function possibly nested (`app.api.get`).
async function loadHandler() {
  const spec = process.env._HANDLER || '';
  const slash = spec.lastIndexOf('/');
  const dot = spec.indexOf('.', slash + 1);
  if (dot < 0) {
    throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${spec}`);
  }
  const modulePath = spec.slice(0, dot);
  const functionPath = spec.slice(dot + 1);
  const base = path.resolve(taskRoot, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw new RuntimeError('Runtime.ImportModuleError', `Error: Cannot find module '${modulePath}'`);
  }
  let module;
  try {
    if (file.endsWith('.mjs')) {
      module = await import(pathToFileURL(file).href);
    } else {
      try {
        module = createRequire(file)(file);
      } catch (e) {
        if (e && e.code === 'ERR_REQUIRE_ESM') module = await import(pathToFileURL(file).href);
        else throw e;
      }
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new RuntimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`);
    throw new RuntimeError('Runtime.ImportModuleError', `${e && e.name}: ${e && e.message}`);
  }
  const find = (root) => functionPath.split('.').reduce((o, k) => (o == null ? undefined : o[k]), root);
  const handler = find(module) ?? find(module && module.default);
  if (typeof handler !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  }
  return handler;
}

// Async handlers resolve their promise; callback handlers call back (or
// context.succeed/fail/done); a plain function's return value is taken.
function callHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== undefined && error !== null) reject(error);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (error) => callback(error ?? new Error('handled'));
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (e) {
      callback(e);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((r) => callback(null, r), (e) => callback(e ?? new Error('rejected')));
    } else if (handler.length < 3) {
      callback(null, returned);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const doc = errorDocument(e);
    console.error(`Init Error\t${JSON.stringify(doc)}`);
    await runtimeApi('POST', '/init/error', JSON.stringify(doc), {
      'lambda-runtime-function-error-type': doc.errorType,
    });
    process.exit(1);
  }
  const env = process.env;
  for (;;) {
    const next = await runtimeApi('GET', '/invocation/next');
    requestId = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    // As AWS's clients do: the SDKs send it on as X-Amzn-Trace-Id.
    if (next.headers['lambda-runtime-trace-id']) {
      env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
    } else {
      delete env._X_AMZN_TRACE_ID;
    }
    const context = {
      awsRequestId: requestId,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let event;
    try {
      event = JSON.parse(next.body);
    } catch {
      event = next.body;
    }
    try {
      const result = await callHandler(handler, event, context);
      const body = JSON.stringify(result === undefined ? null : result);
      await runtimeApi('POST', `/invocation/${requestId}/response`, body);
    } catch (e) {
      const doc = errorDocument(e);
      await runtimeApi('POST', `/invocation/${requestId}/error`, JSON.stringify(doc), {
        'lambda-runtime-function-error-type': doc.errorType,
      });
    }
  }
}

main().catch((e) => {
  process.stderr.write(`strato-ric: ${e && e.stack}\n`);
  process.exit(1);
});
