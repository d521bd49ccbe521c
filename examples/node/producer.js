#!/usr/bin/env node
// Route a prompt over RabbitMQ from Node.js and rate the answer: the bus contract of
// docs/asyncapi.json with amqplib alone.
//
//   npm ci && node producer.js "What is the capital of France?" [--rate 5]
//
// Reads RABBITMQ_URL and AMQP_PREFIX like the services do. Prints one JSON line: the
// RouteResult, plus the FeedbackAck under "feedback" when --rate is given.
'use strict';

const { randomUUID } = require('node:crypto');
const amqp = require('amqplib');

const url = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672/';
const prefix = process.env.AMQP_PREFIX || '';
const timeoutMs = Number(process.env.TIMEOUT_MS || 60000);

function parseArgs(argv) {
  const args = { prompt: null, rate: null, maxTokens: 128 };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--rate') args.rate = Number(argv[(i += 1)]);
    else if (argv[i] === '--max-tokens') args.maxTokens = Number(argv[(i += 1)]);
    else args.prompt = argv[i];
  }
  if (!args.prompt) throw new Error('usage: node producer.js "<prompt>" [--rate 1-5] [--max-tokens N]');
  return args;
}

// One exclusive reply queue; each call waits for the reply carrying its correlation id.
async function rpcClient(channel) {
  const pending = new Map();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.consume(queue, (msg) => {
    const waiter = msg && pending.get(msg.properties.correlationId);
    if (waiter) waiter(JSON.parse(msg.content.toString('utf8')));
  }, { noAck: true });

  return (queueBase, message) => new Promise((resolve, reject) => {
    const correlationId = randomUUID();
    const timer = setTimeout(() => {
      pending.delete(correlationId);
      reject(new Error(`no reply from ${prefix}${queueBase} within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(correlationId, (reply) => {
      clearTimeout(timer);
      pending.delete(correlationId);
      resolve(reply);
    });
    channel.sendToQueue(`${prefix}${queueBase}`, Buffer.from(JSON.stringify(message)), {
      contentType: 'application/json',
      correlationId,
      replyTo: queue,
      persistent: true,
      expiration: String(timeoutMs), // not picked up in time: dropped, not answered late
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const call = await rpcClient(channel);
    // A RouteRequest (docs/schemas/RouteRequest.json); request_id defaults to a new UUID.
    const result = await call('route.requests', {
      schema_version: 1,
      request_id: randomUUID(),
      messages: [{ role: 'user', content: args.prompt }],
      max_tokens: args.maxTokens,
    });
    if (result.ok && args.rate) {
      result.feedback = await call('feedback.submissions', {
        schema_version: 1,
        request_id: result.request_id,
        quality_score: args.rate,
      });
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  } finally {
    await connection.close();
  }
}

main().then((code) => { process.exitCode = code; }, (error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 2;
});
