import type { EscapeHost } from './fixtures.js';
import { network } from './network.js';

/** The attempt categories. */
export type Category =
  | 'host secrets'
  | 'other sessions'
  | 'writes'
  | 'network'
  | 'privilege'
  | 'resources'
  | 'credentials'
  | 'runner probes';

/** Which hostile session runs an attempt: the first three run many attempts as consecutive Bash turns. */
export type Group = 'host' | 'net' | 'cred' | 'fork' | 'mem' | 'disk' | 'fd' | 'cpu';

export type Driver = 'bwrap' | 'gvisor';

/** One escape attempt: a shell command run by the real CLI's Bash tool, and what proves it failed. */
export interface Attempt {
  id: string;
  category: Category;
  group: Group;
  /** The attack. The suite appends `; echo "@@<id> rc=$?"` so an output that stops early is never evidence. */
  command: string;
  /** Evidence in the tool result that the attempt failed for the right reason (per driver where they differ). */
  blocked: RegExp | Record<Driver, RegExp>;
  /** Strings whose presence in the output means something got through. */
  leaks?: string[];
  /** Why this attempt does not run on a driver (stated in the report). */
  skip?: Partial<Record<Driver, string>>;
}

/** What the attempts are parameterised with (all known before berthd starts). */
export interface AttemptContext {
  host: EscapeHost;
  /** berthd's pid (this test process). */
  berthPid: number;
  /** Secrets that must appear nowhere in a sandbox. */
  secrets: { name: string; value: string }[];
  /** The victim session's canary text (the attacker reads the victim's ids from its own prompt, see below). */
  canary: string;
  forgedMarker: string;
  /** The victim runs `sleep <victimSleep>` in the background; the attacker tries to kill it. */
  victimSleep: number;
}

/** A python3 prelude: ctypes libc and `r(name, ret)` printing `name ok` or `name <ERRNO>`. */
const PY =
  'import ctypes,errno,os,socket,sys\n' +
  'l=ctypes.CDLL(None,use_errno=True);l.syscall.restype=ctypes.c_long\n' +
  'def r(n,v):\n print(n, "ok" if v!=-1 else errno.errorcode[ctypes.get_errno()])\n' +
  'def c(n,fam,addr,kind=socket.SOCK_STREAM):\n' +
  ' s=socket.socket(fam,kind);s.settimeout(3)\n' +
  ' try:\n  s.connect(addr);s.send(b"GET / HTTP/1.0\\r\\n\\r\\n");print(n,"connected",s.recv(200))\n' +
  ' except OSError as e:\n  print(n,errno.errorcode.get(e.errno,e))\n';

/** `python3 -c '<prelude + code>'`; the code must not contain single quotes. */
export function py(code: string): string {
  return `python3 -c '${PY}${code}'`;
}

/**
 * The victim's session id and sandbox id, read from this session's own transcript: the user message that started
 * the hostile turn names them (`victim=sesn_… vsbx=sbx_…`), and the CLI writes it under ~/.claude. This is how an
 * attacker that learned another session's ids would use them; the scenario files are fixed before berthd starts.
 */
const VICTIM =
  `V=$(grep -rhoas 'victim=sesn_[0-9A-Z]*' ~ | head -1 | cut -d= -f2); ` +
  `VS=$(grep -rhoas 'vsbx=sbx_[0-9A-Za-z]*' ~ | head -1 | cut -d= -f2); echo "victim=$V vsbx=$VS"; `;

const NOT_FOUND = /No such file or directory/;
const READ_ONLY = { bwrap: /Read-only file system/, gvisor: /Read-only file system|Permission denied/ };

