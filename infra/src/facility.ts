// A whole facility in one namespace: each service pinned to its release's image digest, with probes, resources,
// security contexts, disruption budgets, network policies (each service reachable only from those that call it), an
// Ingress with TLS, the cache on the site's local NVMe, pushdown beside the storage, and GPUs where the site asks.
import * as k8s from "@pulumi/kubernetes";
import { imageUid, restrictedContainer, restrictedPod } from "./security";
import * as pulumi from "@pulumi/pulumi";
import { declarePilots } from "./pilots";
import { declarePostgres } from "./postgres";
import type { Release } from "./release";
import type { ServiceName, ServiceSize, Site } from "./site";
import { declareCollector } from "./telemetry";

/** The port every service listens on in its container (ASPNETCORE_HTTP_PORTS). */
export const httpPort = 8080;

/** The existing secret holding the facility's token signing key (key `signing.key`). */
export const signingKeySecret = "coffea-shoppe-signing-key";

/**
 * The existing secret holding each service's own token (one key per service name; a service-role token signed with
 * the facility's key): what a service shows the logs service when it exports its records, and delivery the cache. The
 * AppHost mints them at start; at a site `shoppe site deploy` is to make them (not built yet: docs/deploy.md).
 */
export const serviceTokensSecret = "coffea-shoppe-service-tokens";

/** A service's address in the namespace. */
export const serviceUrl = (ns: string, service: string): string => `http://${service}.${ns}.svc:${httpPort}`;

/** What calls a service: another service, or the workflow pilots. */
export type Caller = ServiceName | "pilots";

/**
 * Who calls whom (the AppHost's references; pilots take jobs from workflow and files from delivery, reading through
 * the cache): a service's NetworkPolicy admits these callers and no one else.
 */
export const callers: Record<ServiceName, readonly Caller[]> = {
  portal: [],
  delivery: ["portal", "workflow", "pilots"],
  cache: ["delivery", "portal", "pilots"],
  transfer: ["portal", "workflow"],
  workflow: ["portal", "pilots"],
  pushdown: ["portal", "delivery"],
  logs: ["portal", "delivery", "cache", "transfer", "workflow", "pushdown"],
};

/** Services users reach from outside (the portal at the site's host, each API at <service>.<host>). */
export const publicServices: readonly ServiceName[] = ["portal", "delivery", "transfer", "workflow", "pushdown", "logs"];

const defaults: Record<ServiceName, Required<ServiceSize>> = {
  portal: { replicas: 2, cpu: "500m", memory: "512Mi" },
  delivery: { replicas: 1, cpu: "2", memory: "4Gi" },
  cache: { replicas: 1, cpu: "2", memory: "4Gi" },
  transfer: { replicas: 1, cpu: "1", memory: "1Gi" },
  workflow: { replicas: 1, cpu: "1", memory: "2Gi" },
  pushdown: { replicas: 1, cpu: "2", memory: "4Gi" },
  logs: { replicas: 1, cpu: "1", memory: "2Gi" },
};

// Services that keep state in their data folder get a volume of their own (a StatefulSet); the others start empty.
const stateful: ReadonlySet<ServiceName> = new Set<ServiceName>(["delivery", "transfer", "workflow", "logs"]);

/** What the parts of the program share: the site, its namespace, the labels of its objects, options in the namespace. */
export interface Facility {
  site: Site;
  ns: string;
  labels: (name: string) => Record<string, string>;
  selector: (name: string) => Record<string, string>;
  opts: pulumi.CustomResourceOptions;
}

export interface FacilityOutputs {
  namespace: pulumi.Output<string>;
  portalUrl: string;
}

