import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { validateEnvoyConfig, validateEnvoyYaml, type EnvoyConfig } from "./envoy.js";
import {
  CHART,
  ciValueFiles,
  REPO,
  run,
  template,
  TOOL_BUILD_TIMEOUT_MS,
  tools,
  validateObjects,
  yamlToJson,
  type K8sObject,
  type Tools,
} from "./tools.js";

/**
 * The Helm chart, offline: helm lint, helm template with the default values and
 * every CI value set, each rendered object decoded strictly into the Kubernetes
 * API types (tools/k8s-check), and the rules every object of the chart keeps.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CFS_SERVICES: Record<string, { port: number; metricsPort: number; kind: string }> = {
  chunker: { port: 8002, metricsPort: 9102, kind: "Deployment" },
  metadata: { port: 8000, metricsPort: 9100, kind: "Deployment" },
  "block-storage": { port: 8003, metricsPort: 9103, kind: "Deployment" },
  sync: { port: 8001, metricsPort: 9101, kind: "StatefulSet" },
};
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "Job"]);

/** Value sets rendered and checked: [label, value files relative to the chart]. */
const VALUE_SETS: Array<[string, string[]]> = [
  ["default values", []],
  ...ciValueFiles().map((f): [string, string[]] => [f, [f]]),
  ["kind", ["../../kind/values.yaml"]],
  ["kind + ci profile", ["../../kind/values.yaml", "../../kind/ci.yaml"]],
];

interface Render {
  objects: K8sObject[];
  values: Json;
}

let t: Tools;
const renders = new Map<string, Render>();

/** The chart's values merged like Helm does (maps merge, lists and scalars replace). */
async function mergedValues(files: readonly string[]): Promise<Json> {
  let values: Json = {};
  for (const f of ["values.yaml", ...files]) {
    const [overlay] = await yamlToJson(t, readFileSync(join(CHART, f), "utf8"));
    values = merge(values, overlay);
  }
  return values;
}

function merge(base: Json, overlay: Json): Json {
  if (!isObject(base) || !isObject(overlay)) return overlay === undefined ? base : overlay;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = merge(base[k], v);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

beforeAll(async () => {
  t = await tools();
  for (const [label, files] of VALUE_SETS) {
    const rendered = await template(t, files);
    if (rendered.code !== 0) throw new Error(`helm template (${label}) failed:\n${rendered.stderr}`);
    const { objects, errors } = await validateObjects(t, rendered.stdout);
    if (errors.length > 0) throw new Error(`${label}: invalid objects:\n${errors.join("\n")}`);
    renders.set(label, { objects, values: await mergedValues(files) });
  }
}, TOOL_BUILD_TIMEOUT_MS);

function podSpecOf(o: K8sObject): Json | undefined {
  return WORKLOAD_KINDS.has(o.kind) ? o.spec.template.spec : undefined;
}

function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
}

function component(o: K8sObject): string {
  return o.metadata.labels?.["app.kubernetes.io/component"] ?? "";
}

function envOf(container: Json): Record<string, Json> {
  return Object.fromEntries((container.env ?? []).map((e: Json) => [e.name, e]));
}

function gatewayConfig(objects: K8sObject[]): Promise<EnvoyConfig> {
  const cm = objects.find((o) => o.kind === "ConfigMap" && component(o) === "gateway");
  if (!cm) throw new Error("no gateway ConfigMap");
  return yamlToJson<EnvoyConfig>(t, cm.data["envoy.yaml"]).then((docs) => docs[0]!);
}

describe("helm lint", () => {
  it("passes with the default values and every CI value set, strictly", async () => {
    for (const files of [[], ...ciValueFiles().map((f) => [f])]) {
      const { code, stdout, stderr } = await run(t.helm, ["lint", "--strict", CHART, "--kube-version", "1.34.0", ...files.flatMap((f) => ["-f", join(CHART, f)])]);
      expect(code, `${files.join(",")}: ${stdout}${stderr}`).toBe(0);
    }
  });
});