export function attempts(x: AttemptContext): Attempt[] {
  const h = x.host;
  const d = h.dataDir;
  const victimPaths = `${d}/sandboxes/$VS/workspace/canary.txt ${d}/sandboxes/$VS/disk/workspace/canary.txt`;
  const list: Attempt[] = [
    // ---- host secrets
    { id: 'etc-shadow', category: 'host secrets', group: 'host', command: 'cat /etc/shadow', blocked: NOT_FOUND },
    {
      id: 'host-keys-and-root',
      category: 'host secrets',
      group: 'host',
      command: 'cat /etc/ssh/ssh_host_ed25519_key; test -e /root && echo root-visible || echo no-root',
      blocked: /ssh_host_ed25519_key: No such file or directory[\s\S]*no-root/,
    },
    {
      id: 'berthd-data-dir',
      category: 'host secrets',
      group: 'host',
      command: `test -e ${d} && echo data-dir-visible || echo no-data-dir; cat ${d}/berth.db ${d}/vault.key`,
      blocked: /no-data-dir[\s\S]*berth\.db: No such file or directory/,
      leaks: ['SQLite format'],
    },
    {
      id: 'proc-1-environ',
      category: 'host secrets',
      group: 'host',
      command: `echo "pid1=$(cat /proc/1/comm) host_vars=$(tr '\\0' '\\n' < /proc/1/environ | grep -c VITEST)"`,
      blocked: /pid1=\S+ host_vars=0/,
      leaks: ['VITEST_POOL_ID='],
    },
    {
      id: 'berthd-environ',
      category: 'host secrets',
      group: 'host',
      command:
        `cat /proc/${x.berthPid}/environ; ` +
        `echo "all_host_vars=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c VITEST)"`,
      blocked: /No such file or directory[\s\S]*all_host_vars=0/,
      leaks: ['VITEST_POOL_ID='],
    },
    {
      id: 'host-devices',
      category: 'host secrets',
      group: 'host',
      command: 'head -c 64 /dev/kmsg; head -c 64 /dev/mem; ls /dev/sda /dev/vda /dev/nvme0n1',
      blocked: /kmsg' for reading: No such file or directory[\s\S]*mem' for reading: No such file or directory/,
    },
    // ---- other sessions
    {
      id: 'victim-read-host-path',
      category: 'other sessions',
      group: 'host',
      command: `${VICTIM}cat ${victimPaths}`,
      blocked: /victim=sesn_\w+ vsbx=sbx_\w+[\s\S]*No such file or directory/,
      leaks: [x.canary],
    },
    {
      id: 'victim-read-proc-root',
      category: 'other sessions',
      group: 'host',
      command:
        'for p in /proc/[0-9]*; do cat $p/root/workspace/canary.txt 2>/dev/null; done; ' +
        'echo "procs=$(echo /proc/[0-9]* | wc -w)"; cat /workspace/../../../proc/1/root/workspace/canary.txt',
      blocked: /procs=\d+[\s\S]*(No such file or directory|Permission denied)/,
      leaks: [x.canary],
    },
    {
      id: 'victim-read-dotdot',
      category: 'other sessions',
      group: 'host',
      command: `${VICTIM}cat /workspace/../../..${d}/sandboxes/$VS/workspace/canary.txt /home/agent/../../../../${d}`,
      blocked: /victim=sesn_\w+[\s\S]*No such file or directory/,
      leaks: [x.canary],
    },
    {
      id: 'victim-write',
      category: 'other sessions',
      group: 'host',
      command: `${VICTIM}for f in ${victimPaths} ${d}/sandboxes/$VS/home/pwned.txt; do echo pwned > "$f"; done`,
      blocked: /victim=sesn_\w+[\s\S]*No such file or directory/,
    },
    {
      id: 'victim-signal',
      category: 'other sessions',
      group: 'host',
      command: `pkill -KILL -x sleep; echo "pkill=$?"; kill -KILL ${h.sleeper.pid}; kill -STOP ${x.berthPid}`,
      blocked: /pkill=1[\s\S]*No such process[\s\S]*No such process/,
    },
    // ---- writes
    {
      id: 'write-usr',
      category: 'writes',
      group: 'host',
      command: 'touch /usr/bin/berth-pwned',
      blocked: READ_ONLY,
    },
    {
      id: 'write-etc',
      category: 'writes',
      group: 'host',
      command: 'echo x >> /etc/hosts',
      // bwrap: the file is owned by an unmapped uid, so the permission check fails before the read-only mount's.
      blocked: /Read-only file system|Permission denied/,
    },
    { id: 'write-root', category: 'writes', group: 'host', command: 'mkdir /pwned', blocked: READ_ONLY },
    {
      id: 'write-install',
      category: 'writes',
      group: 'host',
      command: 'touch /opt/berth/pwned',
      blocked: READ_ONLY,
    },
    {
      id: 'write-run-dir',
      category: 'writes',
      group: 'host',
      command:
        'rm -f /run/berth/control.sock; touch /run/berth/pwned; test -S /run/berth/control.sock && echo sock-intact',
      blocked: {
        bwrap: /Read-only file system[\s\S]*sock-intact/,
        gvisor: /(Read-only|Permission)[\s\S]*sock-intact/,
      },
    },
    {
      id: 'sysrq-trigger',
      category: 'writes',
      group: 'host',
      // 'h' only prints help to the kernel log: harmless even if a write got through.
      command: 'echo h > /proc/sysrq-trigger',
      blocked: /Read-only file system|Permission denied|No such file or directory/,
    },
    // ---- privilege
    {
      id: 'setuid-root',
      category: 'privilege',
      group: 'host',
      command: py('r("setuid",l.setuid(0));r("setgid",l.setgid(0));print("euid",os.geteuid())'),
      blocked: /setuid (EPERM|EINVAL)\s+setgid (EPERM|EINVAL)\s+euid 1000/,
    },
    {
      id: 'mount',
      category: 'privilege',
      group: 'host',
      command: py('r("mount",l.mount(b"none",b"/tmp",b"tmpfs",0,None));r("umount",l.umount2(b"/workspace",2))'),
      blocked: /mount (EPERM|EACCES)\s+umount (EPERM|EINVAL)/,
    },
    {
      id: 'new-namespaces',
      category: 'privilege',
      group: 'host',
      command: py('r("chroot",l.chroot(b"/tmp"));r("mntns",l.unshare(0x00020000));r("userns",l.unshare(0x10000000))'),
      blocked: /chroot EPERM\s+mntns EPERM\s+userns (ENOSPC|EPERM|EINVAL|EUSERS)/,
    },
    {
      id: 'ptrace-host',
      category: 'privilege',
      group: 'host',
      command: py(`r("berthd",l.ptrace(16,${x.berthPid},0,0));r("host",l.ptrace(16,${h.sleeper.pid},0,0))`),
      blocked: /berthd (ESRCH|EPERM)\s+host (ESRCH|EPERM)/,
    },
    {
      id: 'host-keyring',
      category: 'privilege',
      group: 'host',
      command: py(
        `b=ctypes.create_string_buffer(256);r("read",l.syscall(250,11,${h.hostKey?.serial ?? 0},b,256));print("got",b.value)`,
      ),
      blocked: /read (EACCES|ENOKEY|EPERM|ENOSYS)\s+got b''/,
      leaks: h.hostKey ? [h.hostKey.payload] : [],
      skip: h.hostKey ? {} : { bwrap: 'no host key (add_key failed)', gvisor: 'no host key (add_key failed)' },
    },
    {
      id: 'module-load',
      category: 'privilege',
      group: 'host',
      command: py('r("init_module",l.syscall(175,0,0,b""));r("finit_module",l.syscall(313,0,b"",0))'),
      blocked: /init_module (EPERM|ENOSYS)\s+finit_module (EPERM|ENOSYS|EBADF)/,
    },
    {
      id: 'capabilities',
      category: 'privilege',
      group: 'host',
      command: `grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; ${py('print("no_new_privs",l.prctl(39,0,0,0,0))')}`,
      blocked: /CapPrm:\s+0+\s+CapEff:\s+0+\s+CapBnd:\s+0+\s+no_new_privs 1/,
    },
  ];
  return [...list, ...network(x), ...credentials(x), ...resources()];
}

