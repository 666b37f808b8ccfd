// Compiled by types.test.js with `tsc --strict --noEmit`: the typings accept what the API does.
import * as plexus from '../..';

interface AddRequest { a: number; b: number }
interface AddReply { sum: number }

async function main(): Promise<void> {
  const server = await plexus.serve({ listen: 'unix:///tmp/x.sock', http: '127.0.0.1:0' });
  server.handle<AddRequest, AddReply>('add', ({ a, b }, ctx) => {
    if (ctx.signal.aborted) throw new plexus.PlexusError('cancelled', 'gone');
    return { sum: a + b };
  }, { schema: { type: 'object' }, rateLimit: { perSecond: 10 }, timeoutMs: 100 });
  server.handleStream<{ n: number }, { i: number }, { sent: number }>('count', async function* ({ n }, ctx) {
    ctx.progress(n);
    for (let i = 0; i < n; i++) yield { i };
    return { sent: n };
  });

  const client = await plexus.connect('unix:///tmp/x.sock', { connectTimeoutMs: 1000, reconnect: false });
  client.on('state', (s: plexus.ConnectionState) => console.log(s));
  const reply = await client.call<AddRequest, AddReply>('add', { a: 1, b: 2 }, { timeoutMs: 50, signal: AbortSignal.timeout(100) });
  const sum: number = reply.sum;
  const bytes: Buffer = await client.call('echo', Buffer.from('x'), { decode: 'buffer' });
  client.notify('log', { sum, n: bytes.length });
  const sub = await client.subscribe<{ id: number }>('orders.>', { queueLimit: 10, policy: 'drop_newest' });
  for await (const { topic, value } of sub) console.log(topic, value.id);
  const stream = client.openStream<{ n: number }, { i: number }>('count', { n: 3 }, { window: { items: 16 } });
  stream.on('progress', (p: plexus.Progress) => console.log(p.done, p.total));
  for await (const item of stream) console.log(item.i);
  try {
    await client.call('fail');
  } catch (e) {
    if (e instanceof plexus.PlexusError) console.log(e.code, e.status, e.details, plexus.Status[e.code]);
  }
  client.close();
  await server.close(100);
}

void main;
