/**
 * The Kubernetes objects (k8s/base and the production overlay), validated against kubernetes-models'
 * schemas and held to the code's ports, probes, drain timings, settings and network rules; and
 * docs/deployment.md, which says how to apply them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import * as appsV1 from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import * as batchV1 from 'kubernetes-models/batch/v1';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import * as policyV1 from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import * as coreV1 from 'kubernetes-models/v1';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { jobNames } from '../../../src/jobs/diagnosis.job.js';

import {
  API_ENTRY,
  CONFIG_KEYS,
  check,
  checkGatewayCommand,
  checkNodeCommand,
  configProblems,
  defined,
  ENTRY_POINTS,
  GATEWAY_CONFIG_KEYS,
  GATEWAY_DIR,
  GATEWAY_ROLES,
  gatewayConfigProblems,
  MIGRATE_ENTRY,
  ML_ENTRY,
  ROOT,
  read,
  WORKER_ENTRY,
} from './shared.js';

// --- Kubernetes ------------------------------------------------------------------------------------------

type Resource =
  | IConfigMap
  | ISecret
  | IService
  | INamespace
  | IDeployment
  | IJob
  | IHorizontalPodAutoscaler
  | IPodDisruptionBudget
  | IIngress
  | INetworkPolicy
  | (IScaledObject & { apiVersion: 'keda.sh/v1alpha1'; kind: 'ScaledObject' });
type Kind = Resource['kind'];
type OfKind<K extends Kind> = Extract<Resource, { kind: K }>;

/** The only apiVersion/kind pairs these manifests may use, each with the model that validates it. */
const MODELS: Record<string, Record<string, unknown>> = {
  v1: { ConfigMap: coreV1.ConfigMap, Secret: coreV1.Secret, Service: coreV1.Service, Namespace: coreV1.Namespace },
  'apps/v1': { Deployment: appsV1.Deployment },
  'batch/v1': { Job: batchV1.Job },
  'autoscaling/v2': { HorizontalPodAutoscaler: autoscalingV2.HorizontalPodAutoscaler },
  'policy/v1': { PodDisruptionBudget: policyV1.PodDisruptionBudget },
  'networking.k8s.io/v1': { Ingress: networkingV1.Ingress, NetworkPolicy: networkingV1.NetworkPolicy },
  'keda.sh/v1alpha1': { ScaledObject: kedaV1alpha1.ScaledObject },
};
type Model = new (data: object) => { validate(): void };

/** Throws with the schema's complaint when `value` is not a valid object of a known kind. */
function validateManifest(value: unknown, where: string): Resource {
  const object = value as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
  const model = MODELS[object.apiVersion ?? '']?.[object.kind ?? ''];
  if (typeof model !== 'function') throw new Error(`${where}: unknown kind ${object.apiVersion} ${object.kind}`);
  const name = object.metadata?.name ?? '';
  check(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name), `${where}: metadata.name "${name}" is not a DNS label`);
  try {
    new (model as Model)(object).validate();
  } catch (error) {
    throw new Error(`${where} (${object.kind} ${name}): ${(error as Error).message}`);
  }
  return value as Resource;
}

function yamlDocuments(text: string, where: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

interface Kustomization {
  apiVersion: string;
  kind: string;
  namespace?: string;
  resources?: string[];
  patches?: { path?: string; target?: { group?: string; version?: string; kind?: string; name?: string } }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images', 'labels']);

function kustomization(dir: string): Kustomization {
  const value = parse(read(posix.join(dir, 'kustomization.yaml'))) as Kustomization;
  check(value.apiVersion === 'kustomize.config.k8s.io/v1beta1' && value.kind === 'Kustomization', `${dir}: kind`);
  for (const key of Object.keys(value)) check(KUSTOMIZATION_FIELDS.has(key), `${dir}: unknown field ${key}`);
  return value;
}

/** The objects of a kustomization whose resources are plain files (the base). */
function resourcesOf(dir: string): Resource[] {
  return (kustomization(dir).resources ?? []).flatMap((file) =>
    yamlDocuments(read(posix.join(dir, file)), file).map((doc) => validateManifest(doc, posix.join(dir, file))),
  );
}

const BASE = 'k8s/base';
const PRODUCTION = 'k8s/overlays/production';
const SECRET_EXAMPLE = 'k8s/base/secret.example.yaml';
/**
 * Secrets made outside the kustomization (docs/deployment.md): the app's credentials, whose keys
 * secret.example.yaml documents, and the Ingresses' TLS certificates, issued by cert-manager.
 */
const EXTERNAL_SECRETS = new Set(['clinical-copilot-secrets', 'clinical-copilot-tls', 'clinical-copilot-gateway-tls']);
const INGRESS_CONTROLLER_NAMESPACE = 'ingress-nginx';
/** The label sets of the data stores when they run in the cluster (the usual charts' names). */
const DATA_STORES = {
  postgresql: {
    labels: { 'app.kubernetes.io/name': 'postgresql' },
    port: 5432,
    clients: ['api', 'appointments', 'migrate', 'worker'],
  },
  redis: { labels: { 'app.kubernetes.io/name': 'redis' }, port: 6379, clients: ['api', 'worker'] },
  nats: { labels: { 'app.kubernetes.io/name': 'nats' }, port: 4222, clients: ['api', 'worker'] },
};

function secretExample(): Record<string, string> {
  const secret = validateManifest(yamlDocuments(read(SECRET_EXAMPLE), SECRET_EXAMPLE)[0], SECRET_EXAMPLE) as ISecret;
  expect(secret.kind).toBe('Secret');
  expect(EXTERNAL_SECRETS).toContain(secret.metadata?.name);
  return defined(secret.stringData, 'stringData');
}

const ofKind = <K extends Kind>(resources: Resource[], kind: K) =>
  resources.filter((r): r is OfKind<K> => r.kind === kind);
const named = <K extends Kind>(resources: Resource[], kind: K, name: string) =>
  defined(
    ofKind(resources, kind).find((r) => r.metadata?.name === name),
    `${kind} ${name}`,
  );

function selects(selector: ILabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    throw new Error(`unknown operator ${operator}`);
  });
  return byLabels && byExpressions;
}