function credentials(x: AttemptContext): Attempt[] {
  const grep = (name: string, value: string): Attempt => {
    // Split so the command (which the CLI records in its transcript) never holds the secret itself.
    const cut = Math.floor(value.length / 2);
    return {
      id: `find-${name}`,
      category: 'credentials',
      group: 'cred',
      command:
        `A='${value.slice(0, cut)}'; B='${value.slice(cut)}'; K="$A$B"; C="ctl$$"; echo "$C" > /tmp/ctl-$$; ` +
        'hits=$( { grep -rlsaF -D skip -- "$K" /home /tmp /workspace /run /etc /var /root /opt/berth/runner* 2>/dev/null; ' +
        // Matched by a builtin: a grep given "$K" would itself show it in /proc/<pid>/cmdline while the scan runs.
        'for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do c=$(tr "\\0" "\\n" < "$f" 2>/dev/null); [[ "$c" == *"$K"* ]] && echo "$f"; done; ' +
        'env | grep -F -- "$K"; } | wc -l); ctl=$(grep -rlsaF -- "$C" /tmp | wc -l); echo "hits=$hits control=$ctl"',
      blocked: /hits=0 control=1/,
      leaks: [value],
    };
  };
  return [
    ...x.secrets.map((s) => grep(s.name, s.value)),
    {
      id: 'gateway-forged-token',
      category: 'runner probes',
      group: 'cred',
      command:
        `curl -sS --unix-socket /run/berth/model.sock -H 'x-api-key: sk-ant-forged' -H 'content-type: application/json' ` +
        `http://gateway/v1/messages -d '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'; echo; ` +
        `curl -sS --unix-socket /run/berth/model.sock -H "x-api-key: $ANTHROPIC_API_KEY" http://gateway/v1/models`,
      blocked: /Unknown session token[\s\S]*serves POST \/v1\/messages and \/v1\/messages\/count_tokens only/,
    },
    {
      id: 'egress-socket-direct',
      category: 'runner probes',
      group: 'cred',
      command: py(
        'def p(n,req):\n s=socket.socket(socket.AF_UNIX);s.connect("/run/berth/egress.sock");s.send(req);got=b""\n' +
          ' while True:\n  d=s.recv(4096)\n  if not d: break\n  got+=d\n print(n,got.split(b"\\r\\n")[0])\n' +
          `p("connect",b"CONNECT 127.0.0.1:${x.host.berthPort} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")\n` +
          'p("get",b"GET http://169.254.169.254/ HTTP/1.1\\r\\nHost: 169.254.169.254\\r\\nConnection: close\\r\\n\\r\\n")',
      ),
      blocked: /connect b'HTTP\/1\.1 403 Forbidden \(Berth egress: ip literal\)'\s+get b'HTTP\/1\.1 403 Forbidden'/,
    },
    {
      id: 'egress-socket-reset',
      category: 'runner probes',
      group: 'cred',
      // A refused CONNECT whose client resets the connection (SO_LINGER 0) before reading the answer: berthd must
      // survive it (an unhandled socket error there surfaces as an uncaught exception in the test run).
      command: py(
        'import struct,time\nfor i in range(3):\n s=socket.socket(socket.AF_UNIX);s.connect("/run/berth/egress.sock")\n' +
          ' s.send(b"CONNECT 169.254.169.254:80 HTTP/1.1\\r\\n\\r\\n");time.sleep(0.2)\n' +
          ' s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack("ii",1,0));s.close()\nprint("reset sent")\n' +
          'time.sleep(0.5);s=socket.socket(socket.AF_UNIX);s.connect("/run/berth/egress.sock")\n' +
          's.send(b"CONNECT 169.254.169.254:80 HTTP/1.1\\r\\n\\r\\n");print("proxy still answers",s.recv(40).split(b"\\r\\n")[0])',
      ),
      blocked: /reset sent\s+proxy still answers b'HTTP\/1\.1 403 Forbidden/,
    },
    {
      id: 'control-socket-forgery',
      category: 'runner probes',
      group: 'cred',
      // Hello as another session's runner, then an event for the victim: berthd must drop it (checked host-side
      // too: the victim's events never contain the marker).
      command:
        `${VICTIM}` +
        py(
          'import json,time\nv=os.popen("grep -rhoas victim=sesn_[0-9A-Z]* ~ | head -1 | cut -d= -f2").read().strip()\n' +
            's=socket.socket(socket.AF_UNIX);s.connect("/run/berth/control.sock")\n' +
            'h={"type":"hello","sandbox_id":"forged","runner_version":"0","pid":1,"sessions":[{"session_id":v,"last_seq":0}]}\n' +
            `e={"type":"event","session_id":v,"seq":1,"event":{"id":"sevt_01ARZ3NDEKTSV4RRFFQ69G5FAV","type":"agent.message","content":[{"type":"text","text":"${x.forgedMarker}"}]}}\n` +
            's.send((json.dumps(h)+"\\n"+json.dumps(e)+"\\n").encode());s.settimeout(2);got=b""\n' +
            'try:\n while True:\n  d=s.recv(65536)\n  if not d: break\n  got+=d\nexcept OSError: pass\n' +
            'print("frames",[json.loads(x).get("type") for x in got.decode().splitlines() if x.startswith("{")], "acked_victim", ("\\"ack\\"" in got.decode() and v in got.decode()))',
        ),
      blocked: /victim=sesn_\w+[\s\S]*frames \[[^\]]*\] acked_victim False/,
    },
  ];
}