describe.each(VALUE_SETS.map(([label]) => label))("helm template (%s)", (label) => {
  const r = () => renders.get(label)!;

  it("renders objects that decode strictly into the Kubernetes API and validate", () => {
    // beforeAll failed otherwise; this states it per value set.
    expect(r().objects.length).toBeGreaterThan(5);
  });

  it("labels every object with app.kubernetes.io/* and gives every object a unique name per kind", () => {
    const seen = new Set<string>();
    for (const o of r().objects) {
      const key = `${o.kind}/${o.metadata.name}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
      for (const label of ["name", "instance", "component", "managed-by", "part-of"]) {
        expect(o.metadata.labels?.[`app.kubernetes.io/${label}`], `${key} app.kubernetes.io/${label}`).toBeTruthy();
      }
    }
  });

  it("gives every container probes (native gRPC for the services), resources, and a locked-down security context", () => {
    for (const w of workloads(r().objects)) {
      const pod = podSpecOf(w);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
        // A Job runs to completion: readiness and liveness do not apply to it.
        if (w.kind !== "Job") {
          expect(c.readinessProbe, `${where} readinessProbe`).toBeTruthy();
          expect(c.livenessProbe, `${where} livenessProbe`).toBeTruthy();
        }
        const service = CFS_SERVICES[component(w)];
        if (service) {
          for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
            expect(c[probe]?.grpc?.port, `${where} ${probe} is a native gRPC probe on the service port`).toBe(service.port);
          }
          expect(c.startupProbe.grpc.service).toBe("");
          expect(c.readinessProbe.grpc.service).toBe("");
          expect(c.livenessProbe.grpc.service).toBe(r().values.service.livenessProbeService);
        }
        for (const kind of ["requests", "limits"]) {
          for (const resource of ["cpu", "memory"]) {
            expect(c.resources?.[kind]?.[resource], `${where} resources.${kind}.${resource}`).toBeTruthy();
          }
        }
        const sc = c.securityContext ?? {};
        const psc = pod.securityContext ?? {};
        expect(sc.runAsNonRoot ?? psc.runAsNonRoot, `${where} runAsNonRoot`).toBe(true);
        expect(sc.runAsUser ?? psc.runAsUser, `${where} runs as a numeric non-root user`).toBeGreaterThan(0);
        expect(sc.readOnlyRootFilesystem, `${where} readOnlyRootFilesystem`).toBe(true);
        expect(sc.allowPrivilegeEscalation, `${where} allowPrivilegeEscalation`).toBe(false);
        expect(sc.capabilities?.drop, `${where} drops ALL capabilities`).toContain("ALL");
        expect(sc.capabilities?.add ?? [], `${where} adds no capability`).toEqual([]);
        expect((sc.seccompProfile ?? psc.seccompProfile)?.type, `${where} seccomp`).toBe("RuntimeDefault");
        expect(sc.privileged ?? false).toBe(false);
      }
      expect(pod.automountServiceAccountToken, `${w.metadata.name}: no API token in pods`).toBe(false);
      expect(pod.hostNetwork ?? false).toBe(false);
    }
  });

  it("drains before SIGTERM: a preStop sleep, and a grace period longer than sleep plus the services' own drain", () => {
    const values = r().values;
    for (const w of workloads(r().objects).filter((o) => CFS_SERVICES[component(o)] || component(o) === "gateway")) {
      const pod = podSpecOf(w);
      const c = pod.containers[0];
      expect(c.lifecycle?.preStop?.sleep?.seconds, w.metadata.name).toBe(values.service.preStopSleepSeconds);
      if (CFS_SERVICES[component(w)]) {
        expect(envOf(c).CFS_SHUTDOWN_GRACE_MS.value).toBe(String(values.service.shutdownGraceSeconds * 1000));
      }
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(values.service.preStopSleepSeconds + values.service.shutdownGraceSeconds);
    }
  });

  it("has every Service select the pods of a workload of the release, on ports the pods expose", () => {
    const pods = workloads(r().objects).filter((w) => w.kind !== "Job");
    for (const s of r().objects.filter((o) => o.kind === "Service")) {
      const selector: Record<string, string> = s.spec.selector ?? {};
      expect(Object.keys(selector).length, `${s.metadata.name} has a selector`).toBeGreaterThan(0);
      const selected = pods.filter((w) => Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels?.[k] === v));
      expect(selected.map((w) => w.metadata.name), `Service ${s.metadata.name} selects exactly one workload`).toHaveLength(1);
      const ports = selected[0]!.spec.template.spec.containers.flatMap((c: Json) => c.ports ?? []);
      for (const port of s.spec.ports) {
        const target = port.targetPort ?? port.port;
        const found = ports.some((p: Json) => p.name === target || p.containerPort === target);
        expect(found, `Service ${s.metadata.name} port ${port.name} -> ${target}`).toBe(true);
      }
    }
  });

  it("references only Secrets and ConfigMaps it renders, or the existing ones the values name", () => {
    const values = r().values;
    const rendered = (kind: string) => new Set(r().objects.filter((o) => o.kind === kind).map((o) => o.metadata.name));
    const named = {
      Secret: new Set<string>(
        [
          values.auth.serviceClient.existingSecret,
          values.postgresql.existingSecret,
          values.externalDatabase.existingSecret,
          values.minio.existingSecret,
          values.externalS3.existingSecret,
          values.metadata.appTokens.existingSecret,
          values.chunkReceipts.existingSecret,
        ].filter(Boolean),
      ),
      ConfigMap: new Set<string>([values.gateway.descriptorSet.existingConfigMap].filter(Boolean)),
    };
    const available = { Secret: new Set([...rendered("Secret"), ...named.Secret]), ConfigMap: new Set([...rendered("ConfigMap"), ...named.ConfigMap]) };
    const refs: Array<[kind: "Secret" | "ConfigMap", name: string, where: string]> = [];
    for (const w of workloads(r().objects)) {
      const pod = podSpecOf(w);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const e of c.env ?? []) {
          if (e.valueFrom?.secretKeyRef) refs.push(["Secret", e.valueFrom.secretKeyRef.name, `${w.metadata.name} env ${e.name}`]);
          if (e.valueFrom?.configMapKeyRef) refs.push(["ConfigMap", e.valueFrom.configMapKeyRef.name, `${w.metadata.name} env ${e.name}`]);
        }
        for (const e of c.envFrom ?? []) {
          if (e.secretRef) refs.push(["Secret", e.secretRef.name, `${w.metadata.name} envFrom`]);
          if (e.configMapRef) refs.push(["ConfigMap", e.configMapRef.name, `${w.metadata.name} envFrom`]);
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.secret) refs.push(["Secret", v.secret.secretName, `${w.metadata.name} volume ${v.name}`]);
        if (v.configMap) refs.push(["ConfigMap", v.configMap.name, `${w.metadata.name} volume ${v.name}`]);
      }
      for (const s of pod.imagePullSecrets ?? []) {
        expect(values.imagePullSecrets.map((p: Json) => p.name), `${w.metadata.name} pull secret`).toContain(s.name);
      }
    }
    expect(refs.length).toBeGreaterThan(0);
    for (const [kind, name, where] of refs) expect(available[kind].has(name), `${where}: ${kind} ${name}`).toBe(true);
    // Keys of rendered Secrets that are referenced exist in them.
    for (const w of workloads(r().objects)) {
      for (const c of podSpecOf(w).containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          const secret = ref && r().objects.find((o) => o.kind === "Secret" && o.metadata.name === ref.name);
          if (secret) expect({ ...secret.data, ...secret.stringData }, `${w.metadata.name} ${e.name}`).toHaveProperty([ref.key]);
        }
      }
    }
  });

  it("keeps credentials out of plain environment values", () => {
    for (const w of workloads(r().objects)) {
      for (const c of podSpecOf(w).containers) {
        for (const e of c.env ?? []) {
          if (/PASSWORD|SECRET|ACCESS_KEY/.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${w.metadata.name} ${e.name}`).toBeTruthy();
          if (e.name === "CFS_DATABASE_URL" && e.value) expect(e.value).toMatch(/^postgres:\/\/[^:]+:\$\(CFS_DATABASE_PASSWORD\)@/);
        }
      }
    }
  });

  it("wires the services to each other by their Services, and every service to the same issuer as the gateway", async () => {
    const { objects, values } = r();
    const services = new Map(objects.filter((o) => o.kind === "Service").map((s) => [s.metadata.name, s]));
    const auth = new Set<string>();
    for (const w of workloads(objects).filter((o) => CFS_SERVICES[component(o)])) {
      const env = envOf(podSpecOf(w).containers[0]);
      expect(env.CFS_HOST.value).toBe("0.0.0.0");
      expect(env.CFS_PORT.value).toBe(String(CFS_SERVICES[component(w)]!.port));
      for (const name of ["CFS_METADATA_ADDR", "CFS_BLOCKSTORE_ADDR", "CFS_SYNC_ADDR"]) {
        if (!env[name]) continue;
        const match = /^dns:\/\/\/([a-z0-9-]+)\.cfs\.svc\.cluster\.local:(\d+)$/.exec(env[name].value);
        expect(match, `${w.metadata.name} ${name}=${env[name].value}`).toBeTruthy();
        const service = services.get(match![1]!);
        expect(service, `${name} names a rendered Service`).toBeTruthy();
        expect(service!.spec.clusterIP, "peers are headless: clients see every pod").toBe("None");
        expect(service!.spec.ports.map((p: Json) => p.port)).toContain(Number(match![2]));
      }
      auth.add(JSON.stringify([env.CFS_AUTH_ISSUER.value, env.CFS_AUTH_AUDIENCE.value, env.CFS_AUTH_JWKS_URI.value]));
    }
    expect(auth.size, "one issuer, audience and JWKS for every service").toBe(1);
    if (values.gateway.enabled) {
      const [issuer, audience, jwks] = JSON.parse([...auth][0]!) as string[];
      const provider = (await gatewayConfig(objects)).static_resources.listeners
        .flatMap((l) => l.filter_chains.flatMap((fc) => fc.filters))
        .flatMap((f) => f.typed_config.http_filters ?? [])
        .find((f) => f.name === "envoy.filters.http.jwt_authn")?.typed_config.providers.cfs;
      expect(provider.issuer).toBe(issuer);
      expect(provider.audiences).toEqual([audience]);
      expect(provider.remote_jwks.http_uri.uri).toBe(jwks);
      expect(provider.forward, "the services verify the token again").toBe(true);
    }
  });

  it("runs sync as one StatefulSet replica with its SQLite on a PersistentVolumeClaim", () => {
    const sync = r().objects.find((o) => o.kind === "StatefulSet" && component(o) === "sync")!;
    expect(sync.spec.replicas).toBe(1);
    const env = envOf(sync.spec.template.spec.containers[0]);
    expect(env.CFS_SYNC_DB_PATH.value).toBe("/data/sync.db");
    const mount = sync.spec.template.spec.containers[0].volumeMounts.find((m: Json) => m.mountPath === "/data");
    expect(sync.spec.volumeClaimTemplates.map((v: Json) => v.metadata.name)).toContain(mount.name);
    expect(r().objects.some((o) => o.kind === "Deployment" && component(o) === "sync")).toBe(false);
  });

  it("scales the stateless services with replicas or an HPA, and protects them with PodDisruptionBudgets", () => {
    const { objects, values } = r();
    const key: Record<string, string> = { chunker: "chunker", metadata: "metadata", "block-storage": "blockStorage", gateway: "gateway" };
    for (const [name, valuesKey] of Object.entries(key)) {
      const v = values[valuesKey];
      const deployment = objects.find((o) => o.kind === "Deployment" && component(o) === name);
      if (!deployment) {
        expect(name === "gateway" && !values.gateway.enabled).toBe(true);
        continue;
      }
      const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef.name === deployment.metadata.name);
      if (v.autoscaling.enabled) {
        expect(hpa, `${name} HPA`).toBeTruthy();
        expect(deployment.spec.replicas, `${name}: the HPA owns replicas`).toBeUndefined();
        expect(hpa!.spec.maxReplicas).toBe(v.autoscaling.maxReplicas);
      } else {
        expect(hpa).toBeUndefined();
        expect(deployment.spec.replicas).toBe(v.replicaCount);
      }
      const pdb = objects.find((o) => o.kind === "PodDisruptionBudget" && component(o) === name);
      expect(Boolean(pdb), `${name} PDB`).toBe(v.pdb.enabled);
      if (pdb) expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    }
  });

  it("puts every pod under a NetworkPolicy: only the gateway is open, services accept only their callers", () => {
    const { objects, values } = r();
    const policies = objects.filter((o) => o.kind === "NetworkPolicy");
    if (!values.networkPolicy.enabled) {
      expect(policies).toEqual([]);
      return;
    }
    for (const w of workloads(objects)) {
      const labels = w.spec.template.metadata.labels;
      const covering = policies.filter((p) => Object.entries(p.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v));
      expect(covering.length, `${w.kind}/${w.metadata.name} is selected by a NetworkPolicy`).toBeGreaterThan(0);
      for (const p of covering) expect(p.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    }
    for (const name of Object.keys(CFS_SERVICES)) {
      const policy = policies.find((p) => component(p) === name)!;
      for (const rule of policy.spec.ingress) {
        const ports = rule.ports.map((p: Json) => p.port);
        if (ports.includes(CFS_SERVICES[name]!.port)) {
          // The gRPC port: pods of this release only, named one by one.
          for (const peer of rule.from) {
            expect(Object.keys(peer), `${name}: callers are pods of the release`).toEqual(["podSelector"]);
            expect(peer.podSelector.matchLabels["app.kubernetes.io/instance"]).toBe("cfs");
          }
        } else if (name === "metadata" && ports.includes(values.metadata.appTokens.jwksPort)) {
          // The app-token JWKS: the release's services only.
          expect(ports).toEqual([values.metadata.appTokens.jwksPort]);
          for (const peer of rule.from) expect(Object.keys(peer), "JWKS readers are pods of the release").toEqual(["podSelector"]);
        } else {
          expect(ports, `${name}: only the metrics port is open to scrapers`).toEqual([CFS_SERVICES[name]!.metricsPort]);
        }
      }
      expect(policy.spec.egress.length, `${name} has egress rules`).toBeGreaterThan(1);
    }
    const callers = (name: string) =>
      policies
        .find((p) => component(p) === name)!
        .spec.ingress.flatMap((rule: Json) => rule.from ?? [])
        .map((peer: Json) => peer.podSelector?.matchLabels?.["app.kubernetes.io/component"])
        .filter(Boolean)
        .sort();
    expect(callers("chunker")).toEqual(values.webdav.enabled ? ["gateway", "webdav"] : ["gateway"]);
    if (values.webdav.enabled) expect(callers("webdav")).toEqual(["gateway"]);
    expect(callers("block-storage")).toEqual(["chunker", "metadata", "sync"]);
    if (values.postgresql.enabled) {
      expect(callers("postgresql")).toEqual(values.blockStorage.packs.enabled ? ["block-storage", "metadata", "migrations"] : ["metadata", "migrations"]);
    }
    if (values.minio.enabled) expect(callers("minio")).toEqual(["block-storage"]);
  });

  it("gives block storage the metadata database as its pack index when packs are on, and nothing of it when off", () => {
    const { objects, values } = r();
    const containerOf = (name: string) => workloads(objects).find((w) => component(w) === name && w.kind !== "Job")!.spec.template.spec.containers[0];
    const database = (env: Json[]) => env.filter((e) => e.name.startsWith("CFS_DATABASE_"));
    const metadata: Json[] = containerOf("metadata").env;
    const blocks: Json[] = containerOf("block-storage").env;
    // Metadata's own database environment, once each (helm would render a duplicate without complaint).
    expect(database(metadata).map((e) => e.name)).toEqual(
      !values.postgresql.enabled && values.externalDatabase.urlKey
        ? ["CFS_DATABASE_URL", "CFS_DATABASE_POOL_MAX", "CFS_DATABASE_PREPARED_STATEMENTS"]
        : ["CFS_DATABASE_PASSWORD", "CFS_DATABASE_URL", "CFS_DATABASE_POOL_MAX", "CFS_DATABASE_PREPARED_STATEMENTS"],
    );
    const packVars = ["CFS_BLOCK_INDEX_URL", "CFS_BLOCK_INDEX_POOL_MAX", "CFS_PACK_MAX_BYTES", "CFS_PACKS_IN_FLIGHT", "CFS_PACK_INLINE_BYTES", "CFS_REPACK_MAX_LIVE_PERCENT", "CFS_REPACK_MIN_AGE_MINUTES"];
    const packs = values.blockStorage.packs;
    if (packs.enabled) {
      // Metadata's URL, password and prepared statements, not its pool (block storage has CFS_BLOCK_INDEX_POOL_MAX).
      expect(database(blocks)).toEqual(database(metadata).filter((e) => e.name !== "CFS_DATABASE_POOL_MAX"));
      const env = envOf(containerOf("block-storage"));
      expect(env.CFS_BLOCK_INDEX_URL).toEqual({ name: "CFS_BLOCK_INDEX_URL", value: "$(CFS_DATABASE_URL)" });
      const at = (name: string) => blocks.findIndex((e) => e.name === name);
      expect(at("CFS_DATABASE_URL"), "Kubernetes expands $(VAR) of earlier variables only").toBeLessThan(at("CFS_BLOCK_INDEX_URL"));
      expect(env.CFS_BLOCK_INDEX_POOL_MAX.value).toBe(String(packs.indexPoolMax));
      expect(env.CFS_PACK_MAX_BYTES.value).toBe(String(packs.maxPackBytes));
      expect(env.CFS_PACKS_IN_FLIGHT.value).toBe(String(packs.packsInFlight));
      expect(env.CFS_PACK_INLINE_BYTES.value).toBe(String(packs.inlinePackBytes));
      expect(env.CFS_REPACK_MAX_LIVE_PERCENT.value).toBe(String(packs.repack.maxLivePercent));
      expect(env.CFS_REPACK_MIN_AGE_MINUTES.value).toBe(String(packs.repack.minAgeMinutes));
    } else {
      expect(blocks.map((e) => e.name).filter((n) => packVars.includes(n) || n.startsWith("CFS_DATABASE_"))).toEqual([]);
    }
    if (!values.networkPolicy.enabled) return;
    const policy = (name: string) => objects.find((o) => o.kind === "NetworkPolicy" && component(o) === name)!;
    const port = values.postgresql.enabled ? 5432 : values.externalDatabase.port;
    const toDatabase = policy("metadata").spec.egress.filter((rule: Json) => rule.ports.some((p: Json) => p.port === port));
    expect(toDatabase, "metadata's one egress rule to PostgreSQL").toHaveLength(1);
    if (packs.enabled) expect(policy("block-storage").spec.egress).toContainEqual(toDatabase[0]);
    else expect(policy("block-storage").spec.egress.flatMap((rule: Json) => rule.ports.map((p: Json) => p.port))).not.toContain(port);
  });

  it("exposes every service's metrics to Prometheus: scrape annotations, and ServiceMonitors when asked", () => {
    const { objects, values } = r();
    for (const name of Object.keys(CFS_SERVICES)) {
      const w = workloads(objects).find((o) => component(o) === name && o.kind !== "Job")!;
      const annotations = w.spec.template.metadata.annotations ?? {};
      if (values.metrics.podAnnotations) {
        expect(annotations["prometheus.io/scrape"]).toBe("true");
        expect(annotations["prometheus.io/port"]).toBe(String(CFS_SERVICES[name]!.metricsPort));
        expect(envOf(w.spec.template.spec.containers[0]).CFS_METRICS_PORT.value).toBe(String(CFS_SERVICES[name]!.metricsPort));
      }
      const monitor = objects.find((o) => o.kind === "ServiceMonitor" && component(o) === name);
      expect(Boolean(monitor), `${name} ServiceMonitor`).toBe(values.metrics.serviceMonitor.enabled);
      if (monitor) {
        const service = objects.find((o) => o.kind === "Service" && component(o) === name)!;
        expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
        expect(service.spec.ports.map((p: Json) => p.name)).toContain(monitor.spec.endpoints[0].port);
      }
    }
  });

  it("renders a gateway config with the expected listeners, clusters and routes", async () => {
    const { objects, values } = r();
    if (!values.gateway.enabled) {
      expect(objects.some((o) => component(o) === "gateway")).toBe(false);
      return;
    }
    const config = await gatewayConfig(objects);
    const services = new Map(objects.filter((o) => o.kind === "Service").map((s) => [s.metadata.name, s]));
    const problems = validateEnvoyConfig(config, {
      transcoding: Boolean(values.gateway.descriptorSet.existingConfigMap || values.gateway.descriptorSet.file),
      corsOrigins: values.gateway.cors.allowedOrigins,
      web: values.web.enabled,
      webdav: values.webdav.enabled,
      port: values.gateway.port,
      metricsPort: values.gateway.metricsPort,
      blockedMethods: values.gateway.blockedMethods,
      upstream: (host, port) => {
        const match = /^([a-z0-9-]+)\.cfs\.svc\.cluster\.local$/.exec(host);
        const service = match && services.get(match[1]!);
        return Boolean(service && service.spec.ports.some((p: Json) => p.port === port));
      },
    });
    expect(problems).toEqual([]);
    const cm = objects.find((o) => o.kind === "ConfigMap" && component(o) === "gateway")!;
    expect(await validateEnvoyYaml(cm.data["envoy.yaml"])).toEqual([]);
    const deployment = objects.find((o) => o.kind === "Deployment" && component(o) === "gateway")!;
    expect(deployment.spec.template.metadata.annotations["checksum/config"], "pods roll when the config changes").toBe(
      // The block scalar adds the final newline.
      createHash("sha256").update(cm.data["envoy.yaml"].replace(/\n$/, "")).digest("hex"),
    );
  });

  it("answers /v1/openapi.json from Envoy itself, without a token, with the document make gen wrote", async () => {
    const { objects, values } = r();
    if (!values.gateway.enabled || !values.gateway.openapi.enabled) return;
    const cm = objects.find((o) => o.kind === "ConfigMap" && component(o) === "gateway-openapi")!;
    expect(cm.data["openapi.json"]).toBe(readFileSync(join(REPO, "gen/openapi.json"), "utf8"));
    const config = await gatewayConfig(objects);
    const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config as Json;
    const route = hcm.route_config.virtual_hosts[0].routes.find((x: Json) => x.match.path === "/v1/openapi.json");
    expect(route.direct_response).toEqual({ status: 200, body: { filename: "/etc/envoy/openapi/openapi.json" } });
    expect(hcm.route_config.max_direct_response_body_size_bytes).toBeGreaterThan(Buffer.byteLength(cm.data["openapi.json"]));
    const rules = hcm.http_filters.find((f: Json) => f.name === "envoy.filters.http.jwt_authn").typed_config.rules;
    const first = rules.find((rule: Json) => rule.match.path === "/v1/openapi.json" || "/v1/openapi.json".startsWith(rule.match.prefix ?? "\0"));
    expect(first, "the first JWT rule for the document requires nothing").toEqual({ match: { path: "/v1/openapi.json" } });
    const pod = workloads(objects).find((o) => component(o) === "gateway")!.spec.template.spec;
    const mount = pod.containers[0].volumeMounts.find((m: Json) => m.mountPath === "/etc/envoy/openapi");
    expect(pod.volumes.find((v: Json) => v.name === mount.name).configMap.name).toBe(cm.metadata.name);
  });
});