/** "250m" → 0.25, "512Mi" → 536870912. */
function quantity(value: string | number | undefined, what: string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(defined(value, what));
  const factors: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    Ki: 2 ** 10,
    M: 1e6,
    Mi: 2 ** 20,
    G: 1e9,
    Gi: 2 ** 30,
    T: 1e12,
    Ti: 2 ** 40,
  };
  return Number(defined(match, `${what}: ${value}`)[1]) * (factors[match?.[2] ?? ''] ?? 1);
}

interface Workload {
  kind: 'Deployment' | 'Job';
  name: string;
  component: string;
  labels: Record<string, string>;
  pod: IPodSpec;
}

function workloads(resources: Resource[]): Workload[] {
  const templates = [...ofKind(resources, 'Deployment'), ...ofKind(resources, 'Job')];
  return templates.map((r) => {
    const labels = defined(r.spec?.template.metadata?.labels, `${r.metadata?.name}: pod labels`);
    return {
      kind: r.kind,
      name: defined(r.metadata?.name, 'name'),
      component: defined(labels['app.kubernetes.io/component'], `${r.metadata?.name}: component label`),
      labels,
      pod: defined(r.spec?.template.spec, `${r.metadata?.name}: pod spec`),
    };
  });
}

/** The environment a container starts with: its ConfigMaps, then its own entries (Secrets from the example). */
function containerEnv(resources: Resource[], container: IContainer, secrets: Record<string, string>) {
  const env: Record<string, string> = {};
  const names: string[] = [];
  const configMapData = (name: string) => named(resources, 'ConfigMap', name).data ?? {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const data = configMapData(defined(source.configMapRef.name, 'configMapRef.name'));
      Object.assign(env, data);
      names.push(...Object.keys(data));
    }
    expect(source.secretRef, 'Secrets by key (secretKeyRef), so each one is visible here').toBeUndefined();
  }
  for (const entry of container.env ?? []) {
    names.push(entry.name);
    const secretRef = entry.valueFrom?.secretKeyRef;
    const configRef = entry.valueFrom?.configMapKeyRef;
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (secretRef) {
      const secretName = defined(secretRef.name, 'secretKeyRef.name');
      if (!EXTERNAL_SECRETS.has(secretName)) named(resources, 'Secret', secretName);
      expect(secrets, `${secretRef.key} is documented in secret.example.yaml`).toHaveProperty(secretRef.key);
      env[entry.name] = secrets[secretRef.key] as string;
    } else if (configRef) {
      const data = configMapData(defined(configRef.name, 'configMapKeyRef.name'));
      // An optional key the ConfigMap leaves out leaves the variable unset, as Kubernetes does.
      if (configRef.optional && !(configRef.key in data)) continue;
      expect(data, `${configRef.name} has ${configRef.key}`).toHaveProperty(configRef.key);
      env[entry.name] = data[configRef.key] as string;
    } else throw new Error(`${entry.name}: no value`);
  }
  return { env, names };
}

function probePort(container: IContainer, probe: IProbe | undefined, what: string): number {
  const port = defined(probe?.httpGet?.port, `${container.name}: ${what} httpGet port`);
  if (typeof port === 'number') return port;
  return defined(container.ports?.find((p) => p.name === port)?.containerPort, `${container.name}: port ${port}`);
}

/** Seconds the preStop hook pauses (exec `sleep N` or the sleep action); 0 without one. */
function preStopSeconds(container: IContainer): number {
  const hook = container.lifecycle?.preStop as
    | { exec?: { command?: string[] }; sleep?: { seconds: number }; httpGet?: unknown }
    | undefined;
  if (!hook) return 0;
  if (hook.sleep) return hook.sleep.seconds;
  const command = defined(hook.exec?.command, `${container.name}: preStop command`);
  expect(command[0], 'preStop sleeps').toMatch(/^(\/bin\/)?sleep$/);
  return Number(command[1]);
}