/** Declares the facility's resources under `opts` (a provider for the site's cluster). */
export function deployFacility(site: Site, release: Release, opts?: pulumi.CustomResourceOptions): FacilityOutputs {
  if (site.release !== release.version) {
    throw new Error(`the site file deploys release ${site.release}, the manifest given is ${release.version}`);
  }
  if (site.pilots && !release.pilotImage) {
    throw new Error(`release ${release.version} records no image of the CLI, which pilots run (certification with containers builds it)`);
  }
  const ns = site.namespace ?? "coffea-shoppe";
  const labels = (name: string) => ({ "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "coffea-shoppe", "app.kubernetes.io/instance": site.site, "app.kubernetes.io/version": release.version });
  const selector = (name: string) => ({ "app.kubernetes.io/name": name, "app.kubernetes.io/instance": site.site });
  const namespace = new k8s.core.v1.Namespace(ns, {
    metadata: { name: ns, labels: { "app.kubernetes.io/part-of": "coffea-shoppe", "pod-security.kubernetes.io/enforce": "restricted" } },
  }, opts);
  const inNs = { ...opts, dependsOn: [namespace] };
  const image = (name: ServiceName) => `${site.registry}/${name}@${release.images[name]}`;
  const size = (name: ServiceName): Required<ServiceSize> => ({ ...defaults[name], ...site.services?.[name] });

  // Nothing reaches a pod unless a policy below lets it.
  new k8s.networking.v1.NetworkPolicy("default-deny", {
    metadata: { name: "default-deny", namespace: ns, labels: labels("coffea-shoppe") },
    spec: { podSelector: {}, policyTypes: ["Ingress"] },
  }, inNs);

  const facility: Facility = { site, ns, labels, selector, opts: inNs };
  // PostgreSQL for delivery and workflow: a CloudNativePG cluster or a StatefulSet declared here, or the site's server.
  const postgres = declarePostgres(facility);
  // The OpenTelemetry Collector the services export to, where the site names its backends.
  const otlpEndpoint = declareCollector(facility);

  const environment = (name: ServiceName): k8s.types.input.core.v1.EnvVar[] => {
    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: "ASPNETCORE_HTTP_PORTS", value: String(httpPort) },
      { name: "Shoppe__DataRoot", value: "/data" },
      { name: "Shoppe__Security__SigningKeyFile", value: "/keys/signing.key" },
      { name: "Shoppe__Logs__Endpoint", value: serviceUrl(ns, "logs") },
      { name: "OTEL_SERVICE_NAME", value: name },
      { name: "Shoppe__Logs__Token", valueFrom: { secretKeyRef: { name: serviceTokensSecret, key: name } } },
    ];
    if (name === "delivery") {
      env.push(
        { name: "Delivery__CacheUrl", value: serviceUrl(ns, "cache") },
        { name: "Delivery__CacheToken", valueFrom: { secretKeyRef: { name: serviceTokensSecret, key: "delivery" } } });
    }
    for (const callee of Object.keys(callers) as ServiceName[]) {
      if (callers[callee].includes(name)) {
        env.push({ name: `services__${callee}__http__0`, value: serviceUrl(ns, callee) });
      }
    }
    if (name === "delivery" || name === "workflow") {
      // Kubernetes expands $(PG_PASSWORD) from the variable declared before it: the password never leaves its secret.
      const store = name === "delivery" ? "Delivery" : "Workflow";
      env.push(
        { name: "PG_PASSWORD", valueFrom: { secretKeyRef: postgres.password } },
        { name: `${store}__Store`, value: "postgres" },
        { name: `ConnectionStrings__${name}`, value: `Host=${postgres.host};Port=${postgres.port};Database=${postgres.database};Username=${postgres.username};Password=$(PG_PASSWORD);SSL Mode=${postgres.sslMode}` });
    }
    if (name === "logs" && site.logs?.elasticsearch) {
      const es = site.logs.elasticsearch;
      env.push(
        { name: "Logs__Store__Kind", value: "elasticsearch" },
        { name: "Logs__Elasticsearch__Url", value: es.url },
        { name: "Logs__Elasticsearch__ApiKey", valueFrom: { secretKeyRef: { name: es.apiKey.secret, key: es.apiKey.key } } });
      if (es.indexPattern) env.push({ name: "Logs__Elasticsearch__IndexPattern", value: es.indexPattern });
    }
    if (otlpEndpoint) {
      env.push({ name: "OTEL_EXPORTER_OTLP_ENDPOINT", value: otlpEndpoint });
    }
    if (name === "portal" && site.identity) {
      const id = site.identity;
      env.push(
        { name: "Portal__SignIn__Oidc__Authority", value: id.authority },
        { name: "Portal__SignIn__Oidc__ClientId", value: id.clientId },
        { name: "Portal__SignIn__Oidc__ClientSecret", valueFrom: { secretKeyRef: { name: id.clientSecret.secret, key: id.clientSecret.key } } },
        { name: "Portal__SignIn__Oidc__UserClaim", value: id.userClaim ?? "preferred_username" },
        ...(id.scopes ?? ["openid", "profile", "email"]).map((scope, i) => ({ name: `Portal__SignIn__Oidc__Scopes__${i}`, value: scope })));
    }
    return env;
  };

  const gpuFor = (name: ServiceName) => site.gpu?.services.includes(name) ? site.gpu : undefined;

  // One pod template: non-root, read-only root, no privilege, probes on /health and /alive, requests = limits.
  const podTemplate = (name: ServiceName, component: string, data: k8s.types.input.core.v1.Volume | undefined, extraMounts: k8s.types.input.core.v1.VolumeMount[] = [], nodeName?: string, extraVolumes: k8s.types.input.core.v1.Volume[] = []): k8s.types.input.core.v1.PodTemplateSpec => {
    const s = size(name);
    const gpu = gpuFor(name);
    const limits: Record<string, string> = { cpu: s.cpu, memory: s.memory };
    if (gpu) limits["nvidia.com/gpu"] = String(gpu.count ?? 1);
    const nodeSelector: Record<string, string> = {};
    if (gpu) nodeSelector["nvidia.com/gpu.product"] = gpu.product;
    if (nodeName) nodeSelector["kubernetes.io/hostname"] = nodeName;
    return {
      metadata: { labels: { ...labels(name), "app.kubernetes.io/component": component } },
      spec: {
        ...restrictedPod(imageUid),
        nodeSelector: Object.keys(nodeSelector).length > 0 ? nodeSelector : undefined,
        tolerations: gpu ? [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] : undefined,
        containers: [{
          name,
          image: image(name),
          ports: [{ name: "http", containerPort: httpPort, protocol: "TCP" }],
          env: environment(name),
          // GPUs are only in limits: Kubernetes takes the request from the limit for extended resources.
          resources: { requests: { cpu: s.cpu, memory: s.memory }, limits },
          readinessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: "/alive", port: "http" }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
          startupProbe: { httpGet: { path: "/alive", port: "http" }, periodSeconds: 2, failureThreshold: 60 },
          securityContext: restrictedContainer,
          volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, { name: "data", mountPath: "/data" }, { name: "keys", mountPath: "/keys", readOnly: true }, ...extraMounts],
        }],
        volumes: [
          { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
          // The facility's token key, which every service validates with: a secret the site makes (docs/deploy.md).
          { name: "keys", secret: { secretName: signingKeySecret, defaultMode: 0o440, items: [{ key: "signing.key", path: "signing.key" }] } },
          ...(data ? [data] : []),
          ...extraVolumes,
        ],
      },
    };
  };

  const service = (name: ServiceName) => new k8s.core.v1.Service(name, {
    metadata: { name, namespace: ns, labels: labels(name) },
    spec: { selector: selector(name), ports: [{ name: "http", port: httpPort, targetPort: "http", protocol: "TCP" }] },
  }, inNs);

  const budget = (name: string, component: ServiceName) => new k8s.policy.v1.PodDisruptionBudget(name, {
    metadata: { name, namespace: ns, labels: labels(component) },
    spec: { maxUnavailable: 1, selector: { matchLabels: { ...selector(component), "app.kubernetes.io/component": name } } },
  }, inNs);

  const policy = (name: ServiceName) => new k8s.networking.v1.NetworkPolicy(name, {
    metadata: { name, namespace: ns, labels: labels(name) },
    spec: {
      podSelector: { matchLabels: selector(name) },
      policyTypes: ["Ingress"],
      ingress: [{
        from: [
          ...callers[name].map(c => ({ podSelector: { matchLabels: selector(c) } })),
          // KEDA's operator asks workflow for the pilots' demand.
          ...(name === "workflow" && site.pilots?.keda ? [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": site.pilots.keda } } }] : []),
          // Public services: the ingress controller, in whichever namespace the site runs it.
          ...(publicServices.includes(name) ? [{ namespaceSelector: {} }] : []),
        ],
        ports: [{ port: "http", protocol: "TCP" }],
      }],
    },
  }, inNs);

  const claim = (storage: string, storageClassName?: string): k8s.types.input.core.v1.PersistentVolumeClaim => ({
    metadata: { name: "data" },
    spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage } } },
  });

  for (const name of ["portal", "delivery", "transfer", "workflow", "logs"] as ServiceName[]) {
    const s = size(name);
    if (stateful.has(name)) {
      new k8s.apps.v1.StatefulSet(name, {
        metadata: { name, namespace: ns, labels: labels(name) },
        spec: {
          serviceName: name,
          replicas: s.replicas,
          selector: { matchLabels: { ...selector(name), "app.kubernetes.io/component": name } },
          template: podTemplate(name, name, undefined),
          volumeClaimTemplates: [name === "logs" ? claim(site.logs?.embedded?.storage ?? "50Gi", site.logs?.embedded?.storageClass) : claim("20Gi")],
        },
      }, inNs);
    } else {
      new k8s.apps.v1.Deployment(name, {
        metadata: { name, namespace: ns, labels: labels(name) },
        spec: {
          replicas: s.replicas,
          selector: { matchLabels: { ...selector(name), "app.kubernetes.io/component": name } },
          template: podTemplate(name, name, { name: "data", emptyDir: { sizeLimit: "1Gi" } }),
        },
      }, inNs);
    }
    service(name);
    budget(name, name);
    policy(name);
  }

  // Local disks: a class with no provisioner that binds once the pod is placed, and one volume per node and path.
  const localClass = (name: string, component: string): string => {
    new k8s.storage.v1.StorageClass(name, {
      metadata: { name, labels: labels(component) },
      provisioner: "kubernetes.io/no-provisioner",
      volumeBindingMode: "WaitForFirstConsumer",
      reclaimPolicy: "Retain",
    }, opts);
    return name;
  };
  const localVolume = (name: string, component: string, node: string, path: string, capacity: string, storageClassName: string): string => {
    new k8s.core.v1.PersistentVolume(name, {
      metadata: { name, labels: labels(component) },
      spec: {
        capacity: { storage: capacity },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName,
        local: { path },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] }] } },
      },
    }, opts);
    return name;
  };

  // The cache: a StatefulSet on local disks. Named nodes and paths become one local PersistentVolume each, bound
  // through a class that waits for the pod's placement; or the site's own local-volume class.
  const cache = site.cache ?? { storageClass: undefined };
  let cacheReplicas = cache.replicas ?? 1;
  let cacheClass: string | undefined = cache.storageClass;
  let cacheSize = cache.size ?? "100Gi";
  if (cache.nodes) {
    cacheClass = localClass(`${site.site}-cache-local`, "cache");
    cache.nodes.forEach((n, i) => n.paths.forEach((p, j) =>
      localVolume(`${site.site}-cache-${i}-${j}`, "cache", n.node, p, n.capacity, cacheClass!)));
    cacheReplicas = cache.nodes.reduce((count, n) => count + n.paths.length, 0);
    cacheSize = cache.nodes.map(n => n.capacity).reduce((a, b) => smallerQuantity(a, b));
  }
  new k8s.apps.v1.StatefulSet("cache", {
    metadata: { name: "cache", namespace: ns, labels: labels("cache") },
    spec: {
      serviceName: "cache",
      replicas: cacheReplicas,
      selector: { matchLabels: { ...selector("cache"), "app.kubernetes.io/component": "cache" } },
      template: podTemplate("cache", "cache", undefined),
      volumeClaimTemplates: [claim(cacheSize, cacheClass)],
    },
  }, inNs);
  service("cache");
  budget("cache", "cache");
  policy("cache");

  // Pushdown beside the data: one pod on each storage node, its storage mounted read-only through a local volume
  // bound to that node (the restricted pod standard admits no hostPath).
  const pushdownNodes = site.pushdown?.nodes ?? [];
  const storageClass = pushdownNodes.length > 0 ? localClass(`${site.site}-storage-local`, "pushdown") : "";
  pushdownNodes.forEach((node, i) => {
    const component = `pushdown-${i}`;
    // A local volume's size is not enforced; the claim only has to fit.
    const pv = localVolume(`${site.site}-storage-${i}`, "pushdown", node, site.pushdown!.path, "1Ti", storageClass);
    new k8s.core.v1.PersistentVolumeClaim(`storage-${i}`, {
      metadata: { name: `storage-${i}`, namespace: ns, labels: labels("pushdown") },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: storageClass, volumeName: pv, resources: { requests: { storage: "1Ti" } } },
    }, inNs);
    new k8s.apps.v1.Deployment(component, {
      metadata: { name: component, namespace: ns, labels: labels("pushdown") },
      spec: {
        replicas: 1,
        selector: { matchLabels: { ...selector("pushdown"), "app.kubernetes.io/component": component } },
        template: podTemplate("pushdown", component, { name: "data", emptyDir: { sizeLimit: "1Gi" } },
          [{ name: "storage", mountPath: "/storage", readOnly: true }], node,
          [{ name: "storage", persistentVolumeClaim: { claimName: `storage-${i}`, readOnly: true } }]),
      },
    }, inNs);
    budget(component, "pushdown");
  });
  if (pushdownNodes.length > 0) {
    service("pushdown");
    policy("pushdown");
  }

  declarePilots(facility, release.pilotImage);

  // The Ingress: the portal at the host, each public API at <service>.<host>, TLS from cert-manager or a secret.
  const hosts = [site.ingress.host, ...publicServices.filter(s => s !== "portal" && (s !== "pushdown" || pushdownNodes.length > 0)).map(s => `${s}.${site.ingress.host}`)];
  new k8s.networking.v1.Ingress("coffea-shoppe", {
    metadata: {
      name: "coffea-shoppe",
      namespace: ns,
      labels: labels("coffea-shoppe"),
      annotations: site.ingress.tls.issuer ? { "cert-manager.io/cluster-issuer": site.ingress.tls.issuer } : undefined,
    },
    spec: {
      ingressClassName: site.ingress.className,
      tls: [{ hosts, secretName: site.ingress.tls.secretName ?? `${site.site}-tls` }],
      rules: hosts.map(host => ({
        host,
        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: host === site.ingress.host ? "portal" : host.split(".")[0], port: { name: "http" } } } }] },
      })),
    },
  }, inNs);

  return { namespace: namespace.metadata.name, portalUrl: `https://${site.ingress.host}/` };
}

const units: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** The smaller of two Kubernetes quantities (the cache's claim must fit the smallest disk). */
export function smallerQuantity(a: string, b: string): string {
  const bytes = (q: string) => {
    const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q);
    if (!m || !(m[2] in units)) throw new Error(`not a quantity: ${q}`);
    return Number(m[1]) * units[m[2]];
  };
  return bytes(a) <= bytes(b) ? a : b;
}
