// The program for each example site, offline: every resource it declares, checked against the Kubernetes schemas
// and against rules of our own the schemas miss.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "path";
import * as YAML from "yaml";
import { declare, Declared, validateObject } from "./harness";
import { callers, deployFacility, httpPort, serviceTokensSecret, signingKeySecret, smallerQuantity } from "../src/facility";
import { loadSite, Site } from "../src/site";
import type { Release } from "../src/release";
import { loadRelease, services } from "../src/release";

const sites = path.join(__dirname, "..", "..", "sites");
const release: Release = {
  version: "0.1.0",
  images: Object.fromEntries(services.map((s, i) => [s, `sha256:${String(i).repeat(64)}`])) as Release["images"],
  pilotImage: `sha256:${"c".repeat(64)}`,
};

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const kinds = (all: Declared[], kind: string) => all.filter(d => d.inputs.kind === kind);
const pods = (all: Declared[]) => all.filter(d => ["Deployment", "StatefulSet"].includes(d.inputs.kind));
const nameOf = (w: Declared): string => w.inputs.spec.template.metadata.labels["app.kubernetes.io/name"];
/** Our services' pods (not PostgreSQL's, the collector's or the pilots'). */
const ours = (all: Declared[]) => pods(all).filter(w => (services as readonly string[]).includes(nameOf(w)));

async function deploy(site: Site): Promise<Declared[]> {
  return declare(() => deployFacility(site, release));
}

