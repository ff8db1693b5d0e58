/**
 * `npm run bench [-- --scenario assessment] [--seconds 10]`: runs benchmark scenarios against the
 * built servers and writes `bench/results/<scenario>.json` and `.md` (the latest run; history is in
 * git). Figures are percentiles and ratios over many requests, measured in one run on this machine.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runAssessmentScenario } from './scenarios/assessment.js';
import { runChaosScenario } from './scenarios/chaos.js';
import { runDiagnosisScenario } from './scenarios/diagnosis.js';
import { runGatewayScenario } from './scenarios/gateway.js';
import { runScaleScenario } from './scenarios/scale.js';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    seconds: { type: 'string', default: '10' },
    // `scale` only: its size (default 100,000 sockets over ⌈N/17,000⌉ pods and client processes).
    connections: { type: 'string' },
    pods: { type: 'string' },
    clients: { type: 'string' },
    'heap-snapshot': { type: 'string' },
    'cpu-profile': { type: 'string' },
    'in-flight': { type: 'string' },
    attempts: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
const scale = {
  connections: number(values.connections),
  pods: number(values.pods),
  clients: number(values.clients),
  heapSnapshot: values['heap-snapshot'],
  cpuProfile: values['cpu-profile'],
  inFlight: number(values['in-flight']),
  attempts: number(values.attempts),
};

const SCENARIOS: Record<string, (o: { seconds: number }) => Promise<Record<string, unknown>>> = {
  assessment: runAssessmentScenario,
  diagnosis: runDiagnosisScenario,
  chaos: runChaosScenario,
  gateway: runGatewayScenario,
  scale: () => runScaleScenario(scale),
};
/** Run only when asked for: each takes minutes (chaos: its own --seconds, 600 for the committed run; scale: 100,000 sockets). */
const ON_REQUEST = new Set(['chaos', 'scale']);
const chosen = values.scenario ?? Object.keys(SCENARIOS).filter((name) => !ON_REQUEST.has(name));

for (const name of chosen) {
  const run = SCENARIOS[name];
  if (!run) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  console.log(`bench: ${name} (${seconds} s per phase)…`);
  const started = new Date();
  const result = await run({ seconds });
  const report = {
    scenario: name,
    date: started.toISOString(),
    command:
      name === 'scale'
        ? `npm run bench -- --scenario scale${['connections', 'pods', 'clients', 'in-flight', 'attempts']
            .filter((o) => values[o as keyof typeof values] !== undefined)
            .map((o) => ` --${o} ${values[o as keyof typeof values]}`)
            .join('')}`
        : `npm run bench -- --scenario ${name} --seconds ${seconds}`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    ...result,
  };
  const base = new URL(`./results/${name}`, import.meta.url).pathname;
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, toMarkdown(report));
  console.log(toMarkdown(report));
}

function toMarkdown(report: Record<string, unknown>): string {
  const phases = report.phases as Record<string, Record<string, number>>;
  const targets = (report.targets ?? {}) as Record<string, { target: number; measured: number; met: boolean }>;
  const lines = [
    `# Benchmark: ${report.scenario}`,
    '',
    `${report.date} · \`${report.command}\` · ${JSON.stringify(report.machine)}`,
    '',
    '| phase | requests | unexpected | req/s | p50 ms | p90 ms | p99 ms | max ms | pod CPU ms/op |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(phases).map(
      ([name, p]) =>
        `| ${name} | ${p.requests} | ${p.unexpected} | ${p.rps} | ${p.p50} | ${p.p90} | ${p.p99} | ${p.max} | ${p.cpuMsPerOp ?? ''} |`,
    ),
    '',
    ...Object.entries(report)
      .filter(([key]) => !['scenario', 'date', 'command', 'machine', 'phases', 'targets'].includes(key))
      .flatMap(([key, value]) => [`**${key}**: \`${JSON.stringify(value)}\``, '']),
    '| target | goal | measured | met |',
    '| --- | ---: | ---: | :---: |',
    ...Object.entries(targets).map(
      ([name, t]) => `| ${name} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