/** Everything the manifests must hold, for the raw base and for the rendered production overlay. */
function checkManifests(resources: Resource[], label: string) {
  const secrets = secretExample();
  const pods = workloads(resources);
  const podOf = (component: string) =>
    defined(
      pods.find((w) => w.component === component),
      `${label}: ${component}`,
    );
  const containerOf = (component: string) => defined(podOf(component).pod.containers[0], `${component} container`);
  const envOf = (component: string) => containerEnv(resources, containerOf(component), secrets).env;
  const scaledObjects = ofKind(resources, 'ScaledObject');
  const hpas = ofKind(resources, 'HorizontalPodAutoscaler');
  const roleOf = (component: string) => GATEWAY_ROLES[component];

  it(`${label}: every workload runs node on its entry point, as non-root, read-only, without capabilities`, () => {
    const images = new Set<string>();
    const gatewayImages = new Set<string>();
    for (const { name, component, pod } of pods) {
      expect(pod.automountServiceAccountToken, `${name}: no API token`).toBe(false);
      expect(pod.securityContext?.seccompProfile?.type, `${name}: seccomp`).toBe('RuntimeDefault');
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${label} ${name}/${container.name}`;
        const role = roleOf(component);
        if (role) {
          checkGatewayCommand(container.command, role, where);
          gatewayImages.add(defined(container.image, `${where}: image`));
        } else {
          const script = checkNodeCommand(container.command, where);
          expect(ENTRY_POINTS[script], where).toBeDefined();
          const expected = { api: API_ENTRY, worker: WORKER_ENTRY, ml: ML_ENTRY, migrate: MIGRATE_ENTRY }[component];
          expect(script, `${where}: the ${component} entry point`).toBe(expected);
          images.add(defined(container.image, `${where}: image`));
        }

        const security = container.securityContext;
        expect(security?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
        expect(security?.runAsUser ?? pod.securityContext?.runAsUser, `${where}: not uid 0`).not.toBe(0);
        expect(security?.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
        expect(security?.readOnlyRootFilesystem, `${where}: readOnlyRootFilesystem`).toBe(true);
        expect(security?.capabilities?.drop, `${where}: drop ALL`).toContain('ALL');
        expect(security?.capabilities?.add ?? [], `${where}: adds none`).toEqual([]);
        expect(security?.privileged ?? false, `${where}: privileged`).toBe(false);

        for (const resource of ['cpu', 'memory']) {
          const request = quantity(container.resources?.requests?.[resource], `${where}: ${resource} request`);
          const limit = quantity(container.resources?.limits?.[resource], `${where}: ${resource} limit`);
          expect(limit, `${where}: ${resource} limit ≥ request`).toBeGreaterThanOrEqual(request);
        }
      }
    }
    expect(images.size, `${label}: one image for every role`).toBe(1);
    expect(gatewayImages.size, `${label}: one gateway image for the gateway and appointments`).toBe(1);
    expect(
      [...gatewayImages].some((image) => images.has(image)),
      'the gateway has its own image',
    ).toBe(false);
    for (const component of Object.keys(GATEWAY_ROLES)) podOf(component);
  });

  it(`${label}: every container gets only settings its config reads, and settings it accepts`, () => {
    for (const { name, component, pod } of pods) {
      const role = roleOf(component);
      for (const container of pod.containers) {
        const { env, names } = containerEnv(resources, container, secrets);
        for (const key of names) expect(role ? GATEWAY_CONFIG_KEYS : CONFIG_KEYS, `${name}: ${key}`).toContain(key);
        if (role) {
          expect(gatewayConfigProblems(env, role), `${label} ${name} starts with these settings`).toBe('');
          continue;
        }
        const mode = defined(ENTRY_POINTS[container.command?.[1] ?? ''], `${name}: entry point`);
        expect(configProblems(env, mode), `${label} ${name} starts with these settings`).toBe('');
      }
    }
    // Credentials come from the Secret, never from a ConfigMap.
    for (const configMap of ofKind(resources, 'ConfigMap')) {
      for (const key of Object.keys(configMap.data ?? {})) {
        expect([
          'DATABASE_URL',
          'REDIS_URL',
          'NATS_URL',
          'JWT_SECRET',
          'LLM_API_KEY',
          'APPOINTMENTS_DATABASE_URL',
          'GATEWAY_HMAC_SECRET',
        ]).not.toContain(key);
      }
    }
    // The appointments subgraph accepts the API's tokens: it takes every token setting from where
    // the API takes it (the same Secret key, the same ConfigMap), so the two cannot drift apart.
    const secretOf = (component: string) =>
      containerOf(component).env?.find((e) => e.name === 'JWT_SECRET')?.valueFrom?.secretKeyRef;
    expect(defined(secretOf('appointments'), 'appointments JWT_SECRET')).toEqual(secretOf('api'));
    // The appointments subgraph serves only what the gateway signed: both read the one Secret key.
    const signingKeyOf = (component: string) =>
      containerOf(component).env?.find((e) => e.name === 'GATEWAY_HMAC_SECRET')?.valueFrom?.secretKeyRef;
    expect(defined(signingKeyOf('appointments'), 'appointments GATEWAY_HMAC_SECRET')).toEqual(signingKeyOf('gateway'));
    const apiConfigMaps = (containerOf('api').envFrom ?? []).map((source) => source.configMapRef?.name);
    for (const key of ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE']) {
      const ref = containerOf('appointments').env?.find((e) => e.name === key)?.valueFrom?.configMapKeyRef;
      expect(ref?.key, `appointments ${key}`).toBe(key);
      expect(apiConfigMaps, `appointments ${key} from the API's ConfigMap`).toContain(ref?.name);
      expect(envOf('appointments')[key], `appointments ${key}`).toBe(envOf('api')[key]);
    }
  });

  it(`${label}: references only ConfigMaps it defines and Secrets it defines or documents`, () => {
    const configMaps: string[] = [];
    const secretNames: string[] = [];
    for (const { pod } of pods) {
      for (const container of pod.containers) {
        for (const source of container.envFrom ?? []) {
          if (source.configMapRef?.name) configMaps.push(source.configMapRef.name);
        }
        for (const entry of container.env ?? []) {
          if (entry.valueFrom?.configMapKeyRef?.name) configMaps.push(entry.valueFrom.configMapKeyRef.name);
          if (entry.valueFrom?.secretKeyRef?.name) secretNames.push(entry.valueFrom.secretKeyRef.name);
        }
      }
      for (const volume of pod.volumes ?? []) {
        if (volume.configMap?.name) configMaps.push(volume.configMap.name);
        if (volume.secret?.secretName) secretNames.push(volume.secret.secretName);
      }
    }
    for (const ingress of ofKind(resources, 'Ingress')) {
      for (const tls of ingress.spec?.tls ?? []) secretNames.push(defined(tls.secretName, 'tls.secretName'));
    }
    expect(configMaps.length).toBeGreaterThan(0);
    expect(secretNames.length).toBeGreaterThan(0);
    for (const name of configMaps) named(resources, 'ConfigMap', name);
    const own = new Set(ofKind(resources, 'Secret').map((s) => s.metadata?.name));
    for (const name of secretNames) expect(own.has(name) || EXTERNAL_SECRETS.has(name), name).toBe(true);
  });

  it(`${label}: the API probes /health/live and /health/ready on its port and drains before SIGKILL`, () => {
    const { pod } = podOf('api');
    const api = containerOf('api');
    const env = envOf('api');
    const port = Number(env.PORT ?? 4000);
    expect(api.ports?.map((p) => p.containerPort)).toContain(port);
    expect(api.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(probePort(api, api.livenessProbe, 'liveness')).toBe(port);
    expect(api.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(probePort(api, api.readinessProbe, 'readiness')).toBe(port);
    // Readiness waits up to HEALTH_TIMEOUT_MS per dependency: the probe must wait longer.
    expect((api.readinessProbe?.timeoutSeconds ?? 1) * 1000).toBeGreaterThan(Number(env.HEALTH_TIMEOUT_MS ?? 1000));

    const pause = preStopSeconds(api);
    expect(pause, 'a preStop pause lets the load balancer stop routing first').toBeGreaterThanOrEqual(3);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    expect(grace, 'terminationGracePeriodSeconds ≥ preStop + the 30 s drain').toBeGreaterThanOrEqual(pause + 30);
    const drainMs = Number(env.SHUTDOWN_GRACE_MS ?? 25_000);
    expect(drainMs).toBeLessThanOrEqual(30_000);
    expect(drainMs).toBeLessThan((grace - pause) * 1000);
  });

  it(`${label}: workers probe WORKER_HEALTH_PORT, the model server its OIP v2 health, each drains in time`, () => {
    const worker = containerOf('worker');
    const port = Number(envOf('worker').WORKER_HEALTH_PORT ?? 8082);
    expect(worker.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(probePort(worker, worker.livenessProbe, 'liveness')).toBe(port);
    expect(worker.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(probePort(worker, worker.readinessProbe, 'readiness')).toBe(port);

    const ml = containerOf('ml');
    const mlPort = Number(envOf('ml').ML_PORT ?? 8081);
    expect(ml.livenessProbe?.httpGet?.path).toBe('/v2/health/live');
    expect(ml.readinessProbe?.httpGet?.path).toBe('/v2/health/ready');
    expect(probePort(ml, ml.readinessProbe, 'readiness')).toBe(mlPort);

    for (const { name, pod } of pods.filter((w) => w.kind === 'Deployment')) {
      const pause = Math.max(...pod.containers.map(preStopSeconds));
      expect(pod.terminationGracePeriodSeconds ?? 30, name).toBeGreaterThanOrEqual(pause + 30);
    }
  });

  it(`${label}: the gateway and the appointments subgraph probe their health paths on their ports and drain in time`, () => {
    const health = {
      gateway: {
        port: 'GATEWAY_PORT',
        fallback: 4080,
        live: '/healthcheck',
        ready: '/readiness',
        drain: ['GATEWAY_SHUTDOWN_GRACE_MS', 20_000],
      },
      appointments: {
        port: 'APPOINTMENTS_PORT',
        fallback: 4100,
        live: '/health/live',
        ready: '/health/ready',
        drain: ['APPOINTMENTS_SHUTDOWN_GRACE_MS', 25_000],
      },
    } as const;
    for (const [component, { port: portKey, fallback, live, ready, drain }] of Object.entries(health)) {
      const { pod } = podOf(component);
      const container = containerOf(component);
      const env = envOf(component);
      const port = Number(env[portKey] ?? fallback);
      expect(
        container.ports?.map((p) => p.containerPort),
        component,
      ).toContain(port);
      for (const [probe, path] of [
        [container.startupProbe, live],
        [container.livenessProbe, live],
        [container.readinessProbe, ready],
      ] as const) {
        expect(probe?.httpGet?.path, component).toBe(path);
        expect(probePort(container, probe, path), `${component} ${path}`).toBe(port);
      }
      // Both are behind a Service or the ingress controller: pause first, then drain within the grace.
      const pause = preStopSeconds(container);
      expect(pause, `${component}: a preStop pause`).toBeGreaterThanOrEqual(3);
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      const [drainKey, drainFallback] = drain;
      expect(Number(env[drainKey] ?? drainFallback), `${component}: ${drainKey}`).toBeLessThan((grace - pause) * 1000);
    }
    // /health/ready waits up to 1 s for the database: the probe must wait longer.
    expect(containerOf('appointments').readinessProbe?.timeoutSeconds ?? 1).toBeGreaterThan(1);
  });

  it(`${label}: Services select their pods and reach a declared port; the API finds the model server`, () => {
    for (const service of ofKind(resources, 'Service')) {
      const selected = pods.filter((w) => selects({ matchLabels: service.spec?.selector }, w.labels));
      expect(
        selected.map((w) => w.name),
        `${service.metadata?.name} selects`,
      ).toHaveLength(1);
      const container = defined(selected[0]?.pod.containers[0], 'container');
      for (const port of service.spec?.ports ?? []) {
        const target = port.targetPort ?? port.port;
        const found = container.ports?.some((p) => p.name === target || p.containerPort === target);
        expect(found, `${service.metadata?.name}: targetPort ${target}`).toBe(true);
      }
    }
    const mlUrl = new URL(defined(envOf('api').ML_URL, 'ML_URL'));
    const mlService = named(resources, 'Service', mlUrl.hostname.split('.')[0] ?? '');
    expect(mlService.spec?.ports?.map((p) => String(p.port))).toContain(mlUrl.port || '80');
    expect(selects({ matchLabels: mlService.spec?.selector }, podOf('ml').labels)).toBe(true);
  });

  it(`${label}: the gateway reaches the API's /subgraph and the appointments subgraph through their Services`, () => {
    /** The container port a URL reaches through the Service it names, on the pods of `component`. */
    const reached = (url: URL, component: string) => {
      const service = named(resources, 'Service', url.hostname.split('.')[0] ?? '');
      expect(selects({ matchLabels: service.spec?.selector }, podOf(component).labels), `${url} → ${component}`).toBe(
        true,
      );
      const servicePort = service.spec?.ports?.find((p) => String(p.port) === (url.port || '80'));
      const target =
        defined(servicePort, `${url}: a port of ${service.metadata?.name}`).targetPort ?? servicePort?.port;
      const container = containerOf(component);
      return container.ports?.find((p) => p.name === target || p.containerPort === target)?.containerPort;
    };
    const env = envOf('gateway');
    const copilot = new URL(defined(env.COPILOT_SUBGRAPH_URL, 'COPILOT_SUBGRAPH_URL'));
    expect(copilot.pathname).toBe('/subgraph');
    expect(reached(copilot, 'api')).toBe(Number(envOf('api').PORT ?? 4000));
    expect(envOf('api').SUBGRAPH ?? 'true', 'the API serves /subgraph').not.toMatch(/^(false|0)$/);
    const appointments = new URL(defined(env.APPOINTMENTS_SUBGRAPH_URL, 'APPOINTMENTS_SUBGRAPH_URL'));
    expect(appointments.pathname).toBe('/graphql');
    expect(reached(appointments, 'appointments')).toBe(Number(envOf('appointments').APPOINTMENTS_PORT ?? 4100));
  });

  it(`${label}: one Ingress each routes /graphql to the API and the gateway, with WebSocket-length timeouts`, () => {
    const ingresses = ofKind(resources, 'Ingress');
    const routes = ingresses.flatMap((ingress) =>
      (ingress.spec?.rules ?? []).flatMap((rule) =>
        (rule.http?.paths ?? []).map((path) => {
          const backend = defined(path.backend.service, 'backend service');
          const service = named(resources, 'Service', backend.name);
          const ports = service.spec?.ports ?? [];
          expect(ports.some((p) => p.name === backend.port?.name || p.port === backend.port?.number)).toBe(true);
          const [component, ...more] = pods
            .filter((w) => selects({ matchLabels: service.spec?.selector }, w.labels))
            .map((w) => w.component);
          expect(more).toEqual([]);
          return { ingress: ingress.metadata?.name, host: rule.host ?? '*', path: path.path ?? '/', component };
        }),
      ),
    );
    for (const component of ['api', 'gateway']) {
      const own = routes.filter((r) => r.component === component);
      expect(new Set(own.map((r) => r.ingress)).size, `${component}: one Ingress`).toBe(1);
      expect(
        own.map((r) => r.path),
        component,
      ).toContain('/graphql');
      const ingress = named(resources, 'Ingress', defined(own[0]?.ingress, 'ingress'));
      const annotations = defined(ingress.metadata?.annotations, 'annotations');
      for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
        expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`]), `${component} ${key}`).toBeGreaterThanOrEqual(
          3600,
        );
      }
    }
    // Nothing else is public: not the appointments subgraph, and not the API's /subgraph (both are for
    // the gateway; a path such as `/` would cover it).
    expect(routes.map((r) => r.component).filter((c) => c !== 'api' && c !== 'gateway')).toEqual([]);
    for (const route of routes.filter((r) => r.component === 'api')) {
      expect('/subgraph'.startsWith(route.path), `${route.ingress} ${route.path} covers /subgraph`).toBe(false);
    }
    // Two Ingresses on the same host and path would take each other's traffic.
    const keys = routes.map((r) => `${r.host}${r.path}`);
    expect(new Set(keys).size, keys.join(', ')).toBe(keys.length);
  });

  it(`${label}: the API and the gateway autoscale on CPU from at least two pods; PDBs never block a drain`, () => {
    const floors: Record<string, number> = { worker: scaledObjects[0]?.spec.minReplicaCount ?? 0 };
    for (const component of ['api', 'gateway']) {
      const [hpa, ...others] = hpas.filter((h) => h.spec?.scaleTargetRef.name === podOf(component).name);
      expect(others, `${component}: one HorizontalPodAutoscaler`).toEqual([]);
      expect(hpa?.spec?.scaleTargetRef, component).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
      expect(hpa?.spec?.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu')).toBe(true);
      const minimum = hpa?.spec?.minReplicas ?? 1;
      expect(minimum, component).toBeGreaterThanOrEqual(2);
      expect(hpa?.spec?.maxReplicas, component).toBeGreaterThan(minimum);
      floors[component] = minimum;
    }
    expect(hpas, 'no other autoscaler').toHaveLength(2);
    // A fixed count, at least two, so one pod can be evicted while the other serves.
    const appointments = named(resources, 'Deployment', podOf('appointments').name).spec?.replicas ?? 1;
    expect(appointments).toBeGreaterThanOrEqual(2);
    floors.appointments = appointments;

    for (const component of ['api', 'worker', 'gateway', 'appointments']) {
      const { labels, name } = podOf(component);
      // The autoscaler owns the count; a replicas field would be reset by every apply.
      if (component !== 'appointments') {
        expect(named(resources, 'Deployment', name).spec?.replicas, `${name}: no replicas field`).toBeUndefined();
      }
      const budgets = ofKind(resources, 'PodDisruptionBudget').filter((p) => selects(p.spec?.selector, labels));
      expect(budgets, `${component}: one PodDisruptionBudget`).toHaveLength(1);
      const spec = budgets[0]?.spec;
      if (spec?.minAvailable !== undefined) {
        expect(typeof spec.minAvailable === 'number' && spec.minAvailable < (floors[component] ?? 0)).toBe(true);
      } else {
        expect(String(spec?.maxUnavailable ?? '0')).not.toMatch(/^0%?$/);
      }
    }
  });

  it(`${label}: KEDA scales the workers on the lag of the consumer jobNames() names`, () => {
    const [scaled, ...others] = scaledObjects;
    expect(others).toEqual([]);
    const spec = defined(scaled?.spec, 'ScaledObject spec');
    expect(spec.scaleTargetRef.name).toBe(podOf('worker').name);
    expect(spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    const names = jobNames(envOf('worker').NATS_NAMESPACE ?? 'cc');
    const triggers = spec.triggers.filter((t) => t.type === 'nats-jetstream');
    expect(triggers).toHaveLength(1);
    const metadata = triggers[0]?.metadata as Record<string, string>;
    expect(metadata.stream).toBe(names.stream);
    expect(metadata.consumer).toBe(names.consumer);
    expect(metadata.account).toBe('$G');
    expect(metadata.natsServerMonitoringEndpoint).toMatch(/^[a-z0-9.-]+:\d+$/);
    expect(Number(metadata.lagThreshold)).toBeGreaterThan(0);
    expect(spec.minReplicaCount ?? 0).toBeGreaterThanOrEqual(1);
    expect(spec.maxReplicaCount ?? 100).toBeGreaterThan(spec.minReplicaCount ?? 0);
    // Nothing else fights KEDA's own HPA over the workers.
    expect(hpas.some((h) => h.spec?.scaleTargetRef.name === podOf('worker').name)).toBe(false);
  });

  it(`${label}: the migration Job runs once, to completion, with the database URL only`, () => {
    const { pod } = podOf('migrate');
    expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);
    expect(containerOf('migrate').env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toBeDefined();
  });

  it(`${label}: NetworkPolicies let only the API and workers (and the migration, the appointments subgraph) reach the data stores`, () => {
    const policies = ofKind(resources, 'NetworkPolicy');
    const governing = (labels: Record<string, string>, type: 'Ingress' | 'Egress') =>
      policies.filter((p) => selects(p.spec?.podSelector, labels) && p.spec?.policyTypes?.includes(type));
    const targets = [...pods.map((w) => w.labels), ...Object.values(DATA_STORES).map((s) => s.labels)];
    for (const policy of policies) {
      expect(
        targets.some((labels) => selects(policy.spec?.podSelector, labels)),
        `${policy.metadata?.name}`,
      ).toBe(true);
      expect(policy.spec?.policyTypes?.length, `${policy.metadata?.name}: explicit policyTypes`).toBeGreaterThan(0);
    }
    const peerComponents = (peers: INetworkPolicyPeer[] | undefined) => {
      expect(peers?.length ?? 0, 'no rule open to everyone').toBeGreaterThan(0);
      return (peers ?? []).flatMap((peer) => {
        if (peer.namespaceSelector || peer.ipBlock) return ['<outside>'];
        return pods.filter((w) => selects(peer.podSelector, w.labels)).map((w) => w.component);
      });
    };

    // In-cluster data stores admit exactly their clients on their port.
    for (const [store, { labels, port, clients }] of Object.entries(DATA_STORES)) {
      const rules = governing(labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
      const onPort = rules.filter((r) => !r.ports || r.ports.some((p) => p.port === port));
      const admitted = new Set(onPort.flatMap((r) => peerComponents(r.from)));
      expect([...admitted].sort(), store).toEqual(clients);
    }

    // The API and the gateway admit the ingress controller's namespace, the API also the gateway's
    // pods (/subgraph is on its port), the appointments subgraph only the gateway, the model server
    // only the API, the workers nobody.
    const namespace = (name: string) => ({ 'kubernetes.io/metadata.name': name });
    const ingressPeers = (component: string, port: number) => {
      const rules = governing(podOf(component).labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
      expect(rules.length, `${component}: ingress rules`).toBeGreaterThan(0);
      return rules.flatMap((rule) => {
        expect(
          rule.ports?.map((p) => p.port),
          `${component}: its own port only`,
        ).toEqual([port]);
        return defined(rule.from, `${component}: from`).map((peer) => {
          expect(peer.ipBlock, component).toBeUndefined();
          if (peer.namespaceSelector) {
            expect(peer.podSelector, `${component}: a whole namespace`).toBeUndefined();
            expect(selects(peer.namespaceSelector, namespace(INGRESS_CONTROLLER_NAMESPACE)), component).toBe(true);
            expect(selects(peer.namespaceSelector, namespace('default')), component).toBe(false);
            return 'ingress-controller';
          }
          const selected = pods.filter((w) => selects(peer.podSelector, w.labels)).map((w) => w.component);
          expect(selected.length, `${component}: a peer that selects pods`).toBeGreaterThan(0);
          return selected.join('+');
        });
      });
    };
    const apiPort = Number(envOf('api').PORT ?? 4000);
    const gatewayPort = Number(envOf('gateway').GATEWAY_PORT ?? 4080);
    const appointmentsPort = Number(envOf('appointments').APPOINTMENTS_PORT ?? 4100);
    expect(new Set(ingressPeers('api', apiPort))).toEqual(new Set(['ingress-controller', 'gateway']));
    expect(new Set(ingressPeers('gateway', gatewayPort))).toEqual(new Set(['ingress-controller']));
    expect(new Set(ingressPeers('appointments', appointmentsPort))).toEqual(new Set(['gateway']));
    // Only the ingress controller and the gateway reach the API; the API may trust the
    // X-Forwarded-For the controller sets because the gateway passes on no client's.
    expect(envOf('api').TRUST_PROXY).toBe('true');
    const gatewayConfig = read(`${GATEWAY_DIR}/gateway.config.ts`);
    const propagated = gatewayConfig.slice(gatewayConfig.indexOf('fromClientToSubgraphs'));
    expect(propagated.length, 'gateway.config.ts propagates headers in fromClientToSubgraphs').toBeLessThan(
      gatewayConfig.length,
    );
    expect(propagated.slice(0, propagated.indexOf('}),')), 'gateway passes on X-Forwarded-For').not.toMatch(
      /forwarded/i,
    );
    const mlRules = governing(podOf('ml').labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
    expect(new Set(mlRules.flatMap((r) => peerComponents(r.from)))).toEqual(new Set(['api']));
    expect(governing(podOf('worker').labels, 'Ingress').length).toBeGreaterThan(0);
    expect(governing(podOf('worker').labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? [])).toEqual([]);

    // Egress: DNS and the data stores' ports (plus the model server and HTTPS where needed), nothing else.
    const allowed: Record<string, { required: number[]; permitted: number[] }> = {
      api: { required: [53, 5432, 6379, 4222, 8081], permitted: [443] },
      worker: { required: [53, 5432, 6379, 4222], permitted: [443] },
      migrate: { required: [53, 5432], permitted: [] },
      ml: { required: [], permitted: [] },
      gateway: { required: [53, apiPort, appointmentsPort], permitted: [] },
      appointments: { required: [53, 5432], permitted: [443] },
    };
    for (const [component, { required, permitted }] of Object.entries(allowed)) {
      const egressPolicies = governing(podOf(component).labels, 'Egress');
      expect(egressPolicies.length, `${component}: egress restricted`).toBeGreaterThan(0);
      const rules = egressPolicies.flatMap((p) => p.spec?.egress ?? []);
      const ports = rules.flatMap((rule) => {
        expect(rule.ports?.length ?? 0, `${component}: every egress rule names its ports`).toBeGreaterThan(0);
        return (rule.ports ?? []).map((p) => Number(p.port));
      });
      for (const port of required) expect(ports, `${component} reaches ${port}`).toContain(port);
      for (const port of ports) expect([...required, ...permitted], `${component} reaches only`).toContain(port);
      if (required.includes(53)) {
        expect(rules.some((r) => r.ports?.some((p) => p.port === 53 && p.protocol === 'UDP'))).toBe(true);
      }
    }
    // The gateway's subgraph ports lead to the subgraphs' pods and nowhere else.
    const owners: Record<number, string> = { [apiPort]: 'api', [appointmentsPort]: 'appointments' };
    for (const rule of governing(podOf('gateway').labels, 'Egress').flatMap((p) => p.spec?.egress ?? [])) {
      for (const port of (rule.ports ?? []).map((p) => Number(p.port)).filter((p) => p in owners)) {
        expect(new Set(peerComponents(rule.to)), `gateway egress to ${port}`).toEqual(new Set([owners[port]]));
      }
    }
  });
}

describe('k8s/base', () => {
  const base = kustomization(BASE);
  const files = base.resources ?? [];

  it('lists every manifest beside it except the placeholder Secret, which it must never apply', () => {
    const beside = readdirSync(join(ROOT, BASE)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files).not.toContain(posix.basename(SECRET_EXAMPLE));
    expect([...files].sort()).toEqual(beside.filter((f) => f !== posix.basename(SECRET_EXAMPLE)).sort());
  });

  it('is made of known kinds, each valid against the Kubernetes (or KEDA) schema', () => {
    const kinds = resourcesOf(BASE).map((r) => `${r.apiVersion} ${r.kind}`);
    for (const expected of [
      'apps/v1 Deployment',
      'v1 Service',
      'networking.k8s.io/v1 Ingress',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'policy/v1 PodDisruptionBudget',
      'batch/v1 Job',
      'v1 ConfigMap',
      'networking.k8s.io/v1 NetworkPolicy',
      'keda.sh/v1alpha1 ScaledObject',
    ]) {
      expect(kinds).toContain(expected);
    }
    // And the schema does reject a broken object.
    expect(() =>
      validateManifest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, 't'),
    ).toThrow(/selector/);
  });

  it('uses the job names of a namespace `cc` (src/jobs/diagnosis.job.ts)', () => {
    const resources = resourcesOf(BASE);
    const data = named(resources, 'ConfigMap', 'clinical-copilot-config').data ?? {};
    expect(data.NATS_NAMESPACE ?? 'cc').toBe('cc');
    const metadata = ofKind(resources, 'ScaledObject')[0]?.spec.triggers[0]?.metadata as Record<string, string>;
    expect({ stream: metadata.stream, consumer: metadata.consumer }).toEqual({
      stream: jobNames('cc').stream,
      consumer: jobNames('cc').consumer,
    });
  });

  checkManifests(resourcesOf(BASE), 'base');
});

describe('k8s/overlays/production', () => {
  const overlay = kustomization(PRODUCTION);
  const baseResources = resourcesOf(BASE);

  it('names resources and patches that exist, and patches objects the base defines', () => {
    for (const resource of overlay.resources ?? []) {
      const path = posix.normalize(posix.join(PRODUCTION, resource));
      expect(existsSync(join(ROOT, path)), path).toBe(true);
      if (statSync(join(ROOT, path)).isDirectory())
        expect(existsSync(join(ROOT, path, 'kustomization.yaml'))).toBe(true);
      else for (const doc of yamlDocuments(read(path), path)) validateManifest(doc, path);
    }
    const patches = overlay.patches ?? [];
    expect(patches.length).toBeGreaterThan(0);
    for (const { path, target } of patches) {
      const file = posix.join(PRODUCTION, defined(path, 'patch path'));
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      const patch: unknown = parse(read(file));
      if (Array.isArray(patch)) {
        // A JSON 6902 patch: its target exists, and every path it replaces or removes exists too.
        const wanted = defined(target, `${file}: target`);
        const object = defined(
          baseResources.find(
            (r) =>
              r.kind === wanted.kind &&
              r.metadata?.name === wanted.name &&
              r.apiVersion === [wanted.group, wanted.version].filter(Boolean).join('/'),
          ),
          `${file}: target ${wanted.kind} ${wanted.name}`,
        );
        for (const op of patch as { op: string; path: string }[]) {
          const segments = op.path.split('/').slice(1);
          const parentOf = op.op === 'add' ? segments.slice(0, -1) : segments;
          let node: unknown = object;
          for (const segment of parentOf) {
            expect(node !== null && typeof node === 'object' && segment in node, `${file}: ${op.path}`).toBe(true);
            node = (node as Record<string, unknown>)[segment];
          }
        }
      } else {
        const { apiVersion, kind, metadata } = patch as {
          apiVersion: string;
          kind: string;
          metadata: { name: string };
        };
        const match = baseResources.some(
          (r) => r.apiVersion === apiVersion && r.kind === kind && r.metadata?.name === metadata.name,
        );
        expect(match, `${file} patches ${kind} ${metadata.name} of the base`).toBe(true);
      }
    }
  });

  it('pins each image to a tag', () => {
    const images = overlay.images ?? [];
    const baseImages = new Set(workloads(baseResources).flatMap((w) => w.pod.containers.map((c) => c.image)));
    expect(baseImages.size, 'the API image and the gateway image').toBe(2);
    expect(images.map((i) => i.name).sort()).toEqual([...baseImages].sort());
    for (const image of images) expect(image.newTag ?? 'latest').not.toBe('latest');
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const render = (dir: string) =>
    yamlDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' }), dir).map((doc) =>
      validateManifest(doc, `rendered ${dir}`),
    );

  describe.skipIf(kubectl.status !== 0)('rendered by kustomize (kubectl kustomize)', () => {
    const production = render(PRODUCTION);
    const base = render(BASE);

    it('puts everything in its namespace, which enforces the restricted Pod Security Standard', () => {
      const namespace = defined(overlay.namespace, 'namespace');
      const [ns] = ofKind(production, 'Namespace');
      expect(ns?.metadata?.name).toBe(namespace);
      expect(ns?.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
      for (const r of production.filter((r) => r.kind !== 'Namespace')) {
        expect(r.metadata?.namespace, `${r.kind} ${r.metadata?.name}`).toBe(namespace);
      }
      expect(production.length).toBe(base.length + 1);
    });

    it('runs the pinned images and more of everything than the base', () => {
      const pinned = new Map(
        defined(overlay.images, 'images').map((i) => [i.name, `${i.newName ?? i.name}:${i.newTag}`] as const),
      );
      const baseImage = new Map(workloads(baseResources).map((w) => [w.component, w.pod.containers[0]?.image]));
      for (const w of workloads(production)) {
        const expected = defined(pinned.get(defined(baseImage.get(w.component), `${w.component}: base image`)), 'pin');
        for (const c of w.pod.containers) expect(c.image, w.name).toBe(expected);
      }

      for (const target of ['clinical-copilot-api', 'clinical-copilot-gateway']) {
        const hpa = (rs: Resource[]) =>
          defined(
            ofKind(rs, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef.name === target)?.spec,
            `${target} hpa`,
          );
        expect(hpa(production).minReplicas ?? 1, target).toBeGreaterThan(hpa(base).minReplicas ?? 1);
        expect(hpa(production).maxReplicas, target).toBeGreaterThan(hpa(base).maxReplicas);
      }
      const scaled = (rs: Resource[]) => defined(ofKind(rs, 'ScaledObject')[0]?.spec, 'scaledobject');
      expect(scaled(production).maxReplicaCount ?? 100).toBeGreaterThan(scaled(base).maxReplicaCount ?? 100);
      const cpu = (rs: Resource[], component: string) => {
        const w = defined(
          workloads(rs).find((x) => x.component === component),
          component,
        );
        return quantity(w.pod.containers[0]?.resources?.requests?.cpu, `${component} cpu`);
      };
      for (const component of ['api', 'worker', 'gateway', 'appointments'])
        expect(cpu(production, component), component).toBeGreaterThan(cpu(base, component));
    });

    checkManifests(production, 'production (rendered)');
  });
});

describe('docs/deployment.md', () => {
  it('says how to run the compose file and the production overlay, and which Secrets to create', () => {
    const section = read('docs/deployment.md');
    for (const text of [
      'docker compose up',
      'node dist/src/token.js',
      'kubectl apply -k k8s/overlays/production',
      'KEDA',
      ...EXTERNAL_SECRETS,
      // Every key of the app's Secret, and how to build the gateway's image (from gateway/).
      ...Object.keys(secretExample()),
      'gateway/Dockerfile',
      'docker build -t registry.example.com/clinical-copilot-gateway:0.1.0 gateway',
    ]) {
      expect(section).toContain(text);
    }
    // The token command it shows runs a built entry point that exists.
    checkNodeCommand(['node', 'dist/src/token.js'], 'README token command');
  });
});