/** The rules every site's objects keep, whatever the site asked. */
async function checkEverything(all: Declared[], site: Site): Promise<void> {
  for (const d of all) {
    await validateObject(d.inputs).catch(e => assert.fail(`${d.inputs.kind} ${d.name}: ${e.message}`));
    assert.match(d.inputs.metadata.name, dns1123, `${d.inputs.kind} ${d.inputs.metadata.name}: not a DNS-1123 name`);
    assert.ok(d.inputs.metadata.name.length <= 63 || ["PersistentVolume", "StorageClass"].includes(d.inputs.kind));
  }
  const policies = kinds(all, "NetworkPolicy");
  assert.ok(policies.some(p => Object.keys(p.inputs.spec.podSelector).length === 0 && p.inputs.spec.ingress === undefined), "no default-deny policy");
  for (const w of pods(all)) {
    const spec = w.inputs.spec;
    const template = spec.template;
    for (const [k, v] of Object.entries(spec.selector.matchLabels)) {
      assert.equal(template.metadata.labels[k], v, `${w.name}: its selector does not select its own pods (${k})`);
    }
    const pod = template.spec;
    const name = nameOf(w);
    const service = (services as readonly string[]).includes(name);
    assert.equal(pod.securityContext.runAsNonRoot, true, `${w.name}: not non-root`);
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of pod.containers) {
      assert.match(c.image, /^[^@]+@sha256:[0-9a-f]{64}$/, `${w.name}: image not pinned by digest: ${c.image}`);
      if (service || name === "pilots") {
        assert.ok(c.image.startsWith(`${site.registry}/`), `${w.name}: image not from the site's registry`);
      }
      if (service) {
        assert.equal(c.readinessProbe.httpGet.path, "/health");
        assert.equal(c.livenessProbe.httpGet.path, "/alive");
      } else if (name !== "pilots") {
        // A server of the site's (PostgreSQL, the collector) is probed too; pilots serve nothing and are restarted when they exit.
        assert.ok(c.readinessProbe && c.livenessProbe, `${w.name}: not probed`);
      }
      assert.ok(c.resources.limits.cpu && c.resources.limits.memory, `${w.name}: no limits`);
      assert.deepEqual(c.resources.requests, { cpu: c.resources.limits.cpu, memory: c.resources.limits.memory }, `${w.name}: requests are not its limits`);
      assert.equal(c.resources.requests["nvidia.com/gpu"], undefined, `${w.name}: a GPU in requests`);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
      for (const mount of c.volumeMounts) {
        assert.ok(pod.volumes.some((v: any) => v.name === mount.name) || (spec.volumeClaimTemplates ?? []).some((t: any) => t.metadata.name === mount.name),
          `${w.name}: mount ${mount.name} has no volume`);
      }
      assert.ok(!JSON.stringify(pod.volumes ?? []).includes("hostPath"), `${w.name}: a hostPath volume`);
      if (service) {
        const keys = pod.volumes.find((v: any) => v.name === "keys");
        assert.equal(keys?.secret.secretName, signingKeySecret, `${w.name}: no signing key`);
        assert.equal(c.env.find((e: any) => e.name === "Shoppe__Security__SigningKeyFile")?.value, "/keys/signing.key");
        assert.deepEqual(c.env.find((e: any) => e.name === "Shoppe__Logs__Token")?.valueFrom, { secretKeyRef: { name: serviceTokensSecret, key: name } },
          `${w.name}: no token of its own for the logs service`);
      }
      for (const e of c.env ?? []) {
        assert.ok(e.valueFrom !== undefined || !/token|secret|password|apikey/i.test(e.name), `${w.name}: ${e.name} written in plain text`);
      }
    }
    // Every pod is admitted by a policy of its own besides the default deny, and that policy names its callers.
    const labels = template.metadata.labels;
    const own = policies.filter(p => Object.keys(p.inputs.spec.podSelector).length > 0
      && Object.entries(p.inputs.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v));
    assert.equal(own.length, 1, `${w.name}: ${own.length} network policies select it`);
    if (service) {
      const from = own[0].inputs.spec.ingress[0].from.filter((f: any) => f.podSelector).map((f: any) => f.podSelector.matchLabels["app.kubernetes.io/name"]);
      assert.deepEqual([...from].sort(), [...callers[name as keyof typeof callers]].sort(), `${w.name}: admitted callers`);
    }
  }
  // Services select pods that exist, on a port their containers name.
  for (const s of kinds(all, "Service")) {
    const matching = pods(all).filter(w => Object.entries(s.inputs.spec.selector).every(([k, v]) => w.inputs.spec.template.metadata.labels[k] === v));
    assert.ok(matching.length > 0, `Service ${s.name} selects no pods`);
    for (const port of s.inputs.spec.ports) {
      assert.ok(matching.every(w => w.inputs.spec.template.spec.containers[0].ports.some((p: any) => p.name === port.targetPort)), `Service ${s.name}: no container port ${port.targetPort}`);
    }
    if ((services as readonly string[]).includes(s.name)) assert.equal(s.inputs.spec.ports[0].port, httpPort);
  }
  for (const pv of kinds(all, "PersistentVolume")) {
    assert.ok(pv.inputs.spec.local, `${pv.name}: not a local volume`);
    assert.equal(pv.inputs.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].key, "kubernetes.io/hostname", `${pv.name}: no node affinity`);
  }
  for (const sc of kinds(all, "StorageClass")) {
    assert.equal(sc.inputs.volumeBindingMode, "WaitForFirstConsumer");
  }
  // No secret's value anywhere: secrets are only referenced.
  assert.ok(!all.some(d => d.inputs.kind === "Secret"), "the program wrote a Secret");
}

