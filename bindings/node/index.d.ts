// Type definitions for plexus's Node.js binding (index.js).
import { EventEmitter } from 'node:events';

/** A value sent as its JSON text; Buffer, Uint8Array and ArrayBuffer are sent as their bytes. */
export type Payload = unknown;
/** How an answer's bytes become a value: parsed JSON (default; bytes that are not JSON come as a
 * Buffer), the Buffer itself, or UTF-8 text. */
export type Decode = 'json' | 'buffer' | 'text';

export type StatusName =
  | 'ok' | 'cancelled' | 'unknown' | 'invalid_argument' | 'deadline_exceeded' | 'not_found'
  | 'already_exists' | 'permission_denied' | 'resource_exhausted' | 'failed_precondition'
  | 'internal' | 'unavailable' | 'unauthenticated' | 'message_too_large' | 'protocol_error';

/** The status codes' numbers, as they travel on the wire (docs/PROTOCOL.md §6.8). */
export const Status: Readonly<Record<StatusName, number>>;

/** Every failure plexus reports. Handlers throw it to answer with a code and details. */
export class PlexusError extends Error {
  constructor(code: StatusName, message: string, details?: unknown);
  readonly name: 'PlexusError';
  /** The status name, e.g. 'deadline_exceeded'. */
  readonly code: StatusName;
  /** The status number, e.g. 4. */
  readonly status: number;
  /** For programs: the JSON object the peer sent, when it sent one. */
  readonly details?: any;
}

export interface TlsClientOptions {
  caFile?: string;
  serverName?: string;
  certificateFile?: string;
  privateKeyFile?: string;
}

