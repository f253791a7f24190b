/**
 * Fixed paths inside every sandbox. The driver creates them; the runner and berthd both rely on them.
 */
export const SANDBOX_PATHS = {
  /** Directory holding the unix sockets berthd serves for this sandbox (bind-mounted from the host). */
  runDir: '/run/berth',
  /** berthd's control socket: the runner connects here. */
  controlSocket: '/run/berth/control.sock',
  /** berthd's model gateway socket: the runner's 127.0.0.1 forwarder relays to it. */
  modelSocket: '/run/berth/model.sock',
  /** berthd's egress proxy socket: the runner's HTTP(S)_PROXY forwarder relays to it. */
  egressSocket: '/run/berth/egress.sock',
  /** berthd's preview tunnel socket: the runner connects here once per `open_tunnel` (docs/adr/0016-port-previews.md). */
  tunnelSocket: '/run/berth/tunnel.sock',
  /** The per-sandbox workspace (the agent's cwd). */
  workspace: '/workspace',
  /**
   * A shared sandbox's exchange directory: one outbox per member, `/shared/<user name>` (e.g. `agent1`), which only
   * that member can write and every member can read.
   */
  shared: '/shared',
  /** The sandbox user's home directory. */
  home: '/home/agent',
  /** The Berth installation (runner code, node_modules with the SDK and its CLI), read-only. */
  install: '/opt/berth',
} as const;

/** The uid/gid the sandbox user has inside the sandbox (mapped to a per-sandbox host uid). */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

/** Environment variable names the driver sets for the runner. */
export const RUNNER_ENV = {
  controlSocket: 'BERTH_CONTROL_SOCKET',
  modelSocket: 'BERTH_MODEL_SOCKET',
  egressSocket: 'BERTH_EGRESS_SOCKET',
  tunnelSocket: 'BERTH_TUNNEL_SOCKET',
  sandboxId: 'BERTH_SANDBOX_ID',
  logLevel: 'BERTH_LOG_LEVEL',
} as const;