test("laptop: one node, the cache on the cluster's class, no pushdown nodes", async () => {
  const site = loadSite(path.join(sites, "laptop.yaml"));
  const all = await deploy(site);
  await checkEverything(all, site);
  assert.deepEqual(pods(all).map(w => w.name).sort(), ["cache", "delivery", "laptop-postgres", "logs", "pilots", "portal", "transfer", "workflow"]);
  const cache = pods(all).find(w => w.name === "cache")!;
  assert.equal(cache.inputs.spec.volumeClaimTemplates[0].spec.storageClassName, "standard");
  assert.equal(cache.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "20Gi");
  assert.equal(kinds(all, "PersistentVolume").length, 0);
  const ingress = kinds(all, "Ingress")[0].inputs;
  assert.equal(ingress.spec.tls[0].secretName, "shoppe-localtest-tls");
  assert.equal(ingress.spec.rules[0].host, "shoppe.localtest.me");
  assert.ok(!ingress.spec.rules.some((r: any) => r.host.startsWith("pushdown.")), "pushdown is routed without pushdown nodes");
  assert.equal(kinds(all, "Namespace")[0].inputs.metadata.name, "coffea-shoppe");
  // PostgreSQL as a StatefulSet of one, its password from the site's secret, reached by delivery and workflow only.
  const postgres = pods(all).find(w => w.name === "laptop-postgres")!.inputs.spec;
  assert.equal(postgres.replicas, 1);
  assert.equal(postgres.template.spec.containers[0].image, `127.0.0.1:5000/mirror/postgres@sha256:${"0123456789abcdef".repeat(4)}`);
  assert.deepEqual(postgres.template.spec.containers[0].env.find((e: any) => e.name === "POSTGRES_PASSWORD").valueFrom, { secretKeyRef: { name: "shoppe-postgres", key: "password" } });
  assert.equal(postgres.volumeClaimTemplates[0].spec.resources.requests.storage, "5Gi");
  assert.deepEqual(postgres.template.spec.containers[0].readinessProbe.exec.command.slice(0, 1), ["pg_isready"]);
  for (const service of ["delivery", "workflow"]) {
    const pg = postgresOf(all, service);
    assert.deepEqual(pg.password, { name: "shoppe-postgres", key: "password" });
    assert.equal(pg.connection, "Host=laptop-postgres.coffea-shoppe.svc;Port=5432;Database=shoppe;Username=shoppe;Password=$(PG_PASSWORD);SSL Mode=Disable");
  }
  const pgPolicy = kinds(all, "NetworkPolicy").find(p => p.name === "laptop-postgres")!.inputs.spec;
  assert.deepEqual(pgPolicy.ingress[0].from.map((f: any) => f.podSelector.matchLabels["app.kubernetes.io/name"]), ["delivery", "workflow"]);
  // Two pilots, no autoscaler: the CLI's image, a pilot token, workflow and delivery to take work from.
  const pilots = pods(all).find(w => w.name === "pilots")!.inputs.spec;
  assert.equal(pilots.replicas, 2);
  const pilot = pilots.template.spec.containers[0];
  assert.equal(pilot.image, `127.0.0.1:5000/coffea-shoppe/cli@sha256:${"c".repeat(64)}`);
  assert.deepEqual(pilot.args, ["pilot", "--cores", "1", "--work-dir", "/work", "--cache", "http://cache.coffea-shoppe.svc:8080"]);
  assert.equal(pilot.env.find((e: any) => e.name === "SHOPPE_PILOT_SERVERS").value, "http://workflow.coffea-shoppe.svc:8080,http://delivery.coffea-shoppe.svc:8080");
  assert.deepEqual(pilot.env.find((e: any) => e.name === "SHOPPE_TOKEN").valueFrom, { secretKeyRef: { name: serviceTokensSecret, key: "pilots" } });
  assert.deepEqual(kinds(all, "NetworkPolicy").find(p => p.name === "pilots")!.inputs.spec.ingress, [], "pilots are reachable");
  assert.equal(kinds(all, "ScaledObject").length, 0);
  const logs = pods(all).find(w => w.name === "logs")!.inputs.spec;
  assert.equal(logs.volumeClaimTemplates[0].spec.resources.requests.storage, "5Gi");
  assert.equal(logs.template.spec.containers[0].env.find((e: any) => e.name === "Logs__Store__Kind"), undefined, "the embedded store is the default");
});

