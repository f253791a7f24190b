import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { TOKEN_QUERY } from './access.js';
import { TunnelHub } from './hub.js';
import { createPreviewServer } from './proxy.js';
import { hostLabel, PreviewRegistry, MAX_PREVIEWS_PER_SESSION, type Preview } from './registry.js';
import { TunnelError } from './tunnel-socket.js';

/** The preview settings from the config. */
export interface PreviewSettings {
  host: string;
  port: number;
  /** Base URL clients reach the listener by (its host name is the preview domain); default http://preview.localhost:<port>. */
  publicUrl: string | undefined;
  idleTimeoutMs: number;
  maxTunnelsPerSession: number;
  /** How long the runner may take to open a tunnel. */
  openTimeoutMs: number;
}

/** A preview as the API shows it; `token` and `access_url` only in the answer that created it. */
export interface PreviewView {
  type: 'preview';
  id: string;
  session_id: string;
  port: number;
  url: string;
  created_at: string;
  token?: string;
  access_url?: string;
}

/**
 * Port previews (docs/adr/0016-port-previews.md): the registry of previews, the tunnel sockets of live sandboxes, and
 * the preview listener. berthd never gets a route into a sandbox: every connection is a tunnel the runner opens.
 */
export class PreviewService {
  readonly registry = new PreviewRegistry();
  readonly hub: TunnelHub;
  private listener: { server: Server; closeAll(): void } | undefined;
  private base: URL | undefined;

  constructor(
    private readonly settings: PreviewSettings,
    private readonly logger: Logger,
  ) {
    this.hub = new TunnelHub({
      openTimeoutMs: settings.openTimeoutMs,
      maxTunnelsPerSession: settings.maxTunnelsPerSession,
      logger,
      onDetach: (sessionId) => this.registry.dropSession(sessionId),
    });
  }

  /** Starts the preview listener. */
  async listen(): Promise<void> {
    const listener = createPreviewServer({
      registry: this.registry,
      hub: this.hub,
      domain: () => this.domain,
      secure: () => this.base?.protocol === 'https:',
      idleTimeoutMs: this.settings.idleTimeoutMs,
      logger: this.logger,
    });
    const { server } = listener;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.settings.port, this.settings.host, () => resolve());
    });
    this.listener = listener;
    const port = (server.address() as AddressInfo).port;
    this.base = new URL(this.settings.publicUrl ?? `http://preview.localhost:${port}`);
  }

  /** The listener's base URL (`http://preview.localhost:<port>` unless configured). */
  get url(): string {
    return this.base?.origin ?? '';
  }

  /** Host names of previews end in this domain. */
  get domain(): string {
    return this.base?.hostname.toLowerCase() ?? 'preview.localhost';
  }

  /** The preview's own origin, `<scheme>://<port>-<session>.<domain>[:<port>]/`. */
  urlOf(p: Preview): string {
    const b = this.base!;
    return `${b.protocol}//${hostLabel(p.sessionId, p.port)}.${b.hostname}${b.port ? `:${b.port}` : ''}/`;
  }

  view(p: Preview, token?: string): PreviewView {
    const url = this.urlOf(p);
    const v: PreviewView = {
      type: 'preview',
      id: p.id,
      session_id: p.sessionId,
      port: p.port,
      url,
      created_at: p.createdAt,
    };
    if (token) Object.assign(v, { token, access_url: `${url}?${TOKEN_QUERY}=${encodeURIComponent(token)}` });
    return v;
  }

  /**
   * Creates (or replaces) the preview of `port` after checking, through a real tunnel, that something in the
   * session's sandbox listens there. Throws an ApiError saying what to do otherwise.
   */
  async create(sessionId: string, port: number, now: string): Promise<PreviewView> {
    if (!this.hub.has(sessionId)) {
      throw new ApiError(
        'preview_unavailable',
        'The session has no running sandbox (it is starting, stopped or archived). Retry once it is running; previews end with the sandbox.',
      );
    }
    try {
      (await this.hub.open(sessionId, port)).destroy();
    } catch (err) {
      throw refusal(err, port);
    }
    const made = this.registry.create(sessionId, port, now);
    if (made === 'limit') {
      throw new ApiError(
        'invalid_request',
        `A session may have at most ${MAX_PREVIEWS_PER_SESSION} previews. Delete one it no longer needs first.`,
      );
    }
    return this.view(made.preview, made.token);
  }

  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    if (!listener) return;
    const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()));
    listener.closeAll();
    await closed;
  }
}

function refusal(err: unknown, port: number): ApiError {
  if (!(err instanceof TunnelError)) throw err;
  switch (err.reason) {
    case 'not_listening':
      return new ApiError(
        'port_not_listening',
        `Nothing in the session's sandbox listens on port ${port}. Have the agent start its server on that port (127.0.0.1 or 0.0.0.0) first, then create the preview.`,
      );
    case 'reserved':
      return new ApiError('invalid_request', `Port ${port} cannot be previewed: ${err.message}.`);
    case 'limit':
      return new ApiError('too_many_tunnels', `${err.message}; retry when some have closed.`, {}, true, 1);
    case 'connect_failed':
    case 'timeout':
    case 'closed':
      return new ApiError('preview_unavailable', `The sandbox could not be reached: ${err.message}. Retry.`);
  }
}
