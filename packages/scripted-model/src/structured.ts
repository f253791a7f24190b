/**
 * Answers for structured-output calls. The CLI's session-title call asks for
 * `{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`; rather than hard-code that,
 * build the smallest value the given schema accepts, with string fields named `title` set to the title.
 */

type Schema = Record<string, unknown>;

function isSchema(v: unknown): v is Schema {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Depth limit: recursive schemas (`$ref` cycles are not followed, but nested objects are) must still end. */
const MAX_DEPTH = 8;

function sample(schema: Schema, key: string, title: string, depth: number): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type: unknown = Array.isArray(schema.type) ? (schema.type as unknown[])[0] : schema.type;
  switch (type) {
    case 'string':
      return key === 'title' ? title : `scripted ${key}`.trim();
    case 'number':
    case 'integer':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'array':
      return [];
    case 'object':
    case undefined: {
      const out: Record<string, unknown> = {};
      const props = isSchema(schema.properties) ? schema.properties : {};
      if (depth >= MAX_DEPTH) return out;
      for (const [name, sub] of Object.entries(props)) {
        out[name] = sample(isSchema(sub) ? sub : {}, name, title, depth + 1);
      }
      // A schema that names no fields at all gets the shape the CLI's title call uses.
      return Object.keys(props).length === 0 && depth === 0 ? { title } : out;
    }
    default:
      return null;
  }
}

/** The JSON text answering a structured-output call with `schema`. */
export function structuredAnswer(schema: Schema, title: string): string {
  return JSON.stringify(sample(schema, '', title, 0));
}