/** A service's PostgreSQL settings: the password from its secret, declared before the connection string using it. */
function postgresOf(all: Declared[], service: string): { password: any; store: string; connection: string } {
  const env = pods(all).find(w => w.name === service)!.inputs.spec.template.spec.containers[0].env as any[];
  const at = (name: string) => env.findIndex(e => e.name === name);
  assert.ok(at("PG_PASSWORD") >= 0 && at("PG_PASSWORD") < at(`ConnectionStrings__${service}`), `${service}: the password is not declared before its use`);
  return { password: env[at("PG_PASSWORD")].valueFrom.secretKeyRef, store: env.find(e => e.name.endsWith("__Store")).value, connection: env[at(`ConnectionStrings__${service}`)].value };
}

test("NVMe and GPU site: a local volume per node and disk, pushdown on each storage node, GPUs in limits only", async () => {
  const site = loadSite(path.join(sites, "nvme-gpu.yaml"));
  const all = await deploy(site);
  await checkEverything(all, site);
  const cachePvs = kinds(all, "PersistentVolume").filter(pv => pv.inputs.metadata.labels["app.kubernetes.io/name"] === "cache");
  assert.deepEqual(cachePvs.map(pv => [pv.inputs.spec.local.path, pv.inputs.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]]), [
    ["/mnt/nvme0", "cache-1.example.org"], ["/mnt/nvme1", "cache-1.example.org"], ["/mnt/nvme0", "cache-2.example.org"]]);
  const cache = pods(all).find(w => w.name === "cache")!.inputs.spec;
  assert.equal(cache.replicas, 3);
  assert.equal(cache.volumeClaimTemplates[0].spec.storageClassName, "nvme-gpu-cache-local");
  assert.equal(cache.volumeClaimTemplates[0].spec.resources.requests.storage, "3500Gi", "the claim must fit the smallest disk");

  const delivery = pods(all).find(w => w.name === "delivery")!.inputs.spec.template.spec;
  assert.equal(delivery.containers[0].resources.limits["nvidia.com/gpu"], "1");
  assert.equal(delivery.nodeSelector["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-80GB");
  assert.deepEqual(delivery.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
  const portal = pods(all).find(w => w.name === "portal")!.inputs.spec.template.spec;
  assert.equal(portal.containers[0].resources.limits["nvidia.com/gpu"], undefined);
  assert.equal(portal.tolerations, undefined);

  const pushdown = pods(all).filter(w => w.name.startsWith("pushdown-"));
  assert.deepEqual(pushdown.map(w => w.inputs.spec.template.spec.nodeSelector["kubernetes.io/hostname"]),
    ["storage-1.example.org", "storage-2.example.org", "storage-3.example.org"]);
  for (const w of pushdown) {
    const mount = w.inputs.spec.template.spec.containers[0].volumeMounts.find((m: any) => m.name === "storage");
    assert.equal(mount.readOnly, true);
  }
  const cluster = kinds(all, "Cluster")[0].inputs;
  assert.equal(cluster.apiVersion, "postgresql.cnpg.io/v1");
  assert.deepEqual([cluster.metadata.name, cluster.spec.instances, cluster.spec.storage], ["nvme-gpu-postgres", 3, { size: "50Gi", storageClass: "fast-ssd" }]);
  for (const service of ["delivery", "workflow"]) {
    const pg = postgresOf(all, service);
    assert.deepEqual(pg.password, { name: "nvme-gpu-postgres-app", key: "password" });
    assert.equal(pg.store, "postgres");
    assert.equal(pg.connection, "Host=nvme-gpu-postgres-rw.shoppe.svc;Port=5432;Database=shoppe;Username=shoppe;Password=$(PG_PASSWORD);SSL Mode=Require");
  }
  const pgPolicy = kinds(all, "NetworkPolicy").find(p => p.name === "nvme-gpu-postgres")!.inputs.spec;
  assert.deepEqual(pgPolicy.ingress[0].from.map((f: any) => f.podSelector.matchLabels["app.kubernetes.io/name"]), ["delivery", "workflow"]);

  // Pilots sized by KEDA from the workflow service's demand, asked with the pilots' token; KEDA may ask workflow.
  const scaled = kinds(all, "ScaledObject")[0].inputs;
  assert.deepEqual([scaled.spec.scaleTargetRef.name, scaled.spec.minReplicaCount, scaled.spec.maxReplicaCount], ["pilots", 0, 50]);
  assert.deepEqual(scaled.spec.triggers[0].metadata, { url: "http://workflow.shoppe.svc:8080/v1/pilots/demand", valueLocation: "pilotJobs", targetValue: "8", authMode: "bearer" });
  const auth = kinds(all, "TriggerAuthentication").find(t => t.inputs.metadata.name === scaled.spec.triggers[0].authenticationRef.name)!.inputs;
  assert.deepEqual(auth.spec.secretTargetRef, [{ parameter: "token", name: serviceTokensSecret, key: "pilots" }]);
  assert.equal(pods(all).find(w => w.name === "pilots")!.inputs.spec.replicas, undefined, "the Deployment's count fights KEDA's");
  assert.ok(kinds(all, "NetworkPolicy").find(p => p.name === "workflow")!.inputs.spec.ingress[0].from
    .some((f: any) => f.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "keda"), "KEDA cannot ask workflow");

  const ingress = kinds(all, "Ingress")[0].inputs;
  assert.equal(ingress.metadata.annotations["cert-manager.io/cluster-issuer"], "letsencrypt");
  assert.equal(ingress.spec.ingressClassName, "nginx");
  assert.ok(ingress.spec.tls[0].hosts.includes("pushdown.shoppe.example.org"));
});

test("campus site: sign-in at its own provider with the secret referenced, telemetry to its collector", async () => {
  const site = loadSite(path.join(sites, "external-services.yaml"));
  const all = await deploy(site);
  await checkEverything(all, site);
  const env = pods(all).find(w => w.name === "portal")!.inputs.spec.template.spec.containers[0].env as any[];
  const secret = env.find(e => e.name === "Portal__SignIn__Oidc__ClientSecret");
  assert.deepEqual(secret.valueFrom, { secretKeyRef: { name: "shoppe-oidc", key: "client-secret" } });
  assert.equal(secret.value, undefined);
  assert.equal(env.find(e => e.name === "Portal__SignIn__Oidc__Scopes__3").value, "wlcg.groups");
  for (const w of ours(all)) {
    const otlp = w.inputs.spec.template.spec.containers[0].env.find((e: any) => e.name === "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert.equal(otlp?.value, "http://otel-collector.coffea-shoppe.svc:4317", `${w.name}: telemetry not sent to the collector`);
  }
  // The collector forwards to both backends, the first with its Authorization header from the site's secret.
  const config = YAML.parse(kinds(all, "ConfigMap").find(c => c.name === "otel-collector")!.inputs.data["config.yaml"]);
  assert.deepEqual(config.exporters, {
    "otlp/0": { endpoint: "https://otel.campus.example.edu:4317", headers: { Authorization: "${env:BACKEND_0_AUTHORIZATION}" } },
    "otlphttp/1": { endpoint: "http://tempo.monitoring.svc:4318" },
  });
  // Tempo takes traces only: metrics and logs go to the first backend alone.
  assert.deepEqual(config.service.pipelines.traces.exporters, ["otlp/0", "otlphttp/1"]);
  assert.deepEqual(config.service.pipelines.metrics.exporters, ["otlp/0"]);
  assert.deepEqual(config.service.pipelines.logs.exporters, ["otlp/0"]);
  const collector = pods(all).find(w => w.name === "otel-collector")!.inputs.spec.template.spec.containers[0];
  assert.deepEqual(collector.env, [{ name: "BACKEND_0_AUTHORIZATION", valueFrom: { secretKeyRef: { name: "shoppe-otlp", key: "authorization" } } }]);
  assert.deepEqual(kinds(all, "NetworkPolicy").find(p => p.name === "otel-collector")!.inputs.spec.ingress[0].from,
    [{ podSelector: { matchLabels: { "app.kubernetes.io/part-of": "coffea-shoppe", "app.kubernetes.io/instance": "campus" } } }]);
  assert.equal(pods(all).find(w => w.name === "cache")!.inputs.spec.replicas, 2);
  const pg = postgresOf(all, "workflow");
  assert.deepEqual(pg.password, { name: "shoppe-postgres", key: "password" });
  assert.equal(pg.connection, "Host=pg.campus.example.edu;Port=5432;Database=shoppe;Username=shoppe;Password=$(PG_PASSWORD);SSL Mode=Require");
  assert.equal(kinds(all, "Cluster").length, 0);
  const logs = pods(all).find(w => w.name === "logs")!.inputs.spec.template.spec.containers[0].env as any[];
  assert.equal(logs.find(e => e.name === "Logs__Store__Kind").value, "elasticsearch");
  assert.equal(logs.find(e => e.name === "Logs__Elasticsearch__Url").value, "https://es.campus.example.edu:9200");
  assert.deepEqual(logs.find(e => e.name === "Logs__Elasticsearch__ApiKey").valueFrom, { secretKeyRef: { name: "shoppe-elasticsearch", key: "api-key" } });
});

test("who may call whom is the AppHost's wiring: every service exports to logs, delivery reads through the cache", async () => {
  const all = await deploy(loadSite(path.join(sites, "nvme-gpu.yaml")));
  const admitted = (service: string) => {
    const policy = kinds(all, "NetworkPolicy").find(p => p.name === service)!.inputs.spec.ingress[0];
    return {
      pods: policy.from.filter((f: any) => f.podSelector).map((f: any) => f.podSelector.matchLabels["app.kubernetes.io/name"]).sort(),
      ingressController: policy.from.some((f: any) => f.namespaceSelector && !f.podSelector),
    };
  };
  assert.deepEqual(admitted("logs"), { pods: ["cache", "delivery", "portal", "pushdown", "transfer", "workflow"], ingressController: true });
  assert.deepEqual(admitted("cache"), { pods: ["delivery", "pilots", "portal"], ingressController: false });
  assert.deepEqual(admitted("delivery"), { pods: ["pilots", "portal", "workflow"], ingressController: true });
  assert.deepEqual(admitted("workflow"), { pods: ["pilots", "portal"], ingressController: true });
  assert.deepEqual(admitted("portal"), { pods: [], ingressController: true });
});

test("a site file for another release than the manifest's is refused, and pilots without the CLI's image", async () => {
  const site = loadSite(path.join(sites, "laptop.yaml"));
  assert.throws(() => deployFacility({ ...site, release: "9.9.9" }, release), /deploys release 9\.9\.9, the manifest given is 0\.1\.0/);
  // Refused before anything is declared.
  assert.equal((await declare(() => assert.throws(() => deployFacility(site, { ...release, pilotImage: undefined }), /release 0\.1\.0 records no image of the CLI, which pilots run/))).length, 0);
});

test("the release the example sites name is committed, and each site deploys it with its own images", async () => {
  const repository = path.join(__dirname, "..", "..", "..");
  for (const file of ["laptop.yaml", "nvme-gpu.yaml", "external-services.yaml"]) {
    const site = loadSite(path.join(sites, file));
    const manifest = path.join(repository, "stack", "releases", site.release, "manifest.json");
    const committed = loadRelease(manifest);
    assert.ok(committed.pilotImage, `${manifest}: no CLI image for the pilots`);
    const all = await declare(() => deployFacility(site, committed));
    await checkEverything(all, site);
    for (const w of ours(all)) {
      assert.equal(w.inputs.spec.template.spec.containers[0].image, `${site.registry}/${nameOf(w)}@${committed.images[nameOf(w) as keyof Release["images"]]}`);
    }
  }
});

test("the cache's claim fits its smallest disk", () => {
  assert.equal(smallerQuantity("3500Gi", "7000Gi"), "3500Gi");
  assert.equal(smallerQuantity("4Ti", "3500Gi"), "3500Gi");
  assert.equal(smallerQuantity("1T", "1Ti"), "1T");
});