export interface ConnectOptions {
  /** 'unix:///path', 'unix:///path?shm=1', 'tcp://127.0.0.1:7000', 'tls://host:7443'. */
  address?: string;
  /** The name the server sees (not verified). */
  name?: string;
  /** A signed token for servers that verify tokens. */
  token?: string;
  connectTimeoutMs?: number;
  /** Keep trying this long while no server answers (a client started before its server). */
  waitForServerMs?: number;
  /** While disconnected, calls wait for the connection up to their deadline. */
  waitForReady?: boolean;
  maxMessageSize?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** false: a lost connection closes the client. */
  reconnect?: boolean | { enabled?: boolean; initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
  tls?: TlsClientOptions;
}

export interface CallOptions {
  /** A deadline the callee sees too; past it the call fails with deadline_exceeded. */
  timeoutMs?: number;
  /** Aborting fails the call with 'cancelled' and tells the callee to stop. */
  signal?: AbortSignal;
  /** A W3C traceparent or any id up to 64 bytes. */
  traceId?: string;
  decode?: Decode;
}

export interface SubscribeOptions {
  /** Messages held for this subscriber (at the server, and here for the iterator): 1..1e6. */
  queueLimit?: number;
  /** What the server does when this subscriber's queue is full. */
  policy?: 'drop_oldest' | 'drop_newest' | 'block' | 'disconnect';
  decode?: Decode;
}

export interface StreamOptions {
  /** How far the producer may run ahead of this reader. */
  window?: { items?: number; bytes?: number };
  signal?: AbortSignal;
  decode?: Decode;
}

export interface Progress {
  done: number;
  total?: number;
  /** Units per second since the first item. */
  rate: number;
  etaMs?: number;
}

export interface Message<T = any> {
  topic: string;
  value: T;
}

export class Subscription<T = any> extends EventEmitter implements AsyncIterable<Message<T>> {
  readonly pattern: string;
  /** Messages the iterator's queue dropped (oldest first) while nobody read it. */
  readonly dropped: number;
  on(event: 'message', listener: (value: T, topic: string) => void): this;
  [Symbol.asyncIterator](): AsyncIterator<Message<T>>;
  /** Ends the subscription, also at the server. */
  unsubscribe(): void;
}

export class ItemStream<T = any> extends EventEmitter implements AsyncIterable<T> {
  on(event: 'progress', listener: (progress: Progress) => void): this;
  /** The next item, or undefined at the end. */
  read(): Promise<T | undefined>;
  [Symbol.asyncIterator](): AsyncIterator<T>;
  progress(): Progress;
  /** The handler's final answer once the stream ended; throws its PlexusError. */
  result(): any;
  /** Sends an item to the handler (for handlers that read ctx.stream). */
  write(value: Payload): Promise<void>;
  /** Ends this side's direction. */
  end(): void;
  /** Aborts the stream both ways. */
  cancel(reason?: string): void;
  stats(): { itemsSent: number; itemsReceived: number; bufferedItems: number; peakBufferedItems: number; peakBufferedBytes: number; creditWaits: number };
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export class Client extends EventEmitter {
  readonly state: ConnectionState;
  on(event: 'state', listener: (state: ConnectionState) => void): this;
  /** Calls `method`; resolves with its answer, rejects with a PlexusError. */
  call<Req = Payload, Res = any>(method: string, value?: Req, options?: CallOptions): Promise<Res>;
  /** One-way message; throws PlexusError (unavailable, message_too_large, resource_exhausted). */
  notify<Req = Payload>(method: string, value?: Req): void;
  publish<Req = Payload>(topic: string, value?: Req): void;
  subscribe<T = any>(pattern: string, options?: SubscribeOptions): Promise<Subscription<T>>;
  openStream<Req = Payload, Item = any>(method: string, value?: Req, options?: StreamOptions): ItemStream<Item>;
  /** A protocol round trip, in microseconds. */
  ping(timeoutMs?: number): Promise<number>;
  stats(): { reconnects: number; framesIn: number; framesOut: number; writeBatches: number; shmMappedBytes: number; sendRefusals: number; unsentOnClose: number; callsInFlight: number };
  /** Lets the process exit while this client is open and idle. */
  unref(): this;
  ref(): this;
  /** Calls in flight fail with 'unavailable'. Idempotent. */
  close(): void;
}

export interface PeerIdentity {
  name: string;
  pid?: number;
  uid?: number;
  gid?: number;
  executable?: string;
  host?: string;
  subject?: string;
}

export interface CallContext {
  readonly method: string;
  readonly peer: PeerIdentity;
  readonly traceId: string;
  readonly messageId?: string;
  /** What was left of the caller's deadline when the call arrived. */
  readonly timeoutMs?: number;
  /** The request's bytes. */
  readonly payload: Buffer;
  /** Aborted when the caller cancels, its deadline passes or its connection is lost. */
  readonly signal: AbortSignal;
  readonly cancelled: boolean;
}

export interface StreamContext extends CallContext {
  /** Announces the total (and optionally the work done) to the reader. */
  progress(total: number, done?: number): void;
  /** What the opener writes, for streams that read. */
  readonly stream: ItemStream;
}

export interface RateLimit { perSecond?: number; burst?: number }

/** The handler policies of the C++ library (plexus/policy.hpp). */
export interface HandlerOptions {
  /** A JSON Schema the request must match (invalid_argument with details.errors otherwise). */
  schema?: object;
  timeoutMs?: number;
  rateLimit?: RateLimit;
  rateLimitPerClient?: RateLimit;
  concurrency?: { maxInFlight?: number; maxQueue?: number };
  breaker?: boolean | { failuresToOpen?: number; successesToClose?: number; openForMs?: number; halfOpenMaxCalls?: number };
  cache?: boolean | { ttlMs?: number; maxEntries?: number; maxBytes?: number };
  decode?: Decode;
}

export interface ServeOptions {
  /** Addresses to listen on; default: the default Unix socket. */
  listen?: string | string[];
  name?: string;
  /** HOST:PORT of /metrics, /health, /ready, /live and the status page. */
  http?: string;
  maxMessageSize?: number;
  maxConnections?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** Unix socket file mode (default 0o600). */
  socketMode?: number;
}

export class Server extends EventEmitter {
  readonly addresses: string[];
  readonly httpAddress: string;
  readonly connectionCount: number;
  handle<Req = any, Res = any>(method: string, handler: (value: Req, ctx: CallContext) => Res | Promise<Res>, options?: HandlerOptions): this;
  handleStream<Req = any, Item = any, Result = any>(method: string, handler: (value: Req, ctx: StreamContext) => AsyncGenerator<Item, Result, undefined>, options?: { decode?: Decode }): this;
  remove(method: string): void;
  publish(topic: string, value?: Payload): void;
  /** Returns how many clients it was queued for. */
  broadcast(method: string, value?: Payload): number;
  metrics(): any;
  metricsText(): string;
  unref(): this;
  ref(): this;
  close(drainMs?: number): Promise<void>;
}

export function connect(address?: string, options?: ConnectOptions): Promise<Client>;
export function connect(options: ConnectOptions): Promise<Client>;
export function serve(options?: ServeOptions): Promise<Server>;
export function setLogLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'off'): void;