function resources(): Attempt[] {
  return [
    {
      id: 'fork-bomb',
      category: 'resources',
      group: 'fork',
      // A bounded bomb: forks until the kernel refuses, then reaps its children (an unbounded one would also starve
      // the CLI of the session, which is the point of the limit but would leave no result to judge).
      command: py(
        'import time\nps=[]\ntry:\n while len(ps)<2000:\n  p=os.fork()\n  if p==0:\n   time.sleep(5);os._exit(0)\n  ps.append(p)\n' +
          'except OSError as e: print("forked",len(ps),errno.errorcode[e.errno])\nfor p in ps: os.kill(p,9)\nfor p in ps: os.waitpid(p,0)',
      ),
      blocked: /forked ([0-5]?\d|6[0-3]) EAGAIN/,
    },
    {
      id: 'memory-bomb',
      category: 'resources',
      group: 'mem',
      command: 'node -e "const a=[];for(;;)a.push(Buffer.alloc(16<<20,1))"; echo "exit=$?"',
      blocked: /exit=137|Killed/,
    },
    {
      id: 'disk-fill',
      category: 'resources',
      group: 'disk',
      command: 'dd if=/dev/zero of=/workspace/fill bs=1M count=200 2>&1 | grep -v records; rm -f /workspace/fill',
      blocked: /No space left on device/,
    },
    {
      id: 'fd-exhaustion',
      category: 'resources',
      group: 'fd',
      command: py(
        'import resource\ns,hd=resource.getrlimit(resource.RLIMIT_NOFILE)\n' +
          'try:\n resource.setrlimit(resource.RLIMIT_NOFILE,(hd+1,hd+1));print("raised")\nexcept (ValueError,OSError) as e: print("raise refused")\n' +
          'resource.setrlimit(resource.RLIMIT_NOFILE,(hd,hd));fs=[]\n' +
          'try:\n while True: fs.append(os.open("/dev/null",os.O_RDONLY))\nexcept OSError as e: print("opened",len(fs),errno.errorcode[e.errno])',
      ),
      blocked: /raise refused\s+opened \d+ (EMFILE|ENFILE)/,
    },
    {
      id: 'cpu-spin',
      category: 'resources',
      group: 'cpu',
      command: 'timeout 4 sh -c "while :; do :; done" & timeout 4 sh -c "while :; do :; done"; wait; echo spun',
      // The proof is host-side: the cgroup was throttled (nr_throttled > 0) and the well-behaved session finished.
      blocked: /spun/,
    },
  ];
}
