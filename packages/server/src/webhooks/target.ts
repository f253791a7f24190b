import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { specialRange } from '../egress/ranges.js';

/**
 * Where webhooks may be sent (SSRF defence). berthd sits inside the operator's network, so a webhook URL is a way
 * to make it send requests: by default every address in a special range (loopback, private, link-local and cloud
 * metadata, …; the egress proxy's list in egress/ranges.ts) is refused, both for IP literals in the URL and for
 * every address a host name resolves to, checked at connect time on the address actually used (so a name that
 * later re-resolves to 127.0.0.1 is refused too). `--webhook-allow-private-targets` lifts this for receivers on
 * the operator's own network.
 */

/** Why `url` cannot be a webhook target, or null when it can (names are only checked when they resolve). */
export function targetProblem(url: string, allowPrivate: boolean): string | null {
  if (!URL.canParse(url)) return 'is not a URL';
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http:// or https:// URL';
  if (u.username || u.password) return 'must not carry user:password@ (it would be stored and shown in clear)';
  if (allowPrivate) return null;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const range = specialRange(host);
    if (range) return `points at a ${range} address (${host}); ${HOW_TO_ALLOW}`;
  } else if (host === 'localhost' || host.endsWith('.localhost')) {
    return `points at loopback (${host}); ${HOW_TO_ALLOW}`;
  }
  return null;
}

const HOW_TO_ALLOW =
  'webhooks to private and loopback addresses are refused unless berthd runs with --webhook-allow-private-targets';

/** Thrown (through the socket) when a host name resolves into a refused range. */
export class ForbiddenTargetError extends Error {}

/** A `lookup` for http(s).request that refuses special-range addresses unless `allowPrivate`. */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const bad = allowPrivate ? undefined : addresses.find((a) => specialRange(a.address) !== null);
      if (bad) {
        const e = new ForbiddenTargetError(
          `${hostname} resolves to a ${specialRange(bad.address)} address (${bad.address}); ${HOW_TO_ALLOW}`,
        );
        return callback(e, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
