// The OpenTelemetry Collector: every service and pilot exports OTLP to it, in the namespace; it batches and forwards
// traces, metrics and logs to each of the site's backends.
import * as k8s from "@pulumi/kubernetes";
import { restrictedContainer, restrictedPod } from "./security";
import * as YAML from "yaml";
import type { Facility } from "./facility";

/** The collector's OTLP ports (gRPC, HTTP) and its health endpoint. */
export const otlpGrpcPort = 4317;
export const otlpHttpPort = 4318;
const healthPort = 13133;

const signals = ["traces", "metrics", "logs"] as const;

/**
 * The collector's configuration for the site's backends: an exporter `otlp/<i>` or `otlphttp/<i>` each, and a pipeline
 * per signal to the backends that take it (all three unless a backend names its signals).
 */
export function collectorConfig(backends: NonNullable<Facility["site"]["telemetry"]>["backends"]): string {
  const exporters: Record<string, unknown> = {};
  const takes: Record<string, string[]> = { traces: [], metrics: [], logs: [] };
  backends.forEach((b, i) => {
    const headers = b.authorization ? { headers: { Authorization: `\${env:BACKEND_${i}_AUTHORIZATION}` } } : {};
    const name = b.protocol === "http" ? `otlphttp/${i}` : `otlp/${i}`;
    exporters[name] = { endpoint: b.endpoint, ...headers };
    for (const signal of b.signals ?? signals) takes[signal].push(name);
  });
  const pipelines = Object.fromEntries(signals.filter(s => takes[s].length > 0)
    .map(s => [s, { receivers: ["otlp"], processors: ["memory_limiter", "batch"], exporters: takes[s] }]));
  return YAML.stringify({
    receivers: { otlp: { protocols: { grpc: { endpoint: `0.0.0.0:${otlpGrpcPort}` }, http: { endpoint: `0.0.0.0:${otlpHttpPort}` } } } },
    processors: { memory_limiter: { check_interval: "1s", limit_percentage: 80, spike_limit_percentage: 20 }, batch: {} },
    exporters,
    extensions: { health_check: { endpoint: `0.0.0.0:${healthPort}` } },
    service: { extensions: ["health_check"], pipelines },
  });
}

/** Declares the collector where the site names backends; returns the OTLP endpoint the services export to. */
export function declareCollector(f: Facility): string | undefined {
  const telemetry = f.site.telemetry;
  if (!telemetry) return undefined;
  const name = "otel-collector";
  new k8s.core.v1.ConfigMap(name, {
    metadata: { name, namespace: f.ns, labels: f.labels(name) },
    data: { "config.yaml": collectorConfig(telemetry.backends) },
  }, f.opts);
  const health = { httpGet: { path: "/", port: "health" } };
  new k8s.apps.v1.Deployment(name, {
    metadata: { name, namespace: f.ns, labels: f.labels(name) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...f.selector(name), "app.kubernetes.io/component": name } },
      template: {
        metadata: { labels: { ...f.labels(name), "app.kubernetes.io/component": name } },
        spec: {
          ...restrictedPod(10001), // the collector image's own user
          containers: [{
            name,
            image: telemetry.collectorImage,
            args: ["--config=/conf/config.yaml"],
            ports: [
              { name: "otlp-grpc", containerPort: otlpGrpcPort, protocol: "TCP" },
              { name: "otlp-http", containerPort: otlpHttpPort, protocol: "TCP" },
              { name: "health", containerPort: healthPort, protocol: "TCP" },
            ],
            env: telemetry.backends.flatMap((b, i) => b.authorization
              ? [{ name: `BACKEND_${i}_AUTHORIZATION`, valueFrom: { secretKeyRef: { name: b.authorization.secret, key: b.authorization.key } } }]
              : []),
            resources: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
            readinessProbe: { ...health, periodSeconds: 10 },
            livenessProbe: { ...health, periodSeconds: 20 },
            securityContext: restrictedContainer,
            volumeMounts: [{ name: "conf", mountPath: "/conf", readOnly: true }],
          }],
          volumes: [{ name: "conf", configMap: { name } }],
        },
      },
    },
  }, f.opts);
  new k8s.core.v1.Service(name, {
    metadata: { name, namespace: f.ns, labels: f.labels(name) },
    spec: {
      selector: f.selector(name),
      ports: [
        { name: "otlp-grpc", port: otlpGrpcPort, targetPort: "otlp-grpc", protocol: "TCP" },
        { name: "otlp-http", port: otlpHttpPort, targetPort: "otlp-http", protocol: "TCP" },
      ],
    },
  }, f.opts);
  // Every pod of the facility exports to it (each carries the part-of label); nothing else does.
  new k8s.networking.v1.NetworkPolicy(name, {
    metadata: { name, namespace: f.ns, labels: f.labels(name) },
    spec: {
      podSelector: { matchLabels: f.selector(name) },
      policyTypes: ["Ingress"],
      ingress: [{
        from: [{ podSelector: { matchLabels: { "app.kubernetes.io/part-of": "coffea-shoppe", "app.kubernetes.io/instance": f.site.site } } }],
        ports: [{ port: "otlp-grpc", protocol: "TCP" }, { port: "otlp-http", protocol: "TCP" }],
      }],
    },
  }, f.opts);
  return `http://${name}.${f.ns}.svc:${otlpGrpcPort}`;
}
