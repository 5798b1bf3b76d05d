// PostgreSQL for delivery's and workflow's state: a CloudNativePG cluster where the site runs the operator, the site's
// own server, or a StatefulSet of one instance with a volume of its own.
import * as k8s from "@pulumi/kubernetes";
import { restrictedContainer, restrictedPod } from "./security";
import type { Facility } from "./facility";

export interface PostgresConnection { host: string; port: number; database: string; username: string; password: { name: string; key: string }; sslMode: string }

/** The official image's postgres user, which the StatefulSet runs as. */
const postgresUid = 999;

/** Declares the site's PostgreSQL where the program owns it; returns how delivery and workflow reach it. */
export function declarePostgres(f: Facility): PostgresConnection {
  const pg = f.site.postgres;
  if (pg.external) {
    const e = pg.external;
    return { host: e.host, port: e.port ?? 5432, database: e.database, username: e.username, password: { name: e.password.secret, key: e.password.key }, sslMode: e.sslMode ?? "Require" };
  }
  const name = `${f.site.site}-postgres`;
  // Delivery and workflow reach it; nothing else does.
  const clients = ["delivery", "workflow"].map(s => ({ podSelector: { matchLabels: f.selector(s) } }));
  if (pg.operator) {
    new k8s.apiextensions.CustomResource(name, {
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name, namespace: f.ns, labels: f.labels("postgres") },
      spec: {
        instances: pg.operator.instances,
        storage: { size: pg.operator.storage, storageClass: pg.operator.storageClass },
        // The operator makes the owner's password and keeps it in the secret <cluster>-app (keys username, password).
        bootstrap: { initdb: { database: "shoppe", owner: "shoppe" } },
      },
    }, f.opts);
    new k8s.networking.v1.NetworkPolicy(name, {
      metadata: { name, namespace: f.ns, labels: f.labels("postgres") },
      spec: {
        podSelector: { matchLabels: { "cnpg.io/cluster": name } },
        policyTypes: ["Ingress"],
        ingress: [
          { from: clients, ports: [{ port: 5432, protocol: "TCP" }] },
          // The instances replicate among themselves, and the operator (in its own namespace) manages them.
          { from: [{ podSelector: { matchLabels: { "cnpg.io/cluster": name } } }, { namespaceSelector: {}, podSelector: { matchLabels: { "app.kubernetes.io/name": "cloudnative-pg" } } }] },
        ],
      },
    }, f.opts);
    return { host: `${name}-rw.${f.ns}.svc`, port: 5432, database: "shoppe", username: "shoppe", password: { name: `${name}-app`, key: "password" }, sslMode: "Require" };
  }

  // A StatefulSet of one: the official image's entrypoint initialises the volume with the owner and database named
  // here and the password from the site's secret, then runs the server as the postgres user.
  const s = pg.statefulSet!;
  const password = { name: s.password.secret, key: s.password.key };
  const ready = { exec: { command: ["pg_isready", "-U", "shoppe", "-d", "shoppe", "-h", "127.0.0.1"] } };
  new k8s.apps.v1.StatefulSet(name, {
    metadata: { name, namespace: f.ns, labels: f.labels("postgres") },
    spec: {
      serviceName: name,
      replicas: 1,
      selector: { matchLabels: { ...f.selector("postgres"), "app.kubernetes.io/component": "postgres" } },
      template: {
        metadata: { labels: { ...f.labels("postgres"), "app.kubernetes.io/component": "postgres" } },
        spec: {
          ...restrictedPod(postgresUid),
          containers: [{
            name: "postgres",
            image: s.image,
            ports: [{ name: "postgres", containerPort: 5432, protocol: "TCP" }],
            env: [
              { name: "POSTGRES_USER", value: "shoppe" },
              { name: "POSTGRES_DB", value: "shoppe" },
              { name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: password } },
              // A folder below the mount point: initdb wants an empty one, and a volume's root may hold lost+found.
              { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
            ],
            resources: { requests: { cpu: "1", memory: "2Gi" }, limits: { cpu: "1", memory: "2Gi" } },
            readinessProbe: { ...ready, periodSeconds: 10, timeoutSeconds: 5 },
            livenessProbe: { ...ready, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
            startupProbe: { ...ready, periodSeconds: 5, failureThreshold: 60 },
            securityContext: restrictedContainer,
            volumeMounts: [
              { name: "data", mountPath: "/var/lib/postgresql/data" },
              { name: "run", mountPath: "/var/run/postgresql" },
              { name: "tmp", mountPath: "/tmp" },
            ],
          }],
          volumes: [{ name: "run", emptyDir: {} }, { name: "tmp", emptyDir: { sizeLimit: "1Gi" } }],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], storageClassName: s.storageClass, resources: { requests: { storage: s.storage } } },
      }],
    },
  }, f.opts);
  new k8s.core.v1.Service(name, {
    metadata: { name, namespace: f.ns, labels: f.labels("postgres") },
    spec: { selector: f.selector("postgres"), ports: [{ name: "postgres", port: 5432, targetPort: "postgres", protocol: "TCP" }] },
  }, f.opts);
  new k8s.networking.v1.NetworkPolicy(name, {
    metadata: { name, namespace: f.ns, labels: f.labels("postgres") },
    spec: { podSelector: { matchLabels: f.selector("postgres") }, policyTypes: ["Ingress"], ingress: [{ from: clients, ports: [{ port: "postgres", protocol: "TCP" }] }] },
  }, f.opts);
  // The official image serves without TLS; the traffic stays in the namespace, between the pods the policy names.
  return { host: `${name}.${f.ns}.svc`, port: 5432, database: "shoppe", username: "shoppe", password, sslMode: "Disable" };
}
