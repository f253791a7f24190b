/**
 * Compares what one session's live SSE stream delivered with its history (events.list), for the load driver.
 * `before` is the history listed just after the stream was opened; events appended in between may legitimately
 * appear in both (the stream subscribes before that list is read), so a leading overlap is allowed.
 */
export interface StreamCheck {
  live: number;
  listed: number;
  /** Listed after the stream opened, never delivered live. */
  lost: number;
  /** Delivered live more than once. */
  duplicated: number;
  /** Delivered live in another order than listed. */
  outOfOrder: number;
  /** Delivered live but not in the history (an event nobody can list). */
  extra: number;
  problems: string[];
}

export function checkStream(before: string[], live: string[], listed: string[]): StreamCheck {
  const problems: string[] = [];
  const seen = new Set<string>();
  let duplicated = 0;
  for (const id of live) {
    if (seen.has(id)) duplicated++;
    seen.add(id);
  }
  const listedSet = new Set(listed);
  if (listedSet.size !== listed.length) problems.push(`events.list repeats ${listed.length - listedSet.size} ids`);
  const beforeSet = new Set(before);
  // Leading live events that were already listed at `before` must be `before`'s last ones, in order.
  let k = 0;
  while (k < live.length && beforeSet.has(live[k]!)) k++;
  const overlap = live.slice(0, k);
  if (overlap.join() !== before.slice(before.length - k).join()) problems.push('live overlap is not the listed tail');
  const prefixOk = listed.slice(0, before.length).join() === before.join();
  if (!prefixOk) problems.push('events.list changed the history listed before the turns');
  const expected = listed.slice(before.length);
  const got = [...new Set(live.slice(k))];
  const gotSet = new Set(got);
  const lost = expected.filter((id) => !gotSet.has(id)).length;
  const extra = got.filter((id) => !listedSet.has(id)).length;
  // Order: the delivered ids that are also expected must appear in the listed order.
  const expectedSet = new Set(expected);
  const common = got.filter((id) => expectedSet.has(id));
  const order = expected.filter((id) => gotSet.has(id));
  let outOfOrder = 0;
  for (let i = 0; i < common.length; i++) if (common[i] !== order[i]) outOfOrder++;
  if (lost)
    problems.push(`${lost} listed events never arrived live (first: ${expected.find((id) => !gotSet.has(id))})`);
  if (duplicated) problems.push(`${duplicated} events arrived live more than once`);
  if (outOfOrder) problems.push(`${outOfOrder} events arrived live out of order`);
  if (extra) problems.push(`${extra} live events are not in events.list`);
  return { live: live.length, listed: expected.length, lost, duplicated, outOfOrder, extra, problems };
}