describe("values", () => {
  it("default values run a complete trial: bundled PostgreSQL and MinIO, the dev issuer, and no secret in values", () => {
    const { objects, values } = renders.get("default values")!;
    for (const name of ["postgresql", "minio", "dev-issuer", "gateway", "web"]) {
      expect(workloads(objects).some((w) => component(w) === name), name).toBe(true);
    }
    const valuesText = readFileSync(join(CHART, "values.yaml"), "utf8");
    expect(valuesText).not.toMatch(/^\s*(password|secret|secretKey|accessKey|root-password):\s*\S/im);
    expect(values.auth.serviceClient.existingSecret).toBe("");
  });

  it("passes the catalogue, sweep, damage report and scrub settings from values to metadata and block storage", () => {
    const { objects, values } = renders.get("default values")!;
    const envOfComponent = (name: string) => envOf(workloads(objects).find((w) => component(w) === name)!.spec.template.spec.containers[0]);
    const metadata = envOfComponent("metadata");
    expect(metadata.CFS_TRASH_RETENTION_DAYS.value).toBe(String(values.metadata.catalogue.trashRetentionDays));
    expect(metadata.CFS_DEFAULT_QUOTA_BYTES.value).toBe(String(values.metadata.catalogue.defaultQuotaBytes));
    expect(metadata.CFS_GC_SWEEP_INTERVAL_SECONDS.value).toBe(String(values.metadata.sweep.intervalSeconds));
    expect(metadata.CFS_GC_SWEEP_DRY_RUN.value).toBe(String(values.metadata.sweep.dryRun));
    expect(metadata.CFS_DAMAGE_REPORT_INTERVAL_SECONDS.value).toBe(String(values.metadata.damageReports.intervalSeconds));
    const blocks = envOfComponent("block-storage");
    expect(blocks.CFS_SCRUB_BYTES_PER_SECOND.value).toBe(String(values.blockStorage.scrub.bytesPerSecond));
    expect(blocks.CFS_SCRUB_PERIOD_DAYS.value).toBe(String(values.blockStorage.scrub.periodDays));
    expect(blocks.CFS_S3_ENDPOINT, "the S3 settings stay beside them").toBeDefined();
  });

  it("packs on by default, with the service's defaults: the index in the bundled PostgreSQL, which admits block storage", () => {
    const { objects } = renders.get("default values")!;
    const env = envOf(workloads(objects).find((w) => component(w) === "block-storage")!.spec.template.spec.containers[0]);
    expect(env.CFS_DATABASE_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: "cfs-postgresql", key: "password" });
    expect(env.CFS_DATABASE_URL.value).toBe("postgres://cfs:$(CFS_DATABASE_PASSWORD)@cfs-postgresql.cfs.svc.cluster.local:5432/cfs");
    expect(env.CFS_BLOCK_INDEX_URL.value).toBe("$(CFS_DATABASE_URL)");
    expect(env.CFS_DATABASE_POOL_MAX, "metadata's pool setting").toBeUndefined();
    // services/block-storage/src/config.ts parsePacks defaults.
    expect(env.CFS_BLOCK_INDEX_POOL_MAX.value).toBe("10");
    expect(env.CFS_PACK_MAX_BYTES.value).toBe("16777216");
    expect(env.CFS_PACKS_IN_FLIGHT.value).toBe("2");
    expect(env.CFS_PACK_INLINE_BYTES.value, "off until every pod reads inline packs").toBe("0");
    expect(env.CFS_REPACK_MAX_LIVE_PERCENT.value).toBe("50");
    expect(env.CFS_REPACK_MIN_AGE_MINUTES.value).toBe("60");
    const policy = (name: string) => objects.find((o) => o.kind === "NetworkPolicy" && component(o) === name)!;
    expect(policy("block-storage").spec.egress).toContainEqual({
      to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "cfs", "app.kubernetes.io/instance": "cfs", "app.kubernetes.io/component": "postgresql" } } }],
      ports: [{ protocol: "TCP", port: 5432 }],
    });
    expect(policy("postgresql").spec.ingress[0].from).toContainEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "cfs", "app.kubernetes.io/instance": "cfs", "app.kubernetes.io/component": "block-storage" } },
    });
  });

  it("prepared statements: on for metadata and block storage's pack index, off by one value", () => {
    for (const name of ["metadata", "block-storage"]) {
      const env = envOf(workloads(renders.get("default values")!.objects).find((w) => component(w) === name)!.spec.template.spec.containers[0]);
      expect(env.CFS_DATABASE_PREPARED_STATEMENTS?.value, name).toBe("true");
    }
    const off = renders.get("ci/external-db-secret-url.yaml")!.objects;
    const metadata = envOf(workloads(off).find((w) => component(w) === "metadata")!.spec.template.spec.containers[0]);
    expect(metadata.CFS_DATABASE_PREPARED_STATEMENTS.value, "behind a pooler that does not keep them").toBe("false");
  });

  it("chunk receipts: block storage and metadata read one key from one Secret, made once; none when off", () => {
    const keyOf = (objects: K8sObject[]) =>
      ["block-storage", "metadata"].map((name) => {
        const pod = workloads(objects).find((w) => component(w) === name)!.spec.template.spec;
        const file = envOf(pod.containers[0]).CFS_CHUNK_RECEIPT_KEY_FILE?.value;
        const volume = pod.volumes.find((v: Json) => v.name === "chunk-receipt-key");
        const mount = pod.containers[0].volumeMounts.find((m: Json) => m.name === "chunk-receipt-key");
        return { file, secret: volume?.secret.secretName, mountPath: mount?.mountPath, readOnly: mount?.readOnly };
      });
    const { objects } = renders.get("default values")!;
    const expected = { file: "/etc/cfs/chunk-receipts/key", secret: "cfs-chunk-receipt-key", mountPath: "/etc/cfs/chunk-receipts", readOnly: true };
    expect(keyOf(objects)).toEqual([expected, expected]);
    const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === "cfs-chunk-receipt-key")!;
    expect(Buffer.from(secret.data.key, "base64").toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    // The other services never see it.
    for (const w of workloads(objects).filter((o) => !["block-storage", "metadata"].includes(component(o)))) {
      expect(envOf(podSpecOf(w).containers[0]).CFS_CHUNK_RECEIPT_KEY_FILE, w.metadata.name).toBeUndefined();
    }
    expect(keyOf(renders.get("ci/external.yaml")!.objects).map((k) => k.secret)).toEqual(["cfs-chunk-receipts", "cfs-chunk-receipts"]);
    const off = renders.get("ci/minimal.yaml")!.objects;
    expect(keyOf(off)).toEqual([{}, {}].map(() => ({ file: undefined, secret: undefined, mountPath: undefined, readOnly: undefined })));
    expect(off.some((o) => o.kind === "Secret" && component(o) === "chunk-receipt-key")).toBe(false);
  });

  it("blockStorage.packs.enabled=false: one object per chunk, no database environment and no way to PostgreSQL", () => {
    const { objects } = renders.get("ci/no-packs.yaml")!;
    const env = envOf(workloads(objects).find((w) => component(w) === "block-storage")!.spec.template.spec.containers[0]);
    expect(Object.keys(env).filter((n) => /^CFS_(DATABASE|BLOCK_INDEX|PACK|REPACK)_/.test(n))).toEqual([]);
    expect(env.CFS_S3_ENDPOINT, "still on the object store").toBeDefined();
    const policy = (name: string) => objects.find((o) => o.kind === "NetworkPolicy" && component(o) === name)!;
    const peers = policy("block-storage").spec.egress.flatMap((rule: Json) => rule.to ?? []);
    expect(peers.map((p: Json) => p.podSelector?.matchLabels?.["app.kubernetes.io/component"])).not.toContain("postgresql");
    expect(policy("postgresql").spec.ingress[0].from.map((p: Json) => p.podSelector.matchLabels["app.kubernetes.io/component"])).toEqual(["metadata", "migrations"]);
  });

  it("external PostgreSQL, MinIO/S3 and Auth0: nothing bundled, credentials only from the existing Secrets", () => {
    const { objects } = renders.get("ci/external.yaml")!;
    for (const name of ["postgresql", "minio", "dev-issuer"]) expect(objects.some((o) => component(o) === name), name).toBe(false);
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const metadata = workloads(objects).find((w) => component(w) === "metadata")!;
    const env = envOf(metadata.spec.template.spec.containers[0]);
    expect(env.CFS_DATABASE_URL.value).toBe("postgres://cfs_app:$(CFS_DATABASE_PASSWORD)@db.internal.example.com:5433/cfs_prod?sslmode=require");
    expect(env.CFS_DATABASE_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: "cfs-db", key: "db-password" });
    expect(env.CFS_SERVICE_CLIENT_SECRET.valueFrom.secretKeyRef.name).toBe("cfs-auth0-m2m");
    expect(env.CFS_SERVICE_TOKEN_URL.value).toBe("https://cfs-example.eu.auth0.com/oauth/token");
    expect(env.CFS_AUTH_JWKS_URI.value).toBe("https://cfs-example.eu.auth0.com/.well-known/jwks.json");
    const keyVolume = metadata.spec.template.spec.volumes.find((v: Json) => v.name === "app-token-key");
    expect(keyVolume.secret.secretName, "the app-token key from its existing Secret").toBe("cfs-app-token-key");
    const blocks = envOf(workloads(objects).find((w) => component(w) === "block-storage")!.spec.template.spec.containers[0]);
    expect(blocks.CFS_DATABASE_PASSWORD.valueFrom.secretKeyRef, "the pack index in the same database").toEqual({ name: "cfs-db", key: "db-password" });
    expect(blocks.CFS_DATABASE_URL.value).toBe(env.CFS_DATABASE_URL.value);
    expect(blocks.CFS_BLOCK_INDEX_URL.value).toBe("$(CFS_DATABASE_URL)");
    const policy = objects.find((o) => o.kind === "NetworkPolicy" && component(o) === "block-storage")!;
    expect(policy.spec.egress).toContainEqual({ to: [{ ipBlock: { cidr: "10.20.0.0/16" } }], ports: [{ protocol: "TCP", port: 5433 }] });
  });

  it("postgresql.enabled=false with a whole URL in an existing Secret", () => {
    const { objects } = renders.get("ci/external-db-secret-url.yaml")!;
    const metadata = workloads(objects).find((w) => component(w) === "metadata")!;
    const env = envOf(metadata.spec.template.spec.containers[0]);
    expect(env.CFS_DATABASE_URL.valueFrom.secretKeyRef).toEqual({ name: "cfs-database-url", key: "url" });
    expect(env.CFS_DATABASE_PASSWORD).toBeUndefined();
    expect(env.CFS_DATABASE_POOL_MAX.value).toBe("20");
  });

  it("ingress on: the gateway's Service behind an Ingress with TLS", () => {
    const ingress = renders.get("ci/ingress.yaml")!.objects.find((o) => o.kind === "Ingress")!;
    expect(ingress.spec.ingressClassName).toBe("nginx");
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: "cfs-gateway", port: { name: "http" } });
    expect(ingress.spec.tls[0].secretName).toBe("files-example-com-tls");
  });

  it("migrations: a hook Job that runs metadata in migrate-only mode before upgrades", () => {
    const job = renders.get("ci/hpa.yaml")!.objects.find((o) => o.kind === "Job")!;
    expect(job.metadata.annotations?.["helm.sh/hook"]).toBe("post-install,pre-upgrade");
    const env = envOf(job.spec.template.spec.containers[0]);
    expect(env.CFS_MIGRATE_ONLY.value).toBe("true");
    expect(env.CFS_DATABASE_URL).toBeTruthy();
    expect(job.spec.template.spec.containers[0].image).toBe("ghcr.io/example/cfs/metadata:1.2.3");
  });

  it("the descriptor set given with --set-file reaches the gateway's ConfigMap byte for byte", async () => {
    const file = join(REPO, "gen/descriptor-set.binpb");
    const { code, stdout, stderr } = await template(t, [], ["--set-file", `gateway.descriptorSet.file=${file}`]);
    expect(code, stderr).toBe(0);
    const { objects, errors } = await validateObjects(t, stdout);
    expect(errors).toEqual([]);
    const cm = objects.find((o) => o.kind === "ConfigMap" && component(o) === "gateway-descriptors")!;
    expect(Buffer.from(cm.binaryData["descriptor-set.binpb"], "base64").equals(readFileSync(file))).toBe(true);
    const gateway = objects.find((o) => o.kind === "Deployment" && component(o) === "gateway")!;
    expect(gateway.spec.template.spec.volumes.find((v: Json) => v.name === "descriptors").configMap.name).toBe(cm.metadata.name);
  });

  const rejected: Array<[string, string[], RegExp]> = [
    ["a wrong type", ["--set", "chunker.replicaCount=two"], /chunker\/replicaCount.*want integer/],
    ["an unknown top-level key (a typo)", ["--set", "chunkr.replicaCount=2"], /additional properties 'chunkr' not allowed/],
    ["a Service type that does not exist", ["--set", "gateway.service.type=Public"], /gateway\/service\/type/],
    ["a node port outside the range", ["--set", "gateway.service.type=NodePort", "--set", "gateway.service.nodePort=80"], /nodePort/],
    ["an invalid bucket name", ["--set", "minio.bucket=Chunks_1"], /minio\/bucket/],
    ["a symmetric JWT algorithm", ["--set", "auth.algorithms=HS256"], /auth\/algorithms/],
    ["resources without limits", ["--set", "chunker.resources.limits=null"], /chunker\/resources/],
    ["an issuer that is not a URL", ["--set", "devIssuer.enabled=false", "--set", "auth.issuer=tenant.auth0.com"], /auth\/issuer/],
    ["a pack larger than block storage accepts", ["--set", "blockStorage.packs.maxPackBytes=536870912"], /blockStorage\/packs\/maxPackBytes/],
    ["an inline pack larger than block storage keeps in its index", ["--set", "blockStorage.packs.inlinePackBytes=2097152"], /blockStorage\/packs\/inlinePackBytes/],
    ["a repack threshold of 100 percent (every pack, always)", ["--set", "blockStorage.packs.repack.maxLivePercent=100"], /blockStorage\/packs\/repack\/maxLivePercent/],
  ];
  it.each(rejected)("values.schema.json rejects %s at install time", async (_what, flags, message) => {
    const { code, stderr } = await template(t, [], flags);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(stderr).toMatch(message);
  });

  const inconsistent: Array<[string, string[], RegExp]> = [
    ["no bundled MinIO and no external S3 endpoint", ["--set", "minio.enabled=false"], /externalS3.endpoint is required/],
    ["no bundled MinIO and no Secret for S3", ["--set", "minio.enabled=false", "--set", "externalS3.endpoint=https://s3.example.com"], /externalS3.existingSecret is required/],
    ["no bundled PostgreSQL and no Secret", ["--set", "postgresql.enabled=false", "--set", "externalDatabase.host=db"], /externalDatabase.existingSecret is required/],
    ["no bundled PostgreSQL and no host", ["--set", "postgresql.enabled=false", "--set", "externalDatabase.existingSecret=db"], /externalDatabase.host/],
    ["the dev issuer and a real issuer at once", ["--set", "auth.issuer=https://t.auth0.com/"], /turn the dev issuer off/],
    ["no dev issuer and no issuer", ["--set", "devIssuer.enabled=false", "--set", "auth.serviceClient.existingSecret=m2m"], /auth.issuer is required/],
    [
      "no dev issuer and no service identity",
      ["--set", "devIssuer.enabled=false", "--set", "auth.issuer=https://t.auth0.com/", "--set", "auth.audience=a", "--set", "web.auth0ClientId=spa"],
      /auth.serviceClient.existingSecret is required/,
    ],
  ];
  it.each(inconsistent)("the chart refuses %s with a message saying what to set", async (_what, flags, message) => {
    const { code, stderr } = await template(t, [], flags);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
  });
});
