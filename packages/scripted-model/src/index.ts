export { startScriptedModel, type RecordedRequest, type ScriptedModel, type ScriptedModelOptions } from './server.js';
export {
  ScenarioSchema,
  TurnSchema,
  ContentBlockSchema,
  UsageSchema,
  type Scenario,
  type ScenarioTurn,
  type ReplyTurn,
  type ErrorTurn,
  type ScriptedBlock,
  type ScriptedUsage,
} from './schema.js';
export { loadScenarioDir, builtinScenarios, builtinScenarioDir, parseScenario, ScenarioError } from './load.js';
export { DEFAULT_SCENARIO } from './plan.js';
export type { Message, ContentBlock, Usage, StopReason, ErrorBody } from './message.js';
