import { py, type Attempt, type AttemptContext } from './attempts.js';

/** Network attempts: host loopback, metadata, raw IPs, DNS, UDP, IPv6, abstract sockets, proxy bypass and misuse. */
export function network(x: AttemptContext): Attempt[] {
  const h = x.host;
  const noProxy = `curl --noproxy '*' -sS --max-time 3`;
  const secret = [h.secretToken];
  return [
    {
      id: 'host-loopback-direct',
      category: 'network',
      group: 'net',
      command: `${noProxy} http://127.0.0.1:${h.secretPort}/; ${noProxy} http://127.0.0.1:${h.berthPort}/healthz`,
      blocked: /curl: \(7\)[\s\S]*curl: \(7\)/,
      leaks: secret,
    },
    {
      id: 'host-loopback-via-proxy',
      category: 'network',
      group: 'net',
      command:
        `curl -sS --noproxy '' -x "$HTTP_PROXY" http://127.0.0.1:${h.berthPort}/v1/sessions; ` +
        `curl -sS --noproxy '' -p -x "$HTTP_PROXY" http://127.0.0.1:${h.secretPort}/`,
      blocked:
        /IP-literal targets are refused \(127\.0\.0\.1 is [^)]*loopback[\s\S]*CONNECT tunnel failed, response 403/,
      leaks: secret,
    },
    {
      id: 'metadata-link-local',
      category: 'network',
      group: 'net',
      command:
        'curl -sS http://169.254.169.254/latest/meta-data/; ' +
        `${noProxy} http://169.254.169.254/latest/meta-data/; curl -sS http://metadata.google.internal/`,
      blocked: /IP-literal targets are refused \(169\.254\.169\.254[\s\S]*curl: \((7|28)\)[\s\S]*not allowed/,
    },
    {
      id: 'raw-ip',
      category: 'network',
      group: 'net',
      command: `curl -sS http://1.1.1.1/; ${py('c("direct",socket.AF_INET,("1.1.1.1",80))')}`,
      blocked: /IP-literal targets are refused[\s\S]*direct (ENETUNREACH|EHOSTUNREACH)/,
    },
    {
      id: 'dns',
      category: 'network',
      group: 'net',
      command:
        'getent hosts example.com; echo "getent=$?"; ' +
        py('c("udp53",socket.AF_INET,("8.8.8.8",53),socket.SOCK_DGRAM);c("tcp53",socket.AF_INET,("8.8.8.8",53))'),
      blocked: /getent=2[\s\S]*udp53 (ENETUNREACH|EHOSTUNREACH)[\s\S]*tcp53 (ENETUNREACH|EHOSTUNREACH)/,
    },
    {
      id: 'udp',
      category: 'network',
      group: 'net',
      command: py(
        's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n' +
          'for a in [("10.0.0.1",9),("169.254.169.254",53),("192.168.1.1",9)]:\n' +
          ' try:\n  s.sendto(b"x",a);print("sent",a)\n except OSError as e:\n  print("udp",errno.errorcode[e.errno])',
      ),
      blocked: /^(?![\s\S]*sent)[\s\S]*udp (ENETUNREACH|EHOSTUNREACH)[\s\S]*udp (ENETUNREACH|EHOSTUNREACH)/,
    },
    {
      id: 'ipv6',
      category: 'network',
      group: 'net',
      command:
        `${noProxy} -g "http://[::1]:${h.secretPort}/"; curl -sS -g "http://[2001:db8::1]/"; ` +
        py('c("v6",socket.AF_INET6,("2001:4860:4860::8888",80))'),
      blocked:
        /curl: \((7|28|45)\)[\s\S]*IP-literal targets are refused[\s\S]*v6 (ENETUNREACH|EHOSTUNREACH|EADDRNOTAVAIL|EAFNOSUPPORT)/,
      leaks: secret,
    },
    {
      id: 'host-abstract-socket',
      category: 'network',
      group: 'net',
      command: py(`c("abstract",socket.AF_UNIX,"\\0${h.abstractName}")`),
      blocked: /abstract (ECONNREFUSED|ENOENT)/,
      leaks: secret,
    },
    {
      id: 'noproxy-bypass',
      category: 'network',
      group: 'net',
      command: `${noProxy} http://127.0.0.2:${h.allowedPort}/; env -u HTTP_PROXY -u http_proxy curl -sS --max-time 3 http://127.0.0.2:${h.allowedPort}/`,
      blocked: /curl: \(7\)[\s\S]*curl: \(7\)/,
      leaks: ['allowed-origin-ok'],
    },
    {
      id: 'direct-socket',
      category: 'network',
      group: 'net',
      command: py(
        `c("tcp",socket.AF_INET,("127.0.0.2",${h.allowedPort}));c("tcp3",socket.AF_INET,("127.0.0.3",${h.deniedPort}))`,
      ),
      blocked: /tcp ECONNREFUSED\s+tcp3 ECONNREFUSED/,
      leaks: ['allowed-origin-ok', ...secret],
    },
    {
      id: 'connect-disallowed',
      category: 'network',
      group: 'net',
      command: `curl -sS https://evil.example.com/; curl -sS -p -x "$HTTP_PROXY" http://127.0.0.3:${h.deniedPort}/`,
      blocked: /CONNECT tunnel failed, response 403[\s\S]*CONNECT tunnel failed, response 403/,
      leaks: secret,
    },
    {
      id: 'plain-http-disallowed',
      category: 'network',
      group: 'net',
      command: `curl -sS http://evil.example.com/; curl -sS http://127.0.0.3:${h.deniedPort}/secret`,
      blocked: /refused by default deny: evil\.example\.com:80[\s\S]*IP-literal targets are refused \(127\.0\.0\.3/,
      leaks: secret,
    },
    {
      id: 'redirect-to-disallowed',
      category: 'network',
      group: 'net',
      command: `curl -sSL --max-redirs 3 http://127.0.0.2:${h.allowedPort}/go`,
      blocked: /IP-literal targets are refused \(127\.0\.0\.3/,
      leaks: secret,
    },
    {
      id: 'host-header-smuggling',
      category: 'network',
      group: 'net',
      command: `curl -sS -H 'Host: 127.0.0.3:${h.deniedPort}' http://127.0.0.2:${h.allowedPort}/secret`,
      // The proxy routes by the request target, not the Host header: the allowed origin answers.
      blocked: /allowed-origin-ok/,
      leaks: secret,
    },
  ];
}
