import type { BerthApp } from '@berth/server';
import type { RecordedRequest } from '@berth/scripted-model';

/** Resolves (with `performance.now()`) at the first request the scripted model receives whose body has `marker`. */
export function firstRequest(app: BerthApp, marker: string): Promise<number> {
  const model = app.scriptedModel!;
  return new Promise((resolve) => {
    const on = (r: RecordedRequest) => {
      if (JSON.stringify(r.body).includes(marker)) {
        model.off('request', on);
        resolve(performance.now());
      }
    };
    model.on('request', on);
  });
}
