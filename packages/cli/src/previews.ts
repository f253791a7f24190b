import type Anthropic from '@anthropic-ai/sdk';

type Print = (l: string) => void;

interface Preview {
  id: string;
  port: number;
  url: string;
  created_at: string;
  token?: string;
  access_url?: string;
}

const base = (id: string) => `/v1/berth/sessions/${id}/previews`;

/** `berth sessions previews …`: port previews of a session's sandbox (Berth's `/v1/berth/sessions/{id}/previews`). */
export const previewCommands = {
  async create(client: Anthropic, print: Print, id: string, port: number): Promise<void> {
    const p = await client.post<Preview>(base(id), { body: { port } });
    print(`${p.id}  port ${p.port}  ${p.url}`);
    print(`token (shown once): ${p.token ?? ''}`);
    print(`open in a browser: ${p.access_url ?? ''}`);
  },

  async list(client: Anthropic, print: Print, id: string): Promise<void> {
    const { data } = await client.get<{ data: Preview[] }>(base(id));
    if (data.length === 0) print('no previews');
    for (const p of data) print(`${p.id}  port ${String(p.port).padEnd(5)}  ${p.url}  ${p.created_at}`);
  },

  async rm(client: Anthropic, print: Print, id: string, previewId: string): Promise<void> {
    await client.delete(`${base(id)}/${previewId}`);
    print(`revoked ${previewId}`);
  },
};
